"""Properties of the validators and the payload builder, for any input hypothesis finds.

- `validate` never raises, and every row of any event table is exactly one of: valid,
  with an error, or empty;
- `build_events` of what validation let through never raises, is JSON Bento (and the
  emulator) accept, and round-trips: the email and type are the trimmed cells, fields
  are the cells, dotted details sit at their paths, a `$purchase` amount is the cell's
  integer (a decimal written in cents is refused; see tests/test_money.py);
- `parse_dates` never raises, gives each cell a date or a reason, and reads back the
  instant that was written, in every common form;
- `emails.valid_emails` (a whole column, in pyarrow) agrees with `emails.is_valid` (one
  address, in Python) on every text.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bento_ui import build_events, validate
from bento_ui import emails as em
from bento_ui.dates import parse_dates
from bento_ui.emulator import _check_events, refusal

# Moderate counts: the machines have two cores. Validation of a whole table costs tens of
# milliseconds, so the table properties run fewer examples than the single-value ones.
SETTINGS = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TABLES = settings(SETTINGS, max_examples=60)
NOW = pd.Timestamp("2030-01-01T00:00:00Z")
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z")
# Control characters (but tab and line breaks) are removed from fields and details.
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def sent(cell: str) -> str:
    """A field or detail cell as it is sent: what was checked, trimmed (issue 11)."""
    return CONTROL.sub("", cell).strip()


# --- cells ------------------------------------------------------------------------------

SPACE = st.sampled_from(["", " ", "  ", "\t", "\u00a0", "\u3000", "\n"])
EMAILS = st.sampled_from(
    [
        "jane@example.com", "josé@exämple.de", "用户@例子.广告", "user@xn--bcher-kva.example",
        "a.b+c@sub.example.co.uk", "jane@", "@example.com", "jane@example", "a..b@example.com",
        "jane@@example.com", "ja ne@example.com", "jane@exa_mple.com", "jane@-example.com",
        "x" * 70 + "@example.com", "jane@example.c", "jane@example.123",
    ]
)  # fmt: skip
TYPES = st.sampled_from(
    [
        "webinar_attended", "$purchase", "$tag", "$remove_tag", "$subscribe",
        "$update_fields", "purchase", "$purchse", "Signed Up", "$",
    ]
)  # fmt: skip
DATES = st.sampled_from(
    [
        "2024-01-05", "2024-01-05T13:45:00Z", "2024-01-05T13:45:00+02:00", "2024-01-05 13:45",
        "45296", "45296.5", "05/01/2024", "26/11/2023", "11/26/2023", "5 Jan 2024",
        "Fri, 05 Jan 2024 13:45:00 +0100", "not a date", "2024-02-30", "2024-13-01",
        "24:61", "1500-01-01", "9999-12-31T23:59:59Z", "2024-03-31 02:30", "0",
    ]
)  # fmt: skip
JSONISH = st.sampled_from(
    [
        "{}", '{"plan": "pro"}', '{"a": {"b": [1, 2]}}', "[1, 2]", "[]", '"text"', "42",
        "null", "true", "NaN", '{"x": NaN}', '{"x": Infinity}', "{", "[", '{"a": 1',
        '{"value": {"amount": 4999, "currency": "USD"}, "unique": {"key": "o-1"}}',
        '{"value": {"amount": "12.50"}}', '{"tag": "vip"}', '{"a": null}', '{"a": "x"}',
        '{"unique": {"key": 5}}', "[" * 3000, '{"": 1}', '{"a.b": 2}',
    ]
)  # fmt: skip
AMOUNTS = st.sampled_from(["4999", " 4999 ", "4999.00", "-5", "0", "12.5", "1e3", "٤٩", "", "x"])
CURRENCIES = st.sampled_from(["USD", "EUR", "usd", "US", "USDX", "", " GBP "])


def padded(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.builds(lambda a, s, b: a + s + b, SPACE, inner, SPACE)


def cells(good: st.SearchStrategy[str], bad: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Values that pass, padded or not; values that should not, JSON-ish text, any text."""
    return st.one_of(good, padded(good), bad, padded(JSONISH), st.text(max_size=12))


