"""A reference for `validate` + `build_events`/`encode_events`, written one row at a time.

The library checks whole columns at once and is being made faster; this module says the
same rules the slow, plain way (DESIGN.md sections 3 and 4), so that tests/test_oracle.py
can hold the fast path to them. Given an event table as `apply_mapping` gives it, `check`
returns the problems (row, column, severity, message) and, in order, the event each
valid row sends: as a dict (what `build_events` gives) and as JSON text with every
number of the details JSON written as the person wrote it (what `encode_events` sends).

Only the column-wide decisions are taken over the whole column first, as the design asks:
the order of numeric dates and the decimal mark of an amount column. Everything else is
decided for one row from that row alone, except exact duplicates, which compare a row
with the valid rows above it.

Reused from the library, because they are single-value helpers and not the vectorised
code under test: the email rule and its explanations (`emails.is_valid`, `explain`,
`lookalike`), the ISO 4217 exponent table, `tags.split_tags`. Everything else is written
out here, messages included.

Written to the rules issue 11 asks for, where today's code differs (tests/test_oracle.py
marks those cases): numbers in details go out as written, and `fields.*`/`details.*`
values are sent trimmed (with a warning), exactly as they were checked.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import re
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from bento_ui import emails
from bento_ui.money import EXPONENTS
from bento_ui.tags import split_tags

ERROR = "error"
WARNING = "warning"
PURCHASE, TAG, REMOVE_TAG, UPDATE = "$purchase", "$tag", "$remove_tag", "$update_fields"
KINDS = (PURCHASE, TAG, REMOVE_TAG, "$subscribe", "$unsubscribe", UPDATE)
KEY, AMOUNT, CURRENCY, TAG_NAME = (
    "details.unique.key",
    "details.value.amount",
    "details.value.currency",
    "details.tag",
)
MAX_CELL = 100_000
MAX_MINOR = 2**63 - 1
DATE_EXAMPLE = "use 2024-01-05, 2024-01-05 13:45 or 2024-01-05T13:45:00Z"
# What pandas' nanosecond timestamps hold: dates outside are unreadable.
FIRST_DATE = dt.datetime(1677, 9, 21, 0, 12, 43, 145225)
LAST_DATE = dt.datetime(2262, 4, 11, 23, 47, 16, 854775)

Problem = tuple[int, str, str, str]  # row, column, severity, message


@dataclass
class Expected:
    """What a table should give: its problems, and its events in order with their rows."""

    problems: list[Problem] = field(default_factory=list)  # sorted
    rows: list[int] = field(default_factory=list)  # each event's source row
    events: list[dict[str, Any]] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)  # numbers as written
    empty: list[int] = field(default_factory=list)  # the blank rows, skipped and counted


class Number(str):
    """A JSON number, kept as the text it was written as."""


def check(
    table: pd.DataFrame,
    *,
    now: pd.Timestamp,
    timezone: str = "UTC",
    date_order: str | None = None,
    amounts: str = "minor",
) -> Expected:
    """What `validate(table, ...)` and the payloads of its valid rows should be; the
    options mean what they mean to `validate`."""
    columns = [str(c) for c in table.columns]
    rows = [
        (int(n), dict(zip(columns, (str(v) for v in values), strict=True)))
        for n, values in zip(table.index, table.itertuples(index=False), strict=True)
    ]
    found: list[Problem] = []
    now_text = now.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S")

    # Column-wide decisions first (DESIGN.md 3 and 4).
    dates = _date_column(
        [_clean_controls(r.get("date", "")).strip() for _, r in rows], timezone, date_order
    )
    purchase_amounts = [
        _clean_controls(r[AMOUNT]).strip()
        for _, r in rows
        if r.get("type", "").strip() == PURCHASE and r.get(AMOUNT, "").strip()
    ]
    mark = _decimal_mark(purchase_amounts)

    valid: list[tuple[int, dict[str, str]]] = []
    first_seen: dict[tuple[str, ...], int] = {}
    empty: list[int] = []
    for (number, raw), (iso, date_error) in zip(rows, dates, strict=True):
        if all(not v.strip() for v in raw.values()):
            empty.append(number)  # skipped and counted, without problems
            continue
        problems: list[tuple[str, str, str]] = []
        out = _check_row(raw, iso, date_error, now_text, mark, amounts, problems)
        found.extend((number, c, s, m) for c, s, m in problems)
        if any(s == ERROR for _, s, _ in problems):
            continue
        key = tuple(out[c] for c in columns)
        if key in first_seen:
            found.append(
                (
                    number,
                    "(row)",
                    WARNING,
                    f"the same event as row {first_seen[key]}: it would be sent twice; "
                    "drop this row if that is a mistake",
                )
            )
        else:
            first_seen[key] = number
        valid.append((number, out))

    expected = Expected(problems=sorted(found), empty=empty)
    for number, out in valid:
        for event in _events_of(out):
            expected.rows.append(number)
            expected.events.append(_event(event, raw_numbers=False))
            expected.texts.append(dumps(_event(event, raw_numbers=True)))
    return expected


# --- one row ----------------------------------------------------------------------------

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_CONTROL_OR_BREAK = re.compile("[\x00-\x1f\x7f-\x9f]")


def _clean_controls(value: str) -> str:
    return _CONTROL.sub("", value)


def _check_row(
    raw: dict[str, str],
    iso: str,
    date_error: str,
    now_text: str,
    mark: str,
    amounts: str,
    problems: list[tuple[str, str, str]],
) -> dict[str, str]:
    """The row as it is sent (type, email and date normalised...); problems appended."""

    def add(column: str, severity: str, message: str) -> None:
        problems.append((column, severity, message))

    # Control characters: never sent. In a type an error (line breaks too); elsewhere
    # removed with a warning; the email's own rule refuses them.
    text: dict[str, str] = {}
    for column, value in raw.items():
        if column == "type":
            if _CONTROL_OR_BREAK.search(value.strip()):
                add(
                    column,
                    ERROR,
                    "type holds a control character (such as NUL, ESC or a line break), "
                    "which cannot be sent: write the type as plain text",
                )
            text[column] = value
        elif column != "email" and _CONTROL.search(value):
            add(
                column,
                WARNING,
                f"{column} held control characters (such as NUL or ESC) that cannot be "
                "sent: they were removed",
            )
            text[column] = _clean_controls(value)
        else:
            text[column] = value
    clean = {c: v.strip() for c, v in text.items()}
    out = dict(text)

    # type
    kind = clean.get("type", "")
    if not kind:
        add(
            "type",
            ERROR,
            "type is missing: add an event name such as webinar_attended or $purchase, "
            "or choose one type for all rows",
        )
    elif kind != raw.get("type", ""):
        add("type", WARNING, "type had spaces around it: they were trimmed")
    if kind and (hint := _kind_hint(kind)):
        add("type", WARNING, hint)
    out["type"] = kind

    # email
    email = clean.get("email", "")
    if not emails.is_valid(email):
        add("email", ERROR, emails.explain(email))
    else:
        if email != raw.get("email", ""):
            add("email", WARNING, "email had spaces around it: they were trimmed")
        if not email.isascii() and (warning := emails.lookalike(email)):
            add("email", WARNING, warning)
    out["email"] = email

    # date
    if "date" in raw:
        shown = text["date"][:60] + ("..." if len(text["date"]) > 60 else "")
        if date_error:
            add("date", ERROR, f"date '{shown}' {date_error}")
        elif iso and iso[:19] > now_text:
            add(
                "date",
                WARNING,
                f"date '{shown}' is in the future: Bento will record the event as happening "
                "then; check the date and time zone",
            )
        out["date"] = iso

    # fields: flat values only
    for column in (c for c in raw if c.startswith("fields.")):
        value = clean[column]
        if value.startswith(("{", "[")) and _is_nested(value):
            add(
                column,
                ERROR,
                f"{column} holds a list or an object, but fields must be flat (text, "
                "number, true/false): put it under details, or join the values into one "
                "text",
            )

    # What is checked is what is sent: fields and dotted details trimmed (issue 11).
    for column in (c for c in raw if c.startswith(("fields.", "details."))):
        if clean[column] != text[column]:
            add(
                column,
                WARNING,
                f"{column} had spaces around it: they were trimmed"
                if clean[column]
                else f"{column} held only spaces: it was left out, like an empty cell",
            )
        out[column] = clean[column]

    # tags cells that look like JSON must be a list of texts
    if "tags" in raw:
        cell = clean["tags"]
        if cell.startswith(("[", "{")) and _json_tags(cell) is None:
            add(
                "tags",
                ERROR,
                'tags must be a list of names (vip, newsletter, or ["vip", "newsletter"]): '
                "map the column to a field or a detail to send it as it is",
            )

    for column, value in text.items():
        if column not in ("email", "date") and len(value) > MAX_CELL:
            add(
                column,
                ERROR,
                f"{column} is longer than {MAX_CELL:,} characters, more than Bento takes: "
                "check that the file is not broken (a quote never closed), or shorten the "
                "value",
            )

    # the details JSON
    obj: dict[str, Any] = {}
    if "details" in raw:
        out["details"] = clean["details"]
        if clean["details"]:
            parsed, message = _parse_details(clean["details"])
            if message:
                add("details", ERROR, message)
            else:
                obj = parsed
    dotted = [c for c in raw if c.startswith("details.")]
    if "details" in raw and clean["details"]:
        for column in dotted:
            path = column.split(".")[1:]
            # A path the JSON holds, even as null, is set there.
            if out[column] and any(
                _holds(obj, path[:i]) for i in range(1, len(path) + 1)
            ):
                add(
                    column,
                    ERROR,
                    f"{column} is set both here and in the details JSON: keep one of them",
                )
    for column in dotted:
        if not out[column]:
            continue
        parts = column.split(".")
        for i in range(2, len(parts)):
            shorter = ".".join(parts[:i])
            if out.get(shorter):
                add(
                    column,
                    ERROR,
                    f"{shorter} and {column} cannot both be filled: {shorter} would have to "
                    "be a value and an object at once. Empty one of them in this row",
                )
        path = parts[1:]
        if "details" in raw and len(path) > 1 and _blocked(obj, path):
            add(
                column,
                ERROR,
                f"{column} cannot be set: the details JSON holds a value, not an object, at "
                f"{'.'.join(path[:-1])}. Keep the detail in one place",
            )

    def detail(column: str) -> str:
        if out.get(column):
            return out[column]
        value = _dig(obj, column.split(".")[1:])
        if value is None:
            return ""
        if isinstance(value, str):  # a text, or a number as written (issue 11)
            return str(value)
        return json.dumps(_plain(value))

    # the kinds of Bento
    if kind == PURCHASE:
        for column, missing in (
            (KEY, "a $purchase needs details.unique.key (an order id): Bento uses it to drop "
                  "repeats; map the order id column to details.unique.key"),
            (AMOUNT, "a $purchase needs details.value.amount, the amount (4999 cents, or "
                     "49.99 in currency units)"),
            (CURRENCY, "a $purchase needs details.value.currency, a 3-letter code like USD"),
        ):  # fmt: skip
            if not detail(column):
                add(column, ERROR, missing)
        currency = detail(CURRENCY)
        if currency:
            upper = currency.upper()
            if out.get(CURRENCY) and upper != currency and re.fullmatch("[A-Z]{3}", upper):
                add(
                    CURRENCY,
                    WARNING,
                    f"currency '{currency}' was upper-cased to {upper}, as Bento wants it",
                )
                out[CURRENCY] = currency = upper
            if currency not in EXPONENTS:
                shown = currency[:40]
                add(
                    CURRENCY,
                    ERROR,
                    f"currency '{shown}' is not an ISO 4217 currency code: use one like USD, "
                    "EUR or JPY"
                    if re.fullmatch("[A-Z]{3}", shown)
                    else f"currency '{shown}' is not a 3-letter currency code in capitals, "
                    "like USD or EUR",
                )
        amount = detail(AMOUNT)
        if amount:
            in_column = bool(out.get(AMOUNT))
            unit = amounts if in_column else "minor"
            minor, error = _to_minor(amount, currency, unit, mark)
            if error:
                message = f"amount '{amount[:40]}' {error}"
                if not in_column:
                    message += " (amounts in the details JSON are always minor units)"
                add(AMOUNT, ERROR, message)
            if in_column:
                out[AMOUNT] = minor
    else:
        amount, currency = detail(AMOUNT), detail(CURRENCY)
        if amount and not currency:
            add(
                CURRENCY,
                ERROR,
                "details.value needs both amount and currency, or neither: add its "
                "currency, a 3-letter code like USD, or leave details.value out",
            )
        if currency and not amount:
            add(
                AMOUNT,
                ERROR,
                "details.value needs both amount and currency, or neither: add its amount, "
                "or leave details.value out",
            )
    if kind in (TAG, REMOVE_TAG):
        if "tags" in raw:
            has_tags = bool(split_tags(clean["tags"]))
            if not has_tags and not detail(TAG_NAME):
                add(
                    "tags",
                    ERROR,
                    "a $tag or $remove_tag needs a tag: write one in the tags column (vip, "
                    "newsletter)",
                )
            if has_tags and detail(TAG_NAME):
                add(
                    "tags",
                    ERROR,
                    "this row has a tags column and details.tag: keep the tags in one of them",
                )
        elif not detail(TAG_NAME):
            add(TAG_NAME, ERROR, "a $tag or $remove_tag needs details.tag, the name of the tag")
    if kind == UPDATE and not any(clean[c] for c in raw if c.startswith("fields.")):
        add(
            "type",
            WARNING,
            "$update_fields without any fields.* value changes nothing: add the fields",
        )
    return out


def _kind_hint(kind: str) -> str | None:
    if kind in KINDS:
        return None
    name = "$" + kind.strip().lstrip("$").lower().replace(" ", "_").replace("-", "_")
    if name in KINDS:
        return (
            f"type '{kind}' looks like Bento's {name}: write {name} exactly if you mean it, "
            "or keep it as a custom event"
        )
    if kind.startswith("$"):
        close = difflib.get_close_matches(name, list(KINDS), n=1, cutoff=0.8)
        if close:
            return (
                f"type '{kind}' looks like a misspelling of Bento's {close[0]}: write "
                f"{close[0]} if you mean it"
            )
    return None


def _is_nested(text: str) -> bool:
    try:
        value = json.loads(text)
    except RecursionError:
        return True
    except ValueError:
        return False
    return isinstance(value, dict | list)


def _json_tags(text: str) -> list[str] | None:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def _dig(obj: Any, path: list[str]) -> Any:
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return None
        obj = obj[key]
    return obj


def _holds(obj: Any, path: list[str]) -> bool:
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return False
        obj = obj[key]
    return True


def _blocked(obj: Any, path: list[str]) -> bool:
    for key in path[:-1]:
        if not isinstance(obj, dict) or key not in obj:
            return False
        obj = obj[key]
        if not isinstance(obj, dict):
            return True
    return False


# --- the details JSON -------------------------------------------------------------------


class _Refused(ValueError):
    pass


def _constant(name: str) -> Any:
    raise _Refused(f"details holds {name}, which JSON does not allow: write a number, or the "
                   'text in quotes, like {"score": "NaN"}')  # fmt: skip


def _finite(text: str) -> Number:
    if abs(float(text)) == float("inf"):
        raise _Refused(f"details holds the number {text[:40]}, too large for a JSON number: "
                       'write it as text in quotes, like {"big": "1e999"}')  # fmt: skip
    return Number(text)


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level + 1)
            stack.extend(
                (v, level + 1) for v in (item.values() if isinstance(item, dict) else item)
            )
    return deepest


def _whole(text: str) -> Number:
    if len(text.lstrip("-")) > 4300:
        raise _Refused(
            "details holds a whole number with more than 4,300 digits, which cannot be sent "
            'as a number: write it in quotes as a text, like {"id": "12345"}'
        )
    return Number(text)


def _parse_details(text: str) -> tuple[dict[str, Any], str]:
    """(object with numbers as written, "") or ({}, the message)."""
    deep = (
        "details is nested more than 100 levels deep, more than an event needs: flatten it, "
        "or put the deep part in a text"
    )
    try:
        value = json.loads(text, parse_constant=_constant, parse_float=_finite, parse_int=_whole)
    except _Refused as refused:
        return {}, str(refused)
    except RecursionError:
        return {}, deep
    except json.JSONDecodeError as error:
        return {}, (
            f"details is not valid JSON ({error.msg} at character {error.pos}): write an "
            'object like {"plan": "pro"}'
        )
    if _depth(value) > 100:
        return {}, deep
    if not isinstance(value, dict):
        what = (
            "a number" if isinstance(value, Number)
            else "a list" if isinstance(value, list) else "a text" if isinstance(value, str)
            else "true/false" if isinstance(value, bool) else "null" if value is None
            else "a number"
        )  # fmt: skip
        return {}, f'details must be a JSON object, not {what}: write it like {{"plan": "pro"}}'
    return value, ""


def dumps(value: Any) -> str:
    """Compact JSON as json.dumps(ensure_ascii=False) writes it, numbers as written."""
    if isinstance(value, Number):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _plain(value: Any) -> Any:
    """Numbers as json.loads reads them."""
    if isinstance(value, Number):
        return json.loads(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


# --- money ------------------------------------------------------------------------------

_NOT_A_NUMBER = "is not a number: write digits only, like 4999 or 49.99 (no currency sign)"
_GROUP = "' \u00a0\u202f"


def _leading_zeros(sign: str, digits: str) -> str:
    """007 -> write 7; 00.99 -> write 0.99: the zeros in front, but the last before a mark."""
    kept = digits
    while len(kept) > 1 and kept[0] == "0" and kept[1] in "0123456789":
        kept = kept[1:]
    return (
        f"starts with 0: write {sign}{kept} without the leading zeros, or check that the "
        "column holds amounts"
    )


def _decimal_mark(amounts: list[str]) -> str:
    for amount in amounts:
        if "," in amount and "." in amount:
            return "," if amount.rfind(",") > amount.rfind(".") else "."
    # 49,99 or 1 299,00: a comma after digits grouped by spaces (never by dots) is a mark.
    grouped = f"-?(?:[0-9]+|[0-9]{{1,3}}(?:[{_GROUP}][0-9]{{3}})+),(?:[0-9]{{1,2}}|[0-9]{{4,}})"
    if any(re.fullmatch(grouped, a) for a in amounts):
        return ","
    return "."


def _to_minor(amount: str, currency: str, unit: str, mark: str) -> tuple[str, str]:
    """(minor units as digits, "") or ("", why not)."""
    if unit == "minor":
        if not re.fullmatch("-?[0-9]+", amount):
            if re.fullmatch(f"-?[0-9,.{_GROUP}]*[0-9]", amount):
                return "", (
                    "has decimals, but the column is read as minor units (cents): if it is in "
                    "currency units (32.00 for 32 dollars), say the column is in currency "
                    "units (amounts='major'; --amounts major in the CLI)"
                )
            return "", _NOT_A_NUMBER
        sign, digits = ("-", amount[1:]) if amount.startswith("-") else ("", amount)
        if sign and not digits.strip("0"):
            return "", "is -0: write 0"
        if len(digits) > 1 and digits.startswith("0"):
            return "", _leading_zeros(sign, digits)
    else:
        group = "," if mark == "." else "."
        pattern = (
            f"-?(?:[0-9]{{1,3}}(?:[{re.escape(group)}{_GROUP}][0-9]{{3}})+|[0-9]+)"
            f"(?:{re.escape(mark)}[0-9]+)?"
        )
        if not re.fullmatch(pattern, amount):
            if mark == ".":
                return "", _NOT_A_NUMBER
            return "", (
                "is not a number: write digits only, like 4999 or 49,99 (no currency sign); "
                "the column writes decimals with a comma"
            )
        # Written as no amount is (007.50, -0.00), whatever the currency: refused.
        sign, digits = ("-", amount[1:]) if amount.startswith("-") else ("", amount)
        if sign and not digits.strip("0" + mark + group + _GROUP):
            return "", "is -0: write 0"
        if len(digits) > 1 and digits[0] == "0" and digits[1] in "0123456789":
            return "", _leading_zeros(sign, digits)
        if currency not in EXPONENTS:
            return "", ""  # the currency's own check says why
        places = EXPONENTS[currency]
        plain = "".join(ch for ch in amount if ch not in _GROUP + group)
        units, _, fraction = plain.partition(mark)
        if len(fraction) > places:
            return "", (
                f"has more decimals than {currency} has ({places}): check the amount and its "
                "currency; amounts are never rounded"
            )
        sign, units = ("-", units[1:]) if units.startswith("-") else ("", units)
        digits = (units + fraction.ljust(places, "0")).lstrip("0") or "0"
        sign = sign if digits != "0" else ""
    if len(digits) > 19 or (len(digits) == 19 and digits > str(MAX_MINOR)):
        return "", f"is too large: Bento takes at most {MAX_MINOR:,} minor units; check the amount"
    return sign + digits, ""


# --- dates ------------------------------------------------------------------------------

_NUMERIC = re.compile(
    r"([0-9]{1,2})([./-])([0-9]{1,2})\2([0-9]{4}|[0-9]{2})"
    r"(?:[ T]+([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?\s*([AaPp][Mm])?)?"
)
_ISO_NAIVE = re.compile(
    r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})"
    r"(?:[T ]([0-9]{1,2}):([0-9]{2})(?::([0-9]{2})(?:[.,]([0-9]+))?)?)?"
)
_ISO_ZONED = re.compile(_ISO_NAIVE.pattern + r"\s*(Z|z|UTC|[+-][0-9]{2}(?::?[0-9]{2})?)")


def _date_column(values: list[str], timezone: str, order: str | None) -> list[tuple[str, str]]:
    """(UTC ISO text, "") or ("", why not) for each (trimmed) value of a date column."""
    numeric = [m for v in values if (m := _NUMERIC.fullmatch(v)) and not _ISO_NAIVE.match(v)]
    ambiguous = mixed = False
    given = order  # what the person chose; month names are read day-first only then
    if order is None and numeric:
        day_first = any(int(m.group(1)) > 12 for m in numeric)
        month_first = any(int(m.group(3)) > 12 for m in numeric)
        if day_first and month_first:
            mixed = True
        elif day_first or month_first:
            order = "day-first" if day_first else "month-first"
        else:
            ambiguous = True
    zone = zoneinfo.ZoneInfo(timezone)
    out: list[tuple[str, str]] = []
    for value in values:
        if not value:
            out.append(("", ""))
        elif len(value) > 100:
            out.append(("", f"is too long to be a date: {DATE_EXAMPLE}"))
        else:
            out.append(_one_date(value, zone, timezone, order, given, mixed, ambiguous))
    return out


def _one_date(
    value: str, zone: zoneinfo.ZoneInfo, name: str, order: str | None, given: str | None,
    mixed: bool, ambiguous: bool,
) -> tuple[str, str]:  # fmt: skip
    unreadable = ("", f"is not a date this tool can read: {DATE_EXAMPLE}")
    if re.match(r"[0-9]{4}/[0-9]{1,2}/[0-9]{1,2}", value):
        value = value.replace("/", "-")
    when: dt.datetime | None
    if m := _ISO_ZONED.fullmatch(value):
        when = _civil(*m.groups()[:7])
        if when is None:
            return unreadable
        offset = m.group(8)
        if offset not in ("Z", "z", "UTC"):
            sign = -1 if offset[0] == "-" else 1
            digits = offset[1:].replace(":", "")
            minutes = int(digits[:2]) * 60 + (int(digits[2:]) if digits[2:] else 0)
            when -= dt.timedelta(minutes=sign * minutes)
        return _utc_text(when) if _in_range(when) else unreadable
    if _ISO_NAIVE.match(value):
        m = _ISO_NAIVE.fullmatch(value)
        when = _civil(*m.groups()) if m else None
    elif re.fullmatch(r"[0-9]{5}(?:\.[0-9]+)?", value):  # an Excel serial date
        when = dt.datetime(1899, 12, 30) + dt.timedelta(seconds=round(float(value) * 86400))
    elif m := _NUMERIC.fullmatch(value):
        if mixed:
            return "", (
                "this column mixes day-first and month-first dates (some have a day over 12 "
                f"first, others second): write them all one way, or {DATE_EXAMPLE}"
            )
        if ambiguous:
            return "", (
                "could be day-first or month-first (every date in this column could be read "
                f"both ways): choose the date order, or {DATE_EXAMPLE}"
            )
        a, _, b, year, hour, minute, second, ampm = m.groups()
        day, month = (a, b) if order == "day-first" else (b, a)
        h = int(hour or 0)
        if ampm and ampm.lower() == "pm" and h < 12:
            h += 12
        elif ampm and ampm.lower() == "am" and h == 12:
            h = 0
        y = int(year) + (2000 if len(year) == 2 else 0)
        try:
            when = dt.datetime(y, int(month), int(day), h, int(minute or 0), int(second or 0))
        except ValueError:
            when = None
    else:  # month names, RFC 2822 and the like: pandas reads them
        if any(c.isdigit() and not c.isascii() for c in value):
            return unreadable  # digits are 0-9 only, as in amounts
        stamp = pd.to_datetime(
            pd.Series([value]), format="mixed", errors="coerce", dayfirst=given == "day-first"
        )[0]
        if pd.isna(stamp):
            return unreadable
        if stamp.tzinfo is not None:
            return _utc_text(stamp.tz_convert("UTC").tz_localize(None).to_pydatetime())
        when = stamp.to_pydatetime()
    if when is None or not _in_range(when):
        return unreadable
    # A time without a zone is taken in the person's zone; one that does not exist or
    # happens twice there is refused.
    local = when.replace(tzinfo=zone)
    other = when.replace(tzinfo=zone, fold=1)
    back = local.astimezone(dt.UTC).astimezone(zone).replace(tzinfo=None)
    if local.utcoffset() != other.utcoffset() or back != when:
        return "", (
            f"does not exist or happens twice in {name} (the clocks change then): add the "
            "offset, like 2024-03-31T02:30:00+01:00"
        )
    return _utc_text(local.astimezone(dt.UTC).replace(tzinfo=None))


def _civil(*parts: str | None) -> dt.datetime | None:
    year, month, day, hour, minute, second, fraction = parts
    micro = int((fraction or "")[:6].ljust(6, "0"))
    try:
        return dt.datetime(
            int(year or 0), int(month or 0), int(day or 0), int(hour or 0), int(minute or 0),
            int(second or 0), micro,
        )  # fmt: skip
    except ValueError:
        return None


def _in_range(when: dt.datetime) -> bool:
    return FIRST_DATE <= when <= LAST_DATE


def _utc_text(when: dt.datetime) -> tuple[str, str]:
    text = when.strftime("%Y-%m-%dT%H:%M:%S")
    if when.microsecond:
        text += f".{when.microsecond:06d}".rstrip("0")
    return text + "Z", ""


# --- events -----------------------------------------------------------------------------


def _events_of(out: dict[str, str]) -> list[dict[str, str]]:
    """The row's events: a tags column makes one $tag event per tag (see bento_ui.tags)."""
    if "tags" not in out:
        return [out]
    row = {c: v for c, v in out.items() if c != "tags"}
    row.setdefault(TAG_NAME, "")
    tags = split_tags(out["tags"])
    if row["type"] in (TAG, REMOVE_TAG) and tags:
        return [{**row, TAG_NAME: tag} for tag in tags]
    # Beside the row's own event, one $tag event per tag with its email and date only.
    blank = {c: "" for c in row} | {"type": TAG, "email": row["email"], "date": row["date"]}
    return [row, *({**blank, TAG_NAME: tag} for tag in tags)]


def _event(out: dict[str, str], *, raw_numbers: bool) -> dict[str, Any]:
    """The event Bento receives: empty keys left out, dotted details nested, a $purchase
    amount as integer minor units."""
    event: dict[str, Any] = {"type": out["type"], "email": out["email"]}
    fields = {c[len("fields.") :]: v for c, v in out.items() if c.startswith("fields.") and v}
    details: dict[str, Any] = {}
    if out.get("details"):
        details, _ = _parse_details(out["details"])
    for column in (c for c in out if c.startswith("details.")):
        if out[column]:
            *parents, leaf = column.split(".")[1:]
            node = details
            for key in parents:
                node = node.setdefault(key, {})
            node[leaf] = out[column]
    if out["type"] == PURCHASE:
        value = details.get("value")
        if isinstance(value, dict) and "amount" in value:
            value["amount"] = Number(int(value["amount"]))
    if fields:
        event["fields"] = fields
    if details:
        event["details"] = details if raw_numbers else _plain(details)
    if out.get("date"):
        event["date"] = out["date"]
    return event
