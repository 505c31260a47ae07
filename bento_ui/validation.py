"""Check an event table before anything is sent: problems are data, not exceptions.

`validate` returns the rows that can be sent (normalised: emails and types trimmed,
dates as UTC ISO 8601) and a problems table with one row per problem: the spreadsheet
`row`, the `column`, the `value`, the `severity` (`error` blocks the row, `warning` does
not) and a `message` that says how to fix it. The common checks run over whole columns;
only the few values that fail are looked at one by one, to explain them.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from bento_ui import emails
from bento_ui import events as ev
from bento_ui.dates import DateOrder, parse_dates, utc_now

ERROR = "error"
WARNING = "warning"
PROBLEM_COLUMNS = ["row", "column", "value", "severity", "message"]
_SHOWN_VALUE_LENGTH = 200


@dataclass
class Validation:
    """What `validate` found. Displays in a notebook as its summary and problems."""

    valid: pd.DataFrame
    problems: pd.DataFrame
    rows: int
    empty_rows: list[int] = field(default_factory=list)
    dates_ambiguous: bool = False  # a date column needs the person to choose the order

    @property
    def error_rows(self) -> list[int]:
        return _rows_with(self.problems, ERROR)

    @property
    def warning_rows(self) -> list[int]:
        return _rows_with(self.problems, WARNING)

    @property
    def summary(self) -> dict[str, int]:
        return {
            "rows": self.rows,
            "valid": len(self.valid),
            "with errors": len(self.error_rows),
            "with warnings": len(self.warning_rows),
            "empty skipped": len(self.empty_rows),
        }

    @property
    def errors(self) -> pd.DataFrame:
        return self.problems[self.problems["severity"] == ERROR]

    def _repr_html_(self) -> str:
        counts = ", ".join(f"{v:,} {k}" for k, v in self.summary.items())
        return f"<p>{counts}</p>" + str(self.problems.head(50).to_html(index=False))

    def __repr__(self) -> str:
        counts = ", ".join(f"{v:,} {k}" for k, v in self.summary.items())
        return f"<Validation: {counts}>"


def _rows_with(problems: pd.DataFrame, severity: str) -> list[int]:
    rows = problems.loc[problems["severity"] == severity, "row"]
    return sorted(int(r) for r in rows.unique())


class _Problems:
    """Collects problems check by check, as whole columns at a time."""

    def __init__(self) -> None:
        self.parts: list[pd.DataFrame] = []

    def add(
        self,
        mask: pd.Series,
        column: str,
        values: pd.Series,
        severity: str,
        message: str | pd.Series,
    ) -> None:
        if not mask.any():
            return
        shown = values[mask].astype("str")
        long = shown.str.len() > _SHOWN_VALUE_LENGTH
        if long.any():
            shown = shown.where(~long, shown.str.slice(0, _SHOWN_VALUE_LENGTH) + "...")
        self.parts.append(
            pd.DataFrame(
                {
                    "row": mask.index[mask.to_numpy()],
                    "column": column,
                    "value": shown.to_numpy(),
                    "severity": severity,
                    "message": message[mask].to_numpy()
                    if isinstance(message, pd.Series)
                    else message,
                }
            )
        )

    def table(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame({c: pd.Series(dtype="str") for c in PROBLEM_COLUMNS}).astype(
                {"row": "int64"}
            )
        problems = pd.concat(self.parts, ignore_index=True)
        problems["row"] = problems["row"].astype("int64")
        # Keep the order of checks within a row; rows in spreadsheet order.
        return problems.sort_values("row", kind="stable").reset_index(drop=True)


def validate(
    table: pd.DataFrame,
    *,
    timezone: str = "UTC",
    date_order: DateOrder | None = None,
    now: pd.Timestamp | None = None,
) -> Validation:
    """Check every row of an event table (see `apply_mapping`) and keep the sendable ones."""
    text = table.astype("str")
    stripped = text.apply(lambda col: col.str.strip())
    empty = (stripped == "").all(axis=1) if len(text.columns) else pd.Series(True, text.index)
    text, stripped = text[~empty], stripped[~empty]
    problems = _Problems()
    out = text.copy()

    if ev.TYPE in text:
        out[ev.TYPE] = _check_type(text[ev.TYPE], stripped[ev.TYPE], problems)
    if ev.EMAIL in text:
        out[ev.EMAIL] = _check_email(text[ev.EMAIL], stripped[ev.EMAIL], problems)
    else:
        problems.add(
            pd.Series(True, text.index),
            ev.EMAIL,
            text.index.to_series(),
            ERROR,
            "email is missing: add the subscriber's address",
        )
    dates_ambiguous = False
    if ev.DATE in text:
        parsed = parse_dates(text[ev.DATE], timezone=timezone, order=date_order)
        dates_ambiguous = parsed.ambiguous
        problems.add(
            parsed.error != "",
            ev.DATE,
            text[ev.DATE],
            ERROR,
            "date " + _quoted(text[ev.DATE]) + " " + parsed.error,
        )
        now_text = (now or utc_now()).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S")
        future = parsed.iso.str.slice(0, 19) > now_text
        problems.add(
            future & (parsed.iso != ""),
            ev.DATE,
            text[ev.DATE],
            WARNING,
            "date " + _quoted(text[ev.DATE]) + " is in the future: Bento will "
            "record the event as happening then; check the date and time zone",
        )
        out[ev.DATE] = parsed.iso

    for column in (c for c in text.columns if ev.is_fields_column(c)):
        _check_flat(column, stripped[column], problems)
    details = _check_details_json(stripped, problems)
    _check_details_overlap(stripped, details, problems)
    if ev.TYPE in out:
        _check_kinds(out[ev.TYPE], stripped, details, problems)
    _flag_duplicates(out, problems)

    found = problems.table()
    bad_rows = found.loc[found["severity"] == ERROR, "row"].unique()
    valid = out[~out.index.isin(bad_rows)]
    return Validation(
        valid=valid,
        problems=found,
        rows=len(table),
        empty_rows=[int(r) for r in empty[empty].index],
        dates_ambiguous=dates_ambiguous,
    )


def _quoted(values: pd.Series) -> pd.Series:
    short = values.str.slice(0, 60)
    return "'" + short.where(values.str.len() <= 60, short + "...") + "'"


def _check_type(raw: pd.Series, clean: pd.Series, problems: _Problems) -> pd.Series:
    problems.add(
        clean == "",
        ev.TYPE,
        raw,
        ERROR,
        "type is missing: add an event name such as webinar_attended or $purchase, "
        "or choose one type for all rows",
    )
    problems.add(
        (clean != raw) & (clean != ""),
        ev.TYPE,
        raw,
        WARNING,
        "type had spaces around it: they were trimmed",
    )
    hints = {t: _kind_hint(t) for t in clean.unique() if t}
    hint = clean.map(lambda t: hints.get(t) or "")
    problems.add(hint != "", ev.TYPE, raw, WARNING, hint)
    return clean


def _kind_hint(event_type: str) -> str | None:
    """A hint when a type looks like one of Bento's own kinds, mistyped."""
    if event_type in ev.BENTO_KINDS:
        return None
    name = "$" + event_type.strip().lstrip("$").lower().replace(" ", "_").replace("-", "_")
    if name in ev.BENTO_KINDS:
        return (
            f"type '{event_type}' looks like Bento's {name}: write {name} exactly if you "
            "mean it, or keep it as a custom event"
        )
    if event_type.startswith("$"):
        close = difflib.get_close_matches(name, list(ev.BENTO_KINDS), n=1, cutoff=0.8)
        if close:
            return (
                f"type '{event_type}' looks like a misspelling of Bento's {close[0]}: "
                f"write {close[0]} if you mean it"
            )
    return None