ANY = st.text(max_size=12)
GOOD_EMAILS = st.sampled_from(
    ["jane@example.com", "josé@exämple.de", "用户@例子.广告", "a.b+c@sub.example.co.uk"]
)
# column: (values that pass, values that may not)
COLUMNS: dict[str, tuple[st.SearchStrategy[str], st.SearchStrategy[str]]] = {
    "type": (st.sampled_from(["webinar_attended", "Signed Up", "$subscribe"]), TYPES),
    "email": (GOOD_EMAILS, EMAILS),
    "date": (st.sampled_from(["", "2024-01-05", "2024-01-05T13:45:00+02:00"]), DATES),
    "fields.plan": (ANY, st.sampled_from(["007", "+44 20 7946 0000", "TRUE"])),
    "fields.tags": (ANY, JSONISH),
    "details": (st.sampled_from(["", "{}", '{"plan": "pro"}', '{"c": {"d": 1}}']), JSONISH),
    "details.tag": (ANY, st.sampled_from(["vip", "beta"])),
    "details.unique.key": (ANY, st.sampled_from(["order-1", "42"])),
    "details.value.amount": (st.sampled_from(["4999", "0", " 12 ", "10.00"]), AMOUNTS),
    "details.value.currency": (st.sampled_from(["USD", "EUR"]), CURRENCIES),
    "details.a": (ANY, st.sampled_from(["x", "1"])),
    "details.a.b": (ANY, st.sampled_from(["y", "2"])),
}
CORE = ("type", "email", "date")


def good_cell(column: str) -> st.SearchStrategy[str]:
    return st.one_of(COLUMNS[column][0], padded(COLUMNS[column][0]))


@st.composite
def event_tables(draw: st.DrawFn) -> pd.DataFrame:
    """Tables of up to 6 rows over a random choice of columns (type, email and date are
    there 9 times in 10). Each row is either clean (values that pass, so that rows get
    through validation and round-trip) or anything at all."""
    columns = [
        c for c in COLUMNS if (draw(st.integers(0, 9)) > 0 if c in CORE else draw(st.booleans()))
    ]
    size = draw(st.integers(0, 6))
    rows = sorted(draw(st.lists(st.integers(2, 10_000), min_size=size, max_size=size, unique=True)))
    records = []
    for _ in range(size):
        clean = draw(st.booleans())
        records.append({c: draw(good_cell(c) if clean else cells(*COLUMNS[c])) for c in columns})
    data = {c: [record[c] for record in records] for c in columns}
    return pd.DataFrame(data, index=pd.Index(rows, name="row"), dtype="str")


# --- validate and build_events ------------------------------------------------------------


def dig(obj: Any, path: list[str]) -> Any:
    for key in path:
        assert isinstance(obj, dict), (obj, path)
        obj = obj[key]
    return obj


@TABLES
@given(event_tables())
def test_every_row_is_valid_or_has_an_error_or_is_empty(table: pd.DataFrame) -> None:
    result = validate(table, now=NOW)
    valid, errors, empty = set(result.valid.index), set(result.error_rows), set(result.empty_rows)
    assert valid | errors | empty == set(table.index)
    assert not (valid & errors) and not (valid & empty) and not (errors & empty)
    assert result.rows == len(table)
    problems = result.problems
    assert set(problems["row"]) <= set(table.index) - empty
    assert set(problems["severity"]) <= {"error", "warning"}
    assert (problems["message"].str.len() > 0).all() and (problems["column"] != "").all()


