"""The vectorised paths give exactly what the one-value-at-a-time rules give."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest

from bento_ui import build_events, emails, json_limits
from bento_ui._regex import SPACE, WHITESPACE
from bento_ui.dates import _format, _iso_seconds
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
