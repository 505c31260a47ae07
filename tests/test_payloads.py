import json

import pandas as pd

from bento_ui import build_events, plan_batches
from bento_ui.batching import describe_rows
from bento_ui.payloads import to_json


def test_events_omit_empty_keys_and_nest_dotted_details() -> None:
    valid = pd.DataFrame(
        {
            "type": ["signup", "$purchase"],
            "email": ["a@x.com", "b@x.com"],
            "date": ["", "2024-01-05T00:00:00Z"],
            "fields.first_name": ["Jane", ""],
            "fields.zip": ["00123", ""],
            "details.unique.key": ["", "A1"],
            "details.value.amount": ["", "4999"],
            "details.value.currency": ["", "USD"],
            "details": ["", '{"cart": {"items": [{"sku": "S1"}]}}'],
        },
        index=[2, 3],
    )
    assert build_events(valid) == [
        # Text stays text: the leading zero of the zip code survives.
        {"type": "signup", "email": "a@x.com", "fields": {"first_name": "Jane", "zip": "00123"}},
        {
            "type": "$purchase",
            "email": "b@x.com",
            "details": {
                "cart": {"items": [{"sku": "S1"}]},
                "unique": {"key": "A1"},
                "value": {"amount": 4999, "currency": "USD"},
            },
            "date": "2024-01-05T00:00:00Z",
        },
    ]


def test_to_json_is_the_request_body() -> None:
    body = json.loads(to_json([{"type": "t", "email": "ü@x.com"}]))
    assert body == {"events": [{"type": "t", "email": "ü@x.com"}]}


def test_batches_remember_their_rows() -> None:
    events = [{"type": "t", "email": f"{i}@x.com"} for i in range(5)]
    batches = plan_batches(events, [2, 3, 4, 7, 8], size=2)
    assert [b.size for b in batches] == [2, 2, 1]
    assert [b.row_ranges for b in batches] == ["2-3", "4, 7", "8"]
    assert [b.number for b in batches] == [1, 2, 3]


def test_describe_rows() -> None:
    assert describe_rows([2, 3, 4, 6, 8, 9]) == "2-4, 6, 8-9"
    assert describe_rows([]) == ""