@TABLES
@given(event_tables())
def test_valid_rows_build_the_events_they_say(table: pd.DataFrame) -> None:
    result = validate(table, now=NOW)
    events = build_events(result.valid)
    assert len(events) == len(result.valid)
    body = json.loads(json.dumps({"events": events}, allow_nan=False))  # what Bento receives
    if events:
        assert not isinstance(_check_events(body, 1000), str)  # no 400 from the emulator
    for row, event in zip(result.valid.index, events, strict=True):
        cell = table.loc[row]
        assert all(refusal(event) is None for event in body["events"])
        assert event["type"] == cell["type"].strip()
        assert event["email"] == cell["email"].strip()
        fields = {
            c[len("fields.") :]: sent(v)
            for c, v in cell.items()
            if c.startswith("fields.") and sent(v)
        }
        assert event.get("fields", {}) == fields
        purchase = event["type"] == "$purchase"
        for column, value in cell.items():
            value = sent(value)
            if not column.startswith("details.") or value == "":
                continue
            at = dig(event["details"], column.split(".")[1:])
            if purchase and column == "details.value.amount":
                assert type(at) is int and at == int(float(value.strip()))
            else:
                assert at == value
        if "details" in cell and sent(cell["details"]).strip():
            from_json = json.loads(sent(cell["details"]).strip())
            for key, value in from_json.items():
                if not (purchase and key == "value"):
                    assert event["details"][key] == value
        if purchase:
            amount = event["details"]["value"]["amount"]
            assert type(amount) is int
        if "date" in cell and cell["date"].strip():
            assert ISO_UTC.fullmatch(event["date"]), event["date"]
        else:
            assert "date" not in event


@TABLES
@given(
    key=st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=10).filter(
        str.strip
    ),
    cents=st.integers(-(10**12), 10**12),
    form=st.sampled_from(["{}", " {} "]),
    currency=st.sampled_from(["USD", "EUR", "JPY"]),
)
def test_purchase_amounts_are_sent_as_the_cells_integer(
    key: str, cents: int, form: str, currency: str
) -> None:
    table = pd.DataFrame(
        {
            "type": ["$purchase"],
            "email": ["buyer@example.com"],
            "details.unique.key": [key],
            "details.value.amount": [form.format(cents)],
            "details.value.currency": [currency],
        },
        index=pd.Index([2], name="row"),
    )
    result = validate(table, now=NOW)
    assert result.errors.empty, result.problems.to_dict("records")
    [event] = build_events(result.valid)
    assert event["details"]["value"] == {"amount": cents, "currency": currency}
    assert event["details"]["unique"] == {"key": key.strip()}  # sent as it was checked


# --- dates --------------------------------------------------------------------------------


@SETTINGS
@given(
    st.lists(st.one_of(padded(DATES), st.text(max_size=30)), max_size=8),
    st.sampled_from([None, "day-first", "month-first"]),
    st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]),
)
def test_parse_dates_gives_every_cell_a_date_or_a_reason(
    values: list[str], order: Any, timezone: str
) -> None:
    parsed = parse_dates(pd.Series(values, dtype="str"), timezone=timezone, order=order)
    for value, iso, error in zip(values, parsed.iso, parsed.error, strict=True):
        if not value.strip():
            assert (iso, error) == ("", "")
        else:
            assert (iso == "") != (error == ""), (value, iso, error)
            assert iso == "" or ISO_UTC.fullmatch(iso)


FORMS = {
    # form: (strftime pattern, order to read it with)
    "iso": ("%Y-%m-%dT%H:%M:%S", None),
    "iso-space-minutes": ("%Y-%m-%d %H:%M", None),
    "iso-z": ("%Y-%m-%dT%H:%M:%SZ", None),
    "slash-ymd": ("%Y/%m/%d %H:%M", None),
    "day-first-dots": ("%d.%m.%Y %H:%M", "day-first"),
    "day-first-slashes": ("%d/%m/%Y %H:%M:%S", "day-first"),
    "month-first-ampm": ("%m/%d/%Y %I:%M %p", "month-first"),
    "month-first-dashes": ("%m-%d-%Y", "month-first"),
    "long-month": ("%d %B %Y %H:%M", None),
    "short-month": ("%b %d, %Y", None),
}