def _check_email(raw: pd.Series, clean: pd.Series, problems: _Problems) -> pd.Series:
    ok = emails.valid_emails(clean)
    bad = ~ok
    if bad.any():
        reasons = {v: emails.explain(v) for v in clean[bad].unique()}
        problems.add(bad, ev.EMAIL, raw, ERROR, clean.map(lambda v: reasons.get(v, "")))
    problems.add(
        ok & (clean != raw), ev.EMAIL, raw, WARNING, "email had spaces around it: they were trimmed"
    )
    return clean


def _check_flat(column: str, clean: pd.Series, problems: _Problems) -> None:
    looks_nested = clean.str.startswith("{") | clean.str.startswith("[")
    if not looks_nested.any():
        return
    nested = looks_nested & clean.map(lambda v: isinstance(_json_or_none(v), dict | list))
    problems.add(
        nested,
        column,
        clean,
        ERROR,
        f"{column} holds a list or an object, but fields must be flat (text, number, "
        "true/false): put it under details, or join the values into one text",
    )


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _check_details_json(stripped: pd.DataFrame, problems: _Problems) -> pd.Series:
    """The parsed `details` JSON per row ({} where blank); problems for the rest."""
    if ev.DETAILS not in stripped:
        return pd.Series([{}] * len(stripped), index=stripped.index, dtype=object)
    column = stripped[ev.DETAILS]
    parsed: list[Any] = []
    message: list[str] = []
    for value in column:
        if not value:
            parsed.append({})
            message.append("")
            continue
        try:
            obj = json.loads(value)
        except json.JSONDecodeError as exc:
            parsed.append({})
            message.append(
                f"details is not valid JSON ({exc.msg} at character {exc.pos}): "
                'write an object like {"plan": "pro"}'
            )
            continue
        except (ValueError, RecursionError):
            parsed.append({})
            message.append('details is not valid JSON: write an object like {"plan": "pro"}')
            continue
        if isinstance(obj, dict):
            parsed.append(obj)
            message.append("")
        else:
            parsed.append({})
            message.append(
                f"details must be a JSON object, not {type(obj).__name__}: "
                'write it like {"plan": "pro"}'
            )
    msg = pd.Series(message, index=column.index, dtype="str")
    problems.add(msg != "", ev.DETAILS, column, ERROR, msg)
    return pd.Series(parsed, index=column.index, dtype=object)


