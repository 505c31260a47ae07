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
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from bento_ui import _arrow_text as arrow_text
from bento_ui import emails, json_limits, money
from bento_ui import events as ev
from bento_ui.dates import DateOrder, check_timezone, parse_dates, utc_now
from bento_ui.row_hashes import row_hashes
from bento_ui.tags import explode_tags, json_tags, tags_per_row

ERROR = "error"
WARNING = "warning"
PROBLEM_COLUMNS = ["row", "column", "value", "severity", "message"]
_SHOWN_VALUE_LENGTH = 200
# No name, field or detail Bento keeps is this long: such a cell is a broken export (a
# missing closing quote swallows the rest of the file into one cell), and one event this
# large makes Bento refuse its whole batch.
MAX_CELL_CHARS = 100_000


@dataclass
class Validation:
    """What `validate` found. Displays in a notebook as its summary and problems.

    `valid` holds one row per event to send; a row with a tags column can make several
    events, which share its row number (the index). The counts speak of source rows."""

    valid: pd.DataFrame
    problems: pd.DataFrame
    rows: int
    empty_rows: list[int] = field(default_factory=list)
    dates_ambiguous: bool = False  # a date column needs the person to choose the order
    date_order: DateOrder | None = None  # the order numeric dates were read in, if any
    # What the amount column's currency units showed of their decimal mark (None where
    # there were none): a file's chunks decide its mark together (`bento_ui.pipeline`).
    amount_marks: money.MarkSigns | None = None

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
            "valid": self.valid_rows,
            "with errors": len(self.error_rows),
            "with warnings": len(self.warning_rows),
            "empty skipped": len(self.empty_rows),
        }

    @property
    def valid_rows(self) -> int:
        """Source rows that can be sent (each may make several events: see `events`)."""
        return int(self.valid.index.nunique())

    @property
    def events(self) -> int:
        return len(self.valid)

    @property
    def events_per_row(self) -> pd.Series:
        """How many events each valid source row became (1 but for rows with tags)."""
        return self.valid.index.value_counts(sort=False).sort_index()

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


def _pick(values: pd.Series, mask: pd.Series, rows: pd.Index) -> pd.Series:
    """`values` of the rows where `mask` is true. `values` is either a whole column or,
    to spare work on the rows without a problem, only the rows with one."""
    if len(values) == len(mask) and values.index.equals(mask.index):
        return values[mask.to_numpy()]
    return values.reindex(rows)