def minutes(form: str) -> st.SearchStrategy[dt.datetime]:
    stamps = st.datetimes(dt.datetime(1960, 1, 1), dt.datetime(2100, 12, 31))
    if "%S" in FORMS[form][0]:
        return stamps.map(lambda d: d.replace(microsecond=0))
    if "%H" in FORMS[form][0] or "%I" in FORMS[form][0]:
        return stamps.map(lambda d: d.replace(second=0, microsecond=0))
    return stamps.map(lambda d: d.replace(hour=0, minute=0, second=0, microsecond=0))


@SETTINGS
@given(
    st.sampled_from(list(FORMS)).flatmap(
        lambda f: st.tuples(st.just(f), st.lists(minutes(f), min_size=1, max_size=5))
    )
)
def test_dates_read_back_the_instant_written_in_every_common_form(
    case: tuple[str, list[dt.datetime]],
) -> None:
    form, stamps = case
    pattern, order = FORMS[form]
    text = [d.strftime(pattern) for d in stamps]
    parsed = parse_dates(pd.Series(text, dtype="str"), order=order)
    expected = [d.strftime("%Y-%m-%dT%H:%M:%SZ") for d in stamps]
    assert list(parsed.iso) == expected, text
    assert (parsed.error == "").all()


@SETTINGS
@given(
    st.datetimes(dt.datetime(1960, 1, 1), dt.datetime(2100, 12, 31)),
    st.integers(-12 * 60, 14 * 60),
    st.sampled_from(["isoformat", "space", "compact-offset"]),
)
def test_dates_with_an_offset_are_converted_to_utc(
    stamp: dt.datetime, offset_minutes: int, style: str
) -> None:
    zone = dt.timezone(dt.timedelta(minutes=offset_minutes))
    local = stamp.replace(microsecond=0, tzinfo=zone)
    text = {
        "isoformat": local.isoformat(),
        "space": local.isoformat(sep=" "),
        "compact-offset": local.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }[style]
    parsed = parse_dates(pd.Series([text], dtype="str"), timezone="Asia/Tokyo")
    assert parsed.iso[0] == local.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), text


@SETTINGS
@given(st.datetimes(dt.datetime(1960, 1, 1), dt.datetime(2100, 12, 31)))
def test_excel_serial_numbers_are_days_since_1899_12_30(stamp: dt.datetime) -> None:
    stamp = stamp.replace(microsecond=0)
    delta = stamp - dt.datetime(1899, 12, 30)
    serial = f"{delta.days + delta.seconds / 86400:.10f}".rstrip("0").rstrip(".")
    parsed = parse_dates(pd.Series([serial], dtype="str"))
    assert parsed.iso[0] == stamp.strftime("%Y-%m-%dT%H:%M:%SZ"), serial


# --- emails -------------------------------------------------------------------------------

ATOM_CHARS = st.characters(
    codec="utf-8", exclude_categories=("Cs",), include_characters="!#$%&'*+/=?^_`{|}~-."
)
EMAIL_LIKE = st.builds(
    lambda local, sep, labels, tld: local + sep + ".".join(labels) + tld,
    st.text(ATOM_CHARS, max_size=8),
    st.sampled_from(["@", "@", "@@", "", " @"]),
    st.lists(st.text(ATOM_CHARS, max_size=6), max_size=3),
    st.sampled_from([".com", ".c", ".co.uk", ".xn--p1ai", ".рф", "", ".", ".123", ".c0m"]),
)


@SETTINGS
@given(st.lists(st.one_of(EMAIL_LIKE, st.text(max_size=20), EMAILS, padded(EMAILS)), max_size=10))
def test_the_column_check_and_the_single_check_agree(values: list[str]) -> None:
    column = em.valid_emails(pd.Series(values, dtype="str"))
    one_by_one = [em.is_valid(v) for v in values]
    disagree = [(v, c) for v, c, o in zip(values, column, one_by_one, strict=True) if c != o]
    assert disagree == []
    for value, ok in zip(values, one_by_one, strict=True):
        if ok:
            assert refusal({"type": "t", "email": value}) is None  # Bento takes it
        else:
            reason = em.explain(value)
            assert reason.startswith("email ") and "Traceback" not in reason
