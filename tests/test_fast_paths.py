"""The vectorised paths give exactly what the one-value-at-a-time rules give."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from bento_ui import build_events, dates, emails, json_limits
from bento_ui._regex import SPACE, WHITESPACE
from bento_ui.dates import _format, _iso_seconds, parse_dates
from bento_ui.payloads import batch_bodies, encode_events


def test_the_whitespace_class_is_pythons() -> None:
    spaces = "".join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace())
    import re

    assert re.fullmatch(f"{SPACE}+", spaces)
    assert all(c in spaces for c in WHITESPACE if c != "-")
    assert not re.search(SPACE, "".join(c for c in map(chr, range(0x3100)) if not c.isspace()))


TRICKY_EMAILS = [
    "jane@example.com", "jörg@bücher.de", "a" * 64 + "@x.com", "a" * 65 + "@x.com",
    "ä" * 65 + "@x.com", "x\u00a0y@x.com", "x\u2003@x.com", "a@b.c\n", "a@x.com\n",
    "user+tag@mail.example.co.uk", "a@xn--bcher-kva.de", "@x.com", "a..b@x.com", "a@x",
    "x" * 250 + "@x.com", "a@@x.com", "a b@x.com", "a\x85b@x.com", "\u3000a@x.com", "",
]  # fmt: skip


def test_valid_emails_agrees_with_the_single_address_rule() -> None:
    column = pd.Series(TRICKY_EMAILS, dtype="str")
    assert list(emails.valid_emails(column)) == [emails.is_valid(e) for e in TRICKY_EMAILS]


def test_dates_are_written_as_strftime_writes_them() -> None:
    rng = np.random.default_rng(7)
    seconds = rng.integers(-5_000_000_000, 9_000_000_000, 5000)
    values = seconds.astype("datetime64[s]").astype("datetime64[ns]")
    expected = [pd.Timestamp(v).strftime("%Y-%m-%dT%H:%M:%SZ") for v in values]
    assert _iso_seconds(values).to_pylist() == expected


def test_fractions_of_a_second_are_kept_only_where_there_are_some() -> None:
    stamps = pd.Series(
        pd.to_datetime(
            ["2024-01-05T13:45:00.250Z", "1969-12-31T23:59:59.5Z", "2024-01-05T13:45:00Z", None],
            utc=True,
            format="ISO8601",
        )
    )
    assert list(_format(stamps)) == [
        "2024-01-05T13:45:00.25Z",
        "1969-12-31T23:59:59.5Z",
        "2024-01-05T13:45:00Z",
        "",
    ]


def _table(rows: list[dict[str, str]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, dtype="str").fillna("")
    frame.index = pd.RangeIndex(2, 2 + len(frame), name="row")
    return frame


ROWS = [
    {"type": "signup", "email": "a@x.com", "fields.first_name": 'Jane "JJ"', "fields.zip": ""},
    {"type": "t\\u", "email": "b@x.com", "fields.first_name": "tab\there\nline\x01", "date": ""},
    {"type": "$purchase", "email": "c@x.com", "details.unique.key": "A1",
     "details.value.amount": " 0049.00 ", "details.value.currency": "USD",
     "details": '{"cart": {"items": [{"sku": "S1", "price": 1.5e3}]}, "note": "ü\\u00e9"}',
     "date": "2024-01-05T00:00:00Z"},
    {"type": "custom", "email": "d@x.com", "details.value.amount": "12.50",
     "details": "{}", "fields.zip": "00123"},
    {"type": "$purchase", "email": "e@x.com", "details": '{"value": {"amount": 15.0}}',
     "details.unique.key": "B2"},
    {"type": "$tag", "email": "f@x.com", "details.tag": "vip", "details": " "},
]  # fmt: skip


@pytest.mark.parametrize("copies", [1, 400])  # 400 copies take the few-distinct-values path
def test_encoded_events_are_the_json_of_build_events(copies: int) -> None:
    valid = _table(ROWS * copies)
    events = build_events(valid)
    texts = encode_events(valid).to_pylist()
    assert texts == [json_limits.dumps(e) for e in events]  # numbers as written: 1.5e3
    # Amounts validation would refuse are never truncated into cents: they go as written.
    assert events[2]["details"]["value"] == {"amount": " 0049.00 ", "currency": "USD"}
    assert repr(events[4]["details"]["value"]) == "{'amount': 15.0}"


def test_batch_bodies_hold_the_events_in_order() -> None:
    valid = _table(ROWS * 3)
    bodies = batch_bodies(encode_events(valid), 4).to_pylist()
    assert [len(json.loads(b)["events"]) for b in bodies] == [4, 4, 4, 4, 2]
    assert [e for b in bodies for e in json.loads(b)["events"]] == build_events(valid)


def _canonical_dates(count: int) -> list[str]:
    """`YYYY-MM-DD HH:MM:SS` text over the whole range pandas holds and past it, with
    days, hours and seconds that do not exist."""
    rng = np.random.default_rng(11)
    seconds = rng.integers(-9_300_000_000, 9_300_000_000, count)
    values = [
        str(v).replace("T", rng.choice([" ", "T"]))
        for v in seconds.astype("datetime64[s]").astype("datetime64[ns]").astype("datetime64[s]")
    ]
    impossible = [
        "2024-02-30 10:00:00", "2023-02-29 10:00:00", "2024-02-29 10:00:00", "2100-02-29 00:00:00",
        "2000-02-29 00:00:00", "2024-04-31 00:00:00", "2024-13-01 00:00:00", "2024-00-10 00:00:00",
        "2024-01-00 00:00:00", "2024-01-05 24:00:00", "2024-01-05 23:60:00", "2024-01-05 10:00:60",
        "1677-09-21 00:12:44", "1678-01-01 00:00:00", "2261-12-31 23:59:59", "2262-04-12 00:00:00",
        "0224-01-05 10:00:00", "2024-01-05t10:00:00", "2024-01-05 10:00:0Z", "2024/01/05 10:00:00",
        "\uff12\uff1024-01-05 10:00", "2024-01-05 10:00:0\u0663", " 2024-01-05 10:00",
        "2024-1-5  10:00:00",
        "2024-01-05_10:00:00", "2024-03-31 02:30:00", "2024-10-27 02:30:00",
    ]  # fmt: skip
    return values + impossible


@pytest.mark.parametrize("timezone", ["UTC", "Europe/Berlin"])
def test_canonical_dates_read_as_the_general_parser_reads_them(timezone: str) -> None:
    values = pd.Series(_canonical_dates(3000), dtype="str")
    fast = parse_dates(values, timezone=timezone)
    general = dates._parse_general(values, timezone, None)
    assert list(fast.iso) == list(general.iso)
    assert list(fast.error) == list(general.error)
    assert "2024-02-30 10:00:00" in set(values[fast.error != ""])  # still an error


def test_the_byte_level_trim_and_control_looks_miss_nothing() -> None:
    import re

    from bento_ui import _arrow_text as arrow_text
    from bento_ui.validation import _CONTROL, _CONTROL_OR_BREAK

    assert not any(c.isspace() for c in map(chr, range(0x3001, sys.maxunicode + 1)))
    chars = [chr(c) for c in range(0x3001)]
    cells = [""] + [f"{c}x" for c in chars] + [f"x{c}" for c in chars] + [f"a{c}b" for c in chars]
    frame = pd.DataFrame({"a": pd.Series(cells, dtype="str")})
    assert list(arrow_text.strip(frame)["a"]) == [c.strip() for c in cells]
    for cell in cells:
        array = arrow_text.flat(pa.array([cell], pa.large_string()))
        if re.search(_CONTROL, cell):
            assert arrow_text.may_hold_controls(array, breaks=False), repr(cell)
        if re.search(_CONTROL_OR_BREAK, cell):
            assert arrow_text.may_hold_controls(array, breaks=True), repr(cell)


@pytest.mark.parametrize(
    ("cells", "every"),
    [(40, 7), (40, 1), (12_000, 2)],  # a few cells, all of them, more than the few
    ids=["few", "all", "many"],
)
@pytest.mark.parametrize("same_lengths", [True, False])
def test_cells_put_in_place_are_what_pyarrows_kernel_puts(
    cells: int, every: int, same_lengths: bool
) -> None:
    from bento_ui import _arrow_text as arrow_text

    rng = np.random.default_rng(cells + every)
    texts = ["".join(rng.choice(list("abcé "), size=int(n))) for n in rng.integers(0, 6, cells + 3)]
    # Sliced, as a column cut from a bigger one is: its offsets do not start at 0.
    array = arrow_text.flat(pa.array(texts, pa.large_string()).slice(3))
    rows = np.zeros(cells, dtype=bool)
    rows[::every] = True
    old = array.filter(pa.array(rows)).to_pylist()
    new = [t.upper() if same_lengths else t + "ü" * (i % 3) for i, t in enumerate(old)]
    values = pa.array(new, pa.large_string())
    expected = pa.compute.replace_with_mask(array, pa.array(rows), values)
    assert arrow_text.replaced(array, rows, values).to_pylist() == expected.to_pylist()


def test_first_characters_are_read_as_pandas_reads_them() -> None:
    from bento_ui import _arrow_text as arrow_text

    cells = ["", "{a", "[1]", " {", "x", "{", "[", "é{", "", "}"] * 3
    column = pd.Series(cells, dtype="str")
    expected = (column.str.startswith("{") | column.str.startswith("[")).to_numpy()
    assert list(arrow_text.starting_with(column, "{[")) == list(expected)
    assert list(arrow_text.starting_with(column.iloc[5:], "{[")) == list(expected[5:])


def test_dates_among_many_written_otherwise_read_as_the_general_parser_reads_them() -> None:
    # More cells than are cut out one by one are written another way (day first, slashes).
    canonical = _canonical_dates(200)
    others = [f"{d:02d}/01/2024 10:{m:02d}" for d in range(1, 29) for m in range(60)] * 4
    cells = np.array(others + canonical * 40 + [""] * 5, dtype=object)
    values = pd.Series(cells[np.random.default_rng(5).permutation(len(cells))], dtype="str")
    fast = parse_dates(values, timezone="UTC", order="day-first")
    general = dates._parse_general(values, "UTC", "day-first")
    assert list(fast.iso) == list(general.iso)
    assert list(fast.error) == list(general.error)


@pytest.mark.parametrize("every", [1, 3, 50], ids=["all but none", "a third", "a few"])
def test_rows_kept_are_what_pandas_keeps(every: int) -> None:
    """`rows` filters by a mask, or takes a few rows by their positions: either way the
    frame pandas' own `frame[keep]` gives (cells, row numbers, names), chunked or not."""
    from bento_ui import _arrow_text as arrow_text

    cells = [f"cell {i} é" if i % 4 else "" for i in range(300)]
    column = pd.Series(pd.arrays.ArrowStringArray(
        pa.chunked_array([cells[:100], cells[100:]], pa.large_string())
    ), dtype="str")  # fmt: skip
    frame = pd.DataFrame({"a": column, "b": column.str.upper()})
    frame.index = pd.RangeIndex(2, 302, name="row")
    keep = np.zeros(300, dtype=bool)
    keep[::every] = True
    keep[7] = every != 1  # never all of them: that is the frame itself
    pd.testing.assert_frame_equal(arrow_text.rows(frame, keep), frame[keep])