class _Problems:
    """Collects problems check by check, as whole columns at a time."""

    def __init__(self, keep: pd.Series | None = None) -> None:
        self.parts: list[pd.DataFrame] = []
        self.keep = keep  # the rows problems are kept for (empty rows have none)

    def add(
        self,
        mask: pd.Series,
        column: str,
        values: pd.Series,
        severity: str,
        message: str | pd.Series,
    ) -> None:
        if self.keep is not None and len(mask) == len(self.keep):
            # Positionally: every whole-column mask comes from the same table, in order.
            # (A mask of some rows only, like the duplicates among valid rows, has no
            # empty rows to drop.)
            mask = mask & self.keep.to_numpy()
        if not mask.any():
            return
        rows = mask.index[mask.to_numpy()]
        shown = _pick(values, mask, rows).astype("str")
        long = shown.str.len() > _SHOWN_VALUE_LENGTH
        if long.any():
            shown = shown.where(~long, shown.str.slice(0, _SHOWN_VALUE_LENGTH) + "...")
        self.parts.append(
            pd.DataFrame(
                {
                    "row": rows,
                    "column": column,
                    "value": shown.to_numpy(),
                    "severity": severity,
                    "message": _pick(message, mask, rows).to_numpy()
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
    seen: SeenRows | None = None,
    amounts: money.Unit = money.MINOR,
    decimal_mark: str | None = None,
) -> Validation:
    """Check every row of an event table (see `apply_mapping`) and keep the sendable ones.

    `amounts` says which unit the `details.value.amount` column of `$purchase` rows is
    in: `"minor"` (cents, as Bento wants them) or `"major"` (currency units: `32.00`
    becomes 3200 cents of USD); see `bento_ui.money`. `valid` holds them in cents.
    `decimal_mark` is their decimal mark when it was decided for more than this table
    (a whole file, by `bento_ui.pipeline`); else this table's amounts decide it.

    `seen` carries the rows of earlier chunks of the same file, so that a row repeating
    one of them is flagged too (see `bento_ui.pipeline`); it learns this table's rows.
    Raises TimezoneError when `timezone` is not a known zone name.
    """
    timezone = check_timezone(timezone)
    # Whole-table steps go column by column in pyarrow (see `_arrow_text`): a sheet of
    # thousands of columns is checked as quickly as one of a dozen.
    text = table if (table.dtypes == "str").all() else table.astype("str")
    text = arrow_text.one_chunk(text)
    stripped = arrow_text.strip(text)
    empty = pd.Series(arrow_text.blank_rows(stripped), index=text.index)
    # The checks run over every row; the empty rows get no problems and are left out of
    # `valid` at the end (one filter of the table instead of three).
    problems = _Problems(keep=~empty)
    cleaned = _remove_controls(text, stripped, problems)
    if cleaned is not text:
        text, stripped = cleaned, cleaned.apply(lambda col: col.str.strip())
    out = text.copy()

    if ev.TYPE in text:
        out[ev.TYPE] = _check_type(text[ev.TYPE], stripped[ev.TYPE], problems)
    else:  # a table built by hand without the column: every event needs a type
        out[ev.TYPE] = ""
        problems.add(
            pd.Series(True, text.index),
            ev.TYPE,
            out[ev.TYPE],
            ERROR,
            "type is missing: add an event name such as webinar_attended or $purchase, "
            "or choose one type for all rows",
        )
    if ev.EMAIL in text:
        out[ev.EMAIL] = _check_email(text[ev.EMAIL], stripped[ev.EMAIL], problems)
    else:
        out[ev.EMAIL] = ""
        problems.add(
            pd.Series(True, text.index),
            ev.EMAIL,
            text.index.to_series(),
            ERROR,
            "email is missing: add the subscriber's address",
        )
    dates_ambiguous = False
    used_order = date_order
    if ev.DATE in text:
        parsed = parse_dates(text[ev.DATE], timezone=timezone, order=date_order)
        dates_ambiguous = parsed.ambiguous
        used_order = parsed.order
        # Messages are written only for the rows that need one.
        unread = parsed.error != ""
        if unread.any():
            problems.add(
                unread,
                ev.DATE,
                text[ev.DATE],
                ERROR,
                "date " + _quoted(text.loc[unread, ev.DATE]) + " " + parsed.error[unread],
            )
        now_text = (now or utc_now()).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S")
        future = _after(parsed.iso, now_text)
        if future.any():
            problems.add(
                future,
                ev.DATE,
                text[ev.DATE],
                WARNING,
                "date " + _quoted(text.loc[future, ev.DATE]) + " is in the future: Bento will "
                "record the event as happening then; check the date and time zone",
            )
        out[ev.DATE] = parsed.iso

    for column in (c for c in text.columns if ev.is_fields_column(c)):
        _check_flat(column, stripped[column], problems)
    if ev.TAGS in text:
        _check_tags_cells(stripped[ev.TAGS], problems)
    _check_size(text, problems)
    details = _check_details_json(stripped, problems)
    if ev.DETAILS in out:
        # Send the text that was checked: JSON allows no space like U+00A0 around it.
        out[ev.DETAILS] = stripped[ev.DETAILS]
    _check_details_overlap(stripped, details, problems)
    # Issue 11: what is checked is what is sent. Fields and details go out trimmed, as
    # they were checked (with a warning), and their paths are checked on that text.
    _send_trimmed(text, stripped, out, problems)
    _check_details_paths(stripped, details, problems)
    if amounts not in money.UNITS:
        raise ValueError(f"amounts must be one of {', '.join(money.UNITS)}, not {amounts!r}")
    if decimal_mark not in (None, ".", ","):
        raise ValueError(f"decimal_mark must be '.' or ',', not {decimal_mark!r}")
    amount_marks = None
    if ev.TYPE in out:
        amount_marks = _check_kinds(out, stripped, details, problems, amounts, decimal_mark)

    found = problems.table()
    bad_rows = found.loc[found["severity"] == ERROR, "row"].unique()
    valid = arrow_text.rows(out, (~empty & ~out.index.isin(bad_rows)).to_numpy())
    # Only rows that can be sent can be sent twice. Rows with errors are left out: an
    # unreadable date is blank in `out`, which would make different rows look the same.
    checked = len(problems.parts)
    _flag_duplicates(valid, problems, seen)
    if len(problems.parts) > checked:
        found = problems.table()
    valid = explode_tags(valid)  # after the checks: problems speak of source rows
    return Validation(
        valid=valid,
        problems=found,
        rows=len(table),
        empty_rows=[int(r) for r in empty[empty].index],
        dates_ambiguous=dates_ambiguous,
        date_order=used_order,
        amount_marks=amount_marks,
    )


# Control characters (NUL, ESC, DEL, the C1 range) are never sent: a terminal or a
# spreadsheet would act on them. Tabs and line breaks are text inside a field or a
# detail, but not inside an event's type or a subscriber's email.
_CONTROL = "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"
_CONTROL_OR_BREAK = "[\x00-\x1f\x7f-\x9f]"


def _remove_controls(
    text: pd.DataFrame, stripped: pd.DataFrame, problems: _Problems
) -> pd.DataFrame:
    """`text` without control characters, with an error for each in a type (the email's
    own check refuses them already) and a warning for each removed elsewhere; `text`
    itself when there are none (the common case, checked in one pass per column)."""
    cleaned: dict[str, pd.Series] = {}
    for column in text.columns:
        if column == ev.EMAIL:
            continue
        if column == ev.TYPE:
            if not _may_hold_controls(stripped[column], breaks=True):
                continue
            held = stripped[column].str.contains(_CONTROL_OR_BREAK, regex=True)
            if held.any():
                problems.add(
                    held, column, text[column], ERROR,
                    f"{column} holds a control character (such as NUL, ESC or a line break), "
                    f"which cannot be sent: write the {column} as plain text",
                )  # fmt: skip
            continue
        if not _may_hold_controls(text[column], breaks=False):
            continue
        held = text[column].str.contains(_CONTROL, regex=True)
        if held.any():
            problems.add(
                held, column, text[column], WARNING,
                f"{column} held control characters (such as NUL or ESC) that cannot be sent: "
                "they were removed",
            )  # fmt: skip
            cleaned[column] = text[column].str.replace(_CONTROL, "", regex=True)
    if not cleaned:
        return text
    return text.assign(**cleaned)


def _may_hold_controls(column: pd.Series, *, breaks: bool) -> bool:
    """A look at the column's bytes first: the pattern runs only where it may find one."""
    data = arrow_text.arrow(column)
    if data is None:
        return True
    return arrow_text.may_hold_controls(arrow_text.flat(data), breaks=breaks)


def _quoted(values: pd.Series) -> pd.Series:
    short = values.str.slice(0, 60)
    return "'" + short.where(values.str.len() <= 60, short + "...") + "'"


def _check_type(raw: pd.Series, clean: pd.Series, problems: _Problems) -> pd.Series:
    checks = _type_checks(raw)
    if checks is not None:
        missing, trimmed, hinted, hinted_messages = checks
        problems.add(
            missing, ev.TYPE, raw, ERROR,
            "type is missing: add an event name such as webinar_attended or $purchase, "
            "or choose one type for all rows",
        )  # fmt: skip
        problems.add(trimmed, ev.TYPE, raw, WARNING, "type had spaces around it: they were trimmed")
        if len(hinted_messages):
            problems.add(hinted, ev.TYPE, raw, WARNING, hinted_messages)
        return clean
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
    hints = {t: hint for t in clean.unique() if t and (hint := _kind_hint(t))}
    if hints:
        hinted = clean.isin(list(hints))
        problems.add(hinted, ev.TYPE, raw, WARNING, clean[hinted].map(hints))
    return clean


def _after(iso: pd.Series, now_text: str) -> pd.Series:
    """The filled ISO times whose first 19 characters (to the second) come after
    `now_text`; in pyarrow, without a new column per step."""
    data = arrow_text.arrow(iso)
    if data is None:
        return (iso.str.slice(0, 19) > now_text) & (iso != "")
    later = pc.greater(pc.utf8_slice_codeunits(data, 0, 19), now_text)
    # "" is never after a time; a missing value is not either (as in pandas).
    found = pc.fill_null(later, False).to_numpy(zero_copy_only=False)
    return pd.Series(found, index=iso.index)


def _type_checks(raw: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series] | None:
    """(missing, trimmed, hinted, hint) of `_check_type`, worked out once per distinct
    type (an export has a handful); `hint` only for the rows that get one. None when the column is
    not held in pyarrow or has missing values (the pandas way compares those)."""
    data = arrow_text.arrow(raw)
    if data is None or data.null_count:
        return None
    encoded = pc.dictionary_encode(arrow_text.flat(data))
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    distinct = encoded.dictionary.to_pylist()
    cleaned = [value.strip() for value in distinct]  # str.strip trims what pyarrow trims
    missing = np.array([c == "" for c in cleaned], dtype=bool)
    trimmed = np.array([c != v and c != "" for c, v in zip(cleaned, distinct, strict=True)])
    hints = [(_kind_hint(c) or "") if c else "" for c in cleaned]
    hinted = np.array([h != "" for h in hints], dtype=bool)[codes]
    messages = np.array(hints, dtype=object)[codes[hinted]]
    return (
        pd.Series(missing[codes], index=raw.index),
        pd.Series(trimmed[codes], index=raw.index),
        pd.Series(hinted, index=raw.index),
        pd.Series(messages, index=raw.index[hinted], dtype="str"),
    )


def _trimmed(raw: pd.Series, clean: pd.Series) -> pd.Series:
    """`clean != raw`, without comparing when the trim changed nothing in the column."""
    if arrow_text.same_texts(raw, clean):
        return pd.Series(False, index=raw.index)
    return clean != raw


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
    ok, beyond_ascii = emails.check_emails(clean)
    bad = ~ok
    if bad.any():
        reasons = {v: emails.explain(v) for v in clean[bad].unique()}
        problems.add(bad, ev.EMAIL, raw, ERROR, clean[bad].map(reasons))
    problems.add(
        ok & _trimmed(raw, clean), ev.EMAIL, raw, WARNING,
        "email had spaces around it: they were trimmed",
    )  # fmt: skip
    unusual = ok & beyond_ascii
    if unusual.any():  # look-alike letters: only addresses beyond ASCII can have them
        message = emails.lookalikes(clean[unusual])
        flagged = unusual.copy()
        flagged[unusual] = (message != "").to_numpy()
        problems.add(flagged, ev.EMAIL, raw, WARNING, message)
    return clean


def _check_size(text: pd.DataFrame, problems: _Problems) -> None:
    for column in text.columns:
        if column in (ev.EMAIL, ev.DATE):
            continue  # their own checks say why a value that long is wrong
        if not arrow_text.any_longer(text[column], MAX_CELL_CHARS):
            continue
        too_big = text[column].str.len() > MAX_CELL_CHARS
        problems.add(
            too_big,
            column,
            text[column],
            ERROR,
            f"{column} is longer than {MAX_CELL_CHARS:,} characters, more than Bento takes: "
            "check that the file is not broken (a quote never closed), or shorten the value",
        )


def _check_flat(column: str, clean: pd.Series, problems: _Problems) -> None:
    if not arrow_text.any_starts_with(clean, ("{", "[")):
        return
    looks_nested = clean.str.startswith("{") | clean.str.startswith("[")
    if not looks_nested.any():
        return
    nested = looks_nested.copy()
    nested[looks_nested] = np.array(
        [isinstance(_json_or_none(v), dict | list) for v in clean[looks_nested].tolist()], bool
    )
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
        return json_limits.loads(text)
    except json_limits.TooDeep:
        return []  # nested too deep: certainly not flat
    except ValueError:
        return None


class _NotJSON(ValueError):
    """NaN, Infinity or -Infinity: Python's json reads them, JSON (and Bento) does not."""


def _reject_constant(name: str) -> Any:
    raise _NotJSON(name)


def _json_kind(value: Any) -> str:
    """What a person calls a JSON value that is not an object."""
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a text"
    if isinstance(value, bool):
        return "true/false"
    if value is None:
        return "null"
    return "a number"


@dataclass
class _Details:
    """The `details` JSON column, parsed once per distinct text: `objects[codes[i]]` is
    row i's object ({} where it is not one); `codes[i]` is -1 where the cell is blank."""

    codes: np.ndarray
    objects: list[Any]

    def per_row(self, per_object: list[Any], blank: Any) -> np.ndarray:
        """A value computed once per distinct object, spread over the rows."""
        values = np.array([*per_object, blank], dtype=object)
        spread: np.ndarray = values[self.codes]  # -1 takes `blank`, put last
        return spread

    def rows_where(self, per_object: list[bool]) -> np.ndarray:
        """The rows whose object has `per_object` true (never a blank cell's), as bools."""
        flags = np.zeros(len(per_object) + 1, dtype=bool)  # the last one is for blank cells
        flags[: len(per_object)] = per_object
        rows: np.ndarray = flags[self.codes]
        return rows


def _distinct(column: pd.Series) -> tuple[np.ndarray, list[str]]:
    """(codes, distinct values): `values[codes[i]]` is the i-th cell."""
    encoded = pc.dictionary_encode(pa.array(column.astype("str").array))
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, encoded.dictionary.to_pylist()


def _check_details_json(stripped: pd.DataFrame, problems: _Problems) -> _Details:
    """The parsed `details` JSON, each distinct text parsed once (exports repeat the same
    few objects); problems for the cells that are not a JSON object."""
    if ev.DETAILS not in stripped:
        return _Details(np.full(len(stripped), -1, dtype=np.int64), [])
    column = stripped[ev.DETAILS]
    filled = arrow_text.filled(column)
    codes, distinct = _distinct(column[filled])
    parsed: list[Any] = []
    message: list[str] = []
    for value in distinct:
        try:
            # Numbers kept as written: they are checked, and sent, as the person wrote them.
            obj = json_limits.loads_as_written(value, parse_constant=_reject_constant)
        except json_limits.NotFinite as exc:
            parsed.append({})
            message.append(
                f"details holds the number {exc}, too large for a JSON number: write it "
                'as text in quotes, like {"big": "1e999"}'
            )
            continue
        except json_limits.TooDeep as exc:
            parsed.append({})
            message.append(
                f"details is {exc}, more than an event needs: flatten it, or put the deep "
                "part in a text"
            )
            continue
        except json_limits.NumberTooLong as exc:
            parsed.append({})
            message.append(
                f"details holds {exc}, which cannot be sent as a number: write it in "
                'quotes as a text, like {"id": "12345"}'
            )
            continue
        except _NotJSON as exc:
            parsed.append({})
            message.append(
                f"details holds {exc}, which JSON does not allow: write a number, or the "
                'text in quotes, like {"score": "NaN"}'
            )
            continue
        except json.JSONDecodeError as exc:
            parsed.append({})
            message.append(
                f"details is not valid JSON ({exc.msg} at character {exc.pos}): "
                'write an object like {"plan": "pro"}'
            )
            continue
        except ValueError:
            parsed.append({})
            message.append('details is not valid JSON: write an object like {"plan": "pro"}')
            continue
        if isinstance(obj, dict):
            parsed.append(obj)
            message.append("")
        else:
            parsed.append({})
            message.append(
                f"details must be a JSON object, not {_json_kind(obj)}: "
                'write it like {"plan": "pro"}'
            )
    details = _Details(np.full(len(column), -1, dtype=np.int64), parsed)
    details.codes[filled] = codes
    messages = details.per_row(message, "")
    bad = messages != ""
    if bad.any():
        shown = pd.Series(messages[bad], index=column.index[bad], dtype="str")
        problems.add(pd.Series(bad, index=column.index), ev.DETAILS, column, ERROR, shown)
    return details


def _dig(obj: Any, path: list[str]) -> Any:
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return None
        obj = obj[key]
    return obj


def _detail(stripped: pd.DataFrame, details: _Details, column: str) -> pd.Series:
    """A detail's text per row, from its dotted column or else from the details JSON."""
    path = column.split(".")[1:]
    found = [
        "" if (v := _dig(d, path)) is None else v if isinstance(v, str) else json_limits.dumps(v)
        for d in details.objects
    ]
    if not any(found):  # the path is in no object: the column as it is (or blank)
        if column in stripped:
            return stripped[column]
        return pd.Series("", stripped.index, dtype="str")
    # Each distinct object's text, taken for its rows ("" put last for blank rows).
    where = np.where(details.codes < 0, len(found), details.codes)
    texts = pa.array([*found, ""], pa.large_string()).take(pa.array(where))
    from_json = pd.Series(texts, stripped.index, dtype="str")
    if column in stripped:
        return stripped[column].where(arrow_text.filled(stripped[column]), from_json)
    return from_json


def _check_details_overlap(stripped: pd.DataFrame, details: _Details, problems: _Problems) -> None:
    if ev.DETAILS not in stripped or not details.objects:
        return
    for name, values in stripped.items():
        column = str(name)
        if not ev.is_details_column(column):
            continue
        # Candidates first: the distinct objects that set the path (most set none).
        path = column.split(".")[1:]
        sets_it = [
            any(_dig(d, path[:i]) is not None for i in range(1, len(path) + 1))
            for d in details.objects
        ]
        if not any(sets_it):
            continue
        clash = details.rows_where(sets_it) & arrow_text.filled(values)
        if not clash.any():
            continue
        problems.add(
            pd.Series(clash, index=stripped.index),
            column,
            values,
            ERROR,
            f"{column} is set both here and in the details JSON: keep one of them",
        )


def _check_details_paths(text: pd.DataFrame, details: _Details, problems: _Problems) -> None:
    """Rows where a dotted details column has no place to go: another column fills a
    shorter path (`details.a` and `details.a.b`), or the details JSON holds a value, not
    an object, on the way (`{"a": "x"}` or `{"a": null}`). Filled means not "", as in
    `build_events`."""
    columns = [c for c in text.columns if ev.is_details_column(c)]
    position = {c: i for i, c in enumerate(columns)}
    for column in columns:
        parts = column.split(".")
        # The shorter paths are looked up, not searched for: a sheet of thousands of
        # details columns would otherwise compare every pair.
        prefixes = (".".join(parts[:i]) for i in range(2, len(parts)))
        shorter_ones = sorted((p for p in prefixes if p in position), key=position.__getitem__)
        path = parts[1:]
        # Candidates first: the distinct objects in the way (most tables have none).
        blocked = (
            [_blocked(d, path) for d in details.objects]
            if ev.DETAILS in text and len(path) > 1
            else []
        )
        if not shorter_ones and not any(blocked):
            continue
        filled = arrow_text.filled(text[column])
        for shorter in shorter_ones:
            problems.add(
                pd.Series(filled & arrow_text.filled(text[shorter]), index=text.index),
                column,
                text[column],
                ERROR,
                f"{shorter} and {column} cannot both be filled: {shorter} would have to be "
                "a value and an object at once. Empty one of them in this row",
            )
        if any(blocked):
            problems.add(
                pd.Series(filled & details.rows_where(blocked), index=text.index),
                column,
                text[column],
                ERROR,
                f"{column} cannot be set: the details JSON holds a value, not an object, "
                f"at {'.'.join(path[:-1])}. Keep the detail in one place",
            )


def _send_trimmed(
    text: pd.DataFrame, stripped: pd.DataFrame, out: pd.DataFrame, problems: _Problems
) -> None:
    """`fields.*` and `details.*` cells into `out` as they were checked, trimmed, with a
    warning where that changed one (and one where nothing but spaces was left out)."""
    for name in text.columns:
        column = str(name)
        if not (ev.is_fields_column(column) or ev.is_details_column(column)):
            continue
        raw, trimmed = _arrow_of(text[column]), _arrow_of(stripped[column])
        if pc.sum(pc.binary_length(raw)) == pc.sum(pc.binary_length(trimmed)):
            continue  # the common case: trimming changed nothing (it only ever shortens)
        before, after = _byte_lengths(raw), _byte_lengths(trimmed)
        out[column] = stripped[column]
        changed = before != after
        problems.add(
            pd.Series(changed & (after > 0), index=text.index), column, text[column], WARNING,
            f"{column} had spaces around it: they were trimmed",
        )  # fmt: skip
        problems.add(
            pd.Series(changed & (after == 0), index=text.index), column, text[column], WARNING,
            f"{column} held only spaces: it was left out, like an empty cell",
        )  # fmt: skip


def _arrow_of(column: pd.Series) -> pa.Array | pa.ChunkedArray:
    array = column.array
    if hasattr(array, "__arrow_array__"):
        data: pa.Array | pa.ChunkedArray = array.__arrow_array__()
        return data
    return pa.array(column.astype("str").tolist(), pa.large_string())


def _byte_lengths(data: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Each cell's length in UTF-8 bytes."""
    lengths: np.ndarray = (
        pc.fill_null(pc.binary_length(data), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    )
    return lengths


def _blocked(obj: Any, path: list[str]) -> bool:
    """True when something that is not an object sits on the way to `path` in `obj`."""
    for key in path[:-1]:
        if not isinstance(obj, dict) or key not in obj:
            return False
        obj = obj[key]
        if not isinstance(obj, dict):
            return True
    return False


def _check_kinds(
    out: pd.DataFrame,
    stripped: pd.DataFrame,
    details: _Details,
    problems: _Problems,
    amounts: money.Unit,
    decimal_mark: str | None,
) -> money.MarkSigns | None:
    """The checks of Bento's kinds of event; what the amounts showed of their mark."""
    types = out[ev.TYPE]
    kinds = _Kinds(types)
    index = types.index
    found: dict[str, pd.Series] = {}
    blank: dict[str, np.ndarray] = {}

    def detail(column: str) -> pd.Series:
        """Each detail read once, however many checks ask for it."""
        if column not in found:
            found[column] = _detail(stripped, details, column)
            blank[column] = _blank(found[column])
        return found[column]

    def need(kind_rows: np.ndarray, column: str, missing: str) -> pd.Series:
        values = detail(column)
        problems.add(pd.Series(kind_rows & blank[column], index), column, values, ERROR, missing)
        return values

    purchase = kinds.rows(ev.PURCHASE)
    amount_marks = None
    if purchase.any():
        need(
            purchase,
            ev.PURCHASE_KEY,
            "a $purchase needs details.unique.key (an order id): Bento uses it to drop "
            "repeats; map the order id column to details.unique.key",
        )
        amount = need(
            purchase,
            ev.PURCHASE_AMOUNT,
            "a $purchase needs details.value.amount, the amount (4999 cents, or 49.99 in "
            "currency units)",
        )
        currency = need(
            purchase,
            ev.PURCHASE_CURRENCY,
            "a $purchase needs details.value.currency, a 3-letter code like USD",
        )
        priced = purchase & ~blank[ev.PURCHASE_CURRENCY]
        currency = _check_currency(pd.Series(priced, index), currency, stripped, out, problems)
        amount_marks = _check_amount(
            pd.Series(purchase & ~blank[ev.PURCHASE_AMOUNT], index),
            amount, currency, stripped, out, problems, amounts, decimal_mark,
        )  # fmt: skip
    others = ~purchase
    if others.any():  # Bento refuses a details.value without both (a 400 for the batch)
        detail(ev.PURCHASE_AMOUNT)
        detail(ev.PURCHASE_CURRENCY)
        for column, other, name in (
            (ev.PURCHASE_CURRENCY, ev.PURCHASE_AMOUNT, "currency, a 3-letter code like USD"),
            (ev.PURCHASE_AMOUNT, ev.PURCHASE_CURRENCY, "amount"),
        ):
            problems.add(
                pd.Series(others & ~blank[other] & blank[column], index), column, found[column],
                ERROR,
                f"details.value needs both amount and currency, or neither: add its {name}, "
                "or leave details.value out",
            )  # fmt: skip
    tagging = kinds.rows(ev.TAG, ev.REMOVE_TAG)
    if tagging.any():
        if ev.TAGS in stripped:
            _check_tags(pd.Series(tagging, index), stripped, details, problems)
        else:
            need(
                tagging, ev.TAG_NAME, "a $tag or $remove_tag needs details.tag, the name of the tag"
            )
    update = kinds.rows(ev.UPDATE_FIELDS)
    if update.any():
        # Only the $update_fields rows are looked at: a few of most tables.
        field_cols = [c for c in stripped.columns if ev.is_fields_column(c)]
        no_fields = update.copy()
        if field_cols:
            no_fields[update] = (stripped.loc[update, field_cols] == "").all(axis=1).to_numpy()
        problems.add(
            pd.Series(no_fields, index),
            ev.TYPE,
            types,
            WARNING,
            "$update_fields without any fields.* value changes nothing: add the fields",
        )
    return amount_marks


class _Kinds:
    """The rows of each event type, found once per distinct type (a table has a few)."""

    def __init__(self, types: pd.Series) -> None:
        self.codes, self.distinct = _distinct(types)

    def rows(self, *kinds: str) -> np.ndarray:
        picked = [code for code, kind in enumerate(self.distinct) if kind in kinds]
        found: np.ndarray = np.isin(self.codes, picked)
        return found


def _blank(values: pd.Series) -> np.ndarray:
    """`values == ""` as a NumPy array, in one pyarrow pass."""
    blank: np.ndarray = ~arrow_text.filled(values)
    return blank


def _check_tags(
    tagging: pd.Series, stripped: pd.DataFrame, details: _Details, problems: _Problems
) -> None:
    """$tag rows with a tags column: they need a tag in one place, not in two."""
    codes, lists = tags_per_row(stripped[ev.TAGS])
    has_tags = pd.Series(
        np.array([bool(t) for t in lists], dtype=bool)[codes] if lists else False,
        index=stripped.index,
    )
    tag = _detail(stripped, details, ev.TAG_NAME)
    problems.add(
        tagging & ~has_tags & (tag == ""),
        ev.TAGS,
        stripped[ev.TAGS],
        ERROR,
        "a $tag or $remove_tag needs a tag: write one in the tags column (vip, newsletter)",
    )
    problems.add(
        tagging & has_tags & (tag != ""),
        ev.TAGS,
        stripped[ev.TAGS],
        ERROR,
        "this row has a tags column and details.tag: keep the tags in one of them",
    )


def _check_tags_cells(clean: pd.Series, problems: _Problems) -> None:
    """A tags cell that looks like JSON must be a list of texts: anything else would be
    sent as tags made of its pieces."""
    looks_json = clean.str.startswith("[") | clean.str.startswith("{")
    if not looks_json.any():
        return
    bad = looks_json.copy()
    bad[looks_json] = np.array(
        [json_tags(v) is None for v in clean[looks_json].tolist()], dtype=bool
    )
    problems.add(
        bad,
        ev.TAGS,
        clean,
        ERROR,
        'tags must be a list of names (vip, newsletter, or ["vip", "newsletter"]): map the '
        "column to a field or a detail to send it as it is",
    )


def _from_column(stripped: pd.DataFrame, column: str) -> pd.Series:
    """Rows whose value of `column` is in its own column (not in the details JSON)."""
    if column in stripped:
        return stripped[column] != ""
    return pd.Series(False, index=stripped.index)


def _check_currency(
    rows: pd.Series,
    currency: pd.Series,
    stripped: pd.DataFrame,
    out: pd.DataFrame,
    problems: _Problems,
) -> pd.Series:
    """The currencies of `rows`, a lower-case code in the currency column upper-cased
    (with a warning); errors for the rest that are not an ISO 4217 code. Each distinct
    currency (a table has a handful) is looked at once; the rows only where one is wrong."""
    where = rows.to_numpy()
    if not where.any():
        return currency
    positions = np.flatnonzero(where)
    codes, distinct = _distinct(currency[where])
    upper = [value.upper() for value in distinct]
    pairs = zip(upper, distinct, strict=True)
    fixable = np.array([u != v and re.fullmatch("[A-Z]{3}", u) is not None for u, v in pairs], bool)
    known = np.array([value in money.EXPONENTS for value in distinct], dtype=bool)
    known_upper = np.array([value in money.EXPONENTS for value in upper], dtype=bool)
    if known.all():  # the common case: every currency is a code as Bento wants it
        return currency
    own = _from_column(stripped, ev.PURCHASE_CURRENCY).to_numpy()[where]
    lower = fixable[codes] & own
    if lower.any():
        at = positions[lower]
        fixed = np.array(upper, dtype=object)[codes[lower]]
        problems.add(
            _at(at, rows.index),
            ev.PURCHASE_CURRENCY,
            currency,
            WARNING,
            pd.Series(
                "currency '" + currency.iloc[at].to_numpy(dtype=object) + "' was upper-cased to "
                + fixed + ", as Bento wants it",
                index=rows.index[at],
            ),
        )  # fmt: skip
        rewrite = _at(at, out.index).to_numpy()
        replaced = _replaced(out[ev.PURCHASE_CURRENCY], rewrite, pa.array(fixed, pa.large_string()))
        if replaced is None:
            out.loc[rewrite, ev.PURCHASE_CURRENCY] = fixed
        else:
            out[ev.PURCHASE_CURRENCY] = replaced
        mask = _at(at, currency.index).to_numpy()
        replaced = _replaced(currency, mask, pa.array(fixed, pa.large_string()))
        if replaced is None:
            currency = currency.copy()
            currency.iloc[at] = fixed
        else:
            currency = replaced
    bad = ~np.where(lower, known_upper[codes], known[codes])
    if bad.any():
        at = positions[bad]
        shown = currency.iloc[at].str.slice(0, 40)
        capitals = shown.str.fullmatch(r"[A-Z]{3}").fillna(False).astype(bool)
        problems.add(
            _at(at, rows.index),
            ev.PURCHASE_CURRENCY,
            currency,
            ERROR,
            "currency '"
            + shown
            + capitals.map(
                {
                    True: "' is not an ISO 4217 currency code: use one like USD, EUR or JPY",
                    False: "' is not a 3-letter currency code in capitals, like USD or EUR",
                }
            ),
        )
    return currency


def _replaced(
    column: pd.Series, rows: np.ndarray, values: pa.Array | pa.ChunkedArray
) -> pd.Series | None:
    """`column` with the cells where `rows` is true set to `values`, in pyarrow (pandas
    sets text cells through NumPy objects, ten times slower); None when the column is
    not held in pyarrow."""
    data = arrow_text.arrow(column)
    if data is None:
        return None
    new = pc.replace_with_mask(arrow_text.flat(data), pa.array(rows), arrow_text.flat(values))
    return pd.Series(new, index=column.index, dtype=column.dtype, name=column.name)


def _at(positions: np.ndarray, index: pd.Index) -> pd.Series:
    """A mask of `index` true at `positions`."""
    mask = np.zeros(len(index), dtype=bool)
    mask[positions] = True
    return pd.Series(mask, index=index)


def _check_amount(
    rows: pd.Series,
    amount: pd.Series,
    currency: pd.Series,
    stripped: pd.DataFrame,
    out: pd.DataFrame,
    problems: _Problems,
    amounts: money.Unit,
    decimal_mark: str | None,
) -> money.MarkSigns | None:
    """Amounts of `rows` in minor units: the column's in the unit the person chose, into
    `out`; those in the details JSON are always minor units (cents), as APIs write them.
    Returns what the column's currency units showed of their decimal mark."""
    where_rows = rows.to_numpy()
    if not where_rows.any():
        return None
    own = _from_column(stripped, ev.PURCHASE_AMOUNT).to_numpy()
    marks = None
    if amounts == money.MAJOR and (where_rows & own).any():
        marks = money.mark_signs(amount[where_rows & own])
    for where, unit, in_column in (
        (where_rows & own, amounts, True),
        (where_rows & ~own, money.MINOR, False),
    ):
        if not where.any():
            continue
        positions = np.flatnonzero(where)
        mark = (decimal_mark or money.mark_of([marks])) if marks else None
        result = money.to_minor(amount[where], currency[where], unit=unit, mark=mark)
        wrong = ~_blank(result.error)
        if wrong.any():
            shown = amount[where][wrong].str.slice(0, 40)
            message = "amount '" + shown + "' " + result.error[wrong]
            if not in_column:
                message = message + " (amounts in the details JSON are always minor units)"
            problems.add(
                _at(positions[wrong], rows.index), ev.PURCHASE_AMOUNT, amount, ERROR, message
            )
        if in_column:  # sent as checked: the digits in minor units (most are as written)
            sent = pa.array(out[ev.PURCHASE_AMOUNT].array).take(pa.array(positions))
            minor = pa.array(result.minor.array)
            changed = pc.fill_null(pc.not_equal(sent, minor), True)
            change = changed.to_numpy(zero_copy_only=False).astype(bool)
            if change.any():
                rewrite = _at(positions[change], out.index).to_numpy()
                replaced = _replaced(
                    out[ev.PURCHASE_AMOUNT], rewrite, minor.filter(pa.array(change))
                )
                if replaced is None:
                    out.loc[rewrite, ev.PURCHASE_AMOUNT] = result.minor.to_numpy()[change]
                else:
                    out[ev.PURCHASE_AMOUNT] = replaced
    return marks


class SeenRows:
    """The rows validated so far, as 64-bit hashes of every cell (`row_hashes`) with the
    row each was first seen in: finds a row that repeats one of an earlier chunk
    (`bento_ui.pipeline`). 12 bytes a row (60 MB for 5 million rows), kept as a few
    sorted arrays merged like a binary counter, so adding a chunk and looking one up
    stay fast as the file grows."""

    def __init__(self) -> None:
        self._levels: list[tuple[np.ndarray, np.ndarray]] = []  # (sorted hashes, rows)

    def __len__(self) -> int:
        return sum(len(keys) for keys, _ in self._levels)

    def first_rows(self, hashes: np.ndarray) -> np.ndarray:
        """For each hash, the row it was first seen in, or -1. Sorted hashes are looked
        up fastest (each search starts where the one before ended)."""
        found = np.full(len(hashes), -1, dtype=np.int64)
        for keys, rows in self._levels:
            if not len(keys):
                continue
            at = np.minimum(np.searchsorted(keys, hashes), len(keys) - 1)
            hit = keys[at] == hashes
            found[hit] = rows[at[hit]]
        return found

    def add(self, hashes: np.ndarray, rows: np.ndarray, *, is_sorted: bool = False) -> None:
        """Remember rows whose hashes were not seen before (all different)."""
        if not len(hashes):
            return
        if is_sorted:
            self._levels.append((hashes, rows.astype(np.int32)))
        else:
            order = np.argsort(hashes, kind="stable")
            self._levels.append((hashes[order], rows[order].astype(np.int32)))
        while len(self._levels) > 1 and len(self._levels[-2][0]) <= 2 * len(self._levels[-1][0]):
            # One array at a time, the parts let go as soon as they are joined: the merge
            # of the two largest levels is the peak of a streamed file's memory.
            (keys_a, rows_a), (keys_b, rows_b) = self._levels.pop(-2), self._levels.pop()
            keys = np.concatenate([keys_a, keys_b])
            del keys_a, keys_b
            order = np.argsort(keys, kind="stable")
            keys = keys[order]
            rows = np.concatenate([rows_a, rows_b])
            del rows_a, rows_b
            self._levels.append((keys, rows[order]))


def _flag_duplicates(out: pd.DataFrame, problems: _Problems, seen: SeenRows | None = None) -> None:
    if out.empty:
        return
    if seen is None:
        # Rows that repeat one another have the same key: only they are looked at.
        keys = arrow_text.row_keys(out)
        if keys is not None:
            out = arrow_text.rows(out, pd.Series(keys).duplicated(keep=False).to_numpy())
            if out.empty:
                return
    if seen is None and ev.EMAIL in out:
        # The same event has the same email: hash whole rows only where emails repeat,
        # which is a few rows of most exports (hashing every row costs five times more).
        out = out[out[ev.EMAIL].duplicated(keep=False).to_numpy()]
        if out.empty:
            return
    if seen is not None:
        repeated, same_as = _repeats_of_seen(out, seen)
    else:
        hashes = pd.util.hash_pandas_object(out, index=False)
        repeated = hashes.duplicated(keep="first")
        first_row = hashes.drop_duplicates(keep="first")
        first_of = pd.Series(first_row.index, index=first_row.to_numpy())
        same_as = hashes.map(first_of)
    if not repeated.any():
        return
    # Messages for the repeated rows only (a chunk's mask covers all of its rows).
    twice = repeated.to_numpy()
    rows = out.index[twice]
    problems.add(
        repeated,
        "(row)",
        pd.Series(rows.astype("str"), index=rows),
        WARNING,
        "the same event as row "
        + pd.Series(same_as.to_numpy()[twice], index=rows).astype("str")
        + ": it would be sent twice; drop this row if that is a mistake",
    )


def _repeats_of_seen(out: pd.DataFrame, seen: SeenRows) -> tuple[pd.Series, pd.Series]:
    """(rows that repeat an earlier one of this table or of `seen`, the row each repeats),
    and `seen` learns the rest. Every row is hashed, from its bytes (`row_hashes`): an
    earlier chunk's rows are known by their hash alone."""
    hashes = row_hashes(out)
    rows = out.index.to_numpy()
    order = np.argsort(hashes, kind="stable")  # equal hashes: the first row first
    ordered = hashes[order]
    starts = np.ones(len(ordered), dtype=bool)  # where a run of equal hashes starts
    starts[1:] = ordered[1:] != ordered[:-1]
    earlier = seen.first_rows(ordered[starts])  # sorted: the fastest look-up
    new = earlier < 0
    seen.add(ordered[starts][new], rows[order[starts][new]], is_sorted=True)
    # For each row (in hash order): the row it repeats, or -1.
    run = np.cumsum(starts) - 1
    same_as = earlier[run]
    within = ~starts & (same_as < 0)
    same_as[within] = rows[order[starts]][run[within]]
    repeated = np.zeros(len(out), dtype=bool)
    repeated[order] = same_as >= 0
    same_as_rows = np.empty(len(out), dtype=rows.dtype)
    same_as_rows[order] = same_as
    return pd.Series(repeated, index=out.index), pd.Series(same_as_rows, index=out.index)