def _dig(obj: Any, path: list[str]) -> Any:
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return None
        obj = obj[key]
    return obj


def _detail(stripped: pd.DataFrame, details: pd.Series, column: str) -> pd.Series:
    """A detail's text per row, from its dotted column or else from the details JSON."""
    from_json = (
        details.map(
            lambda d: (
                ""
                if (v := _dig(d, column.split(".")[1:])) is None
                else v
                if isinstance(v, str)
                else json.dumps(v)
            )
        ).astype("str")
        if ev.DETAILS in stripped
        else pd.Series("", stripped.index, dtype="str")
    )
    if column in stripped:
        return stripped[column].where(stripped[column] != "", from_json)
    return from_json


def _check_details_overlap(stripped: pd.DataFrame, details: pd.Series, problems: _Problems) -> None:
    if ev.DETAILS not in stripped:
        return
    for column in (c for c in stripped.columns if ev.is_details_column(c)):
        path = column.split(".")[1:]
        both = (stripped[column] != "") & (stripped[ev.DETAILS] != "")
        if not both.any():
            continue
        clash = both & details.map(
            lambda d, path=path: any(_dig(d, path[:i]) is not None for i in range(1, len(path) + 1))
        )
        problems.add(
            clash,
            column,
            stripped[column],
            ERROR,
            f"{column} is set both here and in the details JSON: keep one of them",
        )


_AMOUNT = r"-?\d+(?:\.0+)?"
_CURRENCY = r"[A-Z]{3}"


def _check_kinds(
    types: pd.Series, stripped: pd.DataFrame, details: pd.Series, problems: _Problems
) -> None:
    def need(
        kind_rows: pd.Series,
        column: str,
        missing: str,
        bad: Callable[[pd.Series], pd.Series] | None = None,
        bad_message: str = "",
    ) -> None:
        values = _detail(stripped, details, column)
        problems.add(kind_rows & (values == ""), column, values, ERROR, missing)
        if bad is not None:
            problems.add(
                kind_rows & (values != "") & bad(values),
                column,
                values,
                ERROR,
                column.split(".")[-1] + " '" + values.str.slice(0, 40) + "' " + bad_message,
            )

    purchase = types == ev.PURCHASE
    if purchase.any():
        need(
            purchase,
            ev.PURCHASE_KEY,
            "a $purchase needs details.unique.key (an order id): Bento uses it to drop "
            "repeats; map the order id column to details.unique.key",
        )
        need(
            purchase,
            ev.PURCHASE_AMOUNT,
            "a $purchase needs details.value.amount, the amount in cents (4999 for 49.99)",
            lambda v: ~v.str.fullmatch(_AMOUNT).fillna(False).astype(bool),
            "is not a whole number of cents: Bento wants integer cents, like 4999 for 49.99",
        )
        need(
            purchase,
            ev.PURCHASE_CURRENCY,
            "a $purchase needs details.value.currency, a 3-letter code like USD",
            lambda v: ~v.str.fullmatch(_CURRENCY).fillna(False).astype(bool),
            "is not a 3-letter currency code in capitals, like USD or EUR",
        )
    tagging = types.isin([ev.TAG, ev.REMOVE_TAG])
    if tagging.any():
        need(tagging, ev.TAG_NAME, "a $tag or $remove_tag needs details.tag, the name of the tag")
    update = types == ev.UPDATE_FIELDS
    if update.any():
        field_cols = [c for c in stripped.columns if ev.is_fields_column(c)]
        no_fields = (stripped[field_cols] == "").all(axis=1) if field_cols else update
        problems.add(
            update & no_fields,
            ev.TYPE,
            types,
            WARNING,
            "$update_fields without any fields.* value changes nothing: add the fields",
        )


def _flag_duplicates(out: pd.DataFrame, problems: _Problems) -> None:
    if out.empty:
        return
    hashes = pd.util.hash_pandas_object(out, index=False)
    repeated = hashes.duplicated(keep="first")
    if not repeated.any():
        return
    first_row = hashes.drop_duplicates(keep="first")
    first_of = pd.Series(first_row.index, index=first_row.to_numpy())
    same_as = hashes.map(first_of)
    problems.add(
        repeated,
        "(row)",
        out.index.to_series().astype("str"),
        WARNING,
        "the same event as row "
        + same_as.astype("str")
        + ": it would be sent twice; drop this row if that is a mistake",
    )
