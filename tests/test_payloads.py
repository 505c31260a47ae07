import gc
import json

import pandas as pd
import pytest

from bento_ui import _arrow_text as arrow_text
from bento_ui import build_events, payloads, plan_batches, validate
from bento_ui.batching import describe_rows
from bento_ui.client import batch_body
from bento_ui.payloads import encode_events, to_json

NOW = pd.Timestamp("2026-11-26T12:00:00Z")


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


def test_details_numbers_are_shown_and_sent_as_written() -> None:
    # Before: 1.5e3 went out as 1500.0, 4.50 as 4.5, -0 as 0 and a long decimal rounded.
    written = '{"score": 1.5e3, "price": 4.50, "delta": -0, "id": 12345678901234567890.5, "n": 7}'
    valid = validate(
        pd.DataFrame({"type": ["t"], "email": ["a@x.com"], "details": [written]}), now=NOW
    ).valid
    [event] = build_events(valid)
    shown = "{'score': 1.5e3, 'price': 4.50, 'delta': -0, 'id': 12345678901234567890.5, 'n': 7}"
    assert repr(event["details"]) == shown  # what a notebook shows
    inside = '"score":1.5e3,"price":4.50,"delta":-0,"id":12345678901234567890.5,"n":7'
    assert inside in to_json([event]).replace(": ", ":").replace("\n", "").replace(" ", "")
    [text] = encode_events(valid).to_pylist()  # what the send loop posts
    assert '"details":{' + inside + "}" in text
    assert json.loads(text) == event


def test_a_purchase_amount_is_never_truncated_into_cents() -> None:
    # Before: a table built by hand with 4999.00 went out as 4999 cents (49.99 dollars
    # for what may be 4999 dollars); now it goes out as written and Bento refuses it.
    valid = pd.DataFrame({
        "type": ["$purchase"] * 2, "email": ["a@x.com", "b@x.com"],
        "details.unique.key": ["A1", "A2"],
        "details.value.amount": ["4999.00", "9223372036854775807"],
        "details.value.currency": ["USD", "USD"],
    })  # fmt: skip
    assert [e["details"]["value"]["amount"] for e in build_events(valid)] == [
        "4999.00",
        2**63 - 1,
    ]
    texts = encode_events(valid).to_pylist()
    assert '"amount":"4999.00"' in texts[0] and '"amount":9223372036854775807' in texts[1]


def test_the_posted_bytes_carry_details_numbers_as_written() -> None:
    valid = validate(
        pd.DataFrame({"type": ["t"], "email": ["a@x.com"], "details": ['{"score": 1.5e3}']}),
        now=NOW,
    ).valid
    body = batch_body(build_events(valid))  # what the send engine posts, and curl shows
    assert body == b'{"events":[{"type":"t","email":"a@x.com","details":{"score":1.5e3}}]}'


# --- events written batch by batch from the table (event_texts.TableEvents) ------------

# Edge cases of text and of details: Unicode, a quote, a backslash, control characters,
# blank optional cells, $purchase cents, details JSON whose keys sort before, between and
# after the dotted columns' keys (the canonical JSON sorts them), a null the dotted column
# fills, and a nested dotted object.
EDGE_TABLE = pd.DataFrame(
    {
        "type": ["signup", "$purchase", "$tag", "$purchase", "note", "$purchase"],
        "email": ["a@x.com", "b@x.com", "ü@例え.jp", "d@x.com", "e@x.com", "f@x.com"],
        "date": ["", "2024-01-05T00:00:00Z", "2024-01-06T00:00:00Z", "", "", ""],
        "fields.zip": ["00123", "", 'say "hi"', "", "back\\slash", ""],
        "fields.a_first": ["x", "", "", "", "tab\there\u0001", ""],
        "details.tag": ["", "", "vip", "", "", ""],
        "details.unique.key": ["", "A1", "", "B2", "", "C3"],
        "details.value.amount": ["", "4999", "", "100", "", "7"],
        "details.value.currency": ["", "USD", "", "EUR", "", "JPY"],
        "details": [
            '{"zeta": 1, "alpha": [1, 2.5]}',
            ' {"cart": {"items": [{"sku": "S1", "qty": 2}]}} ',
            '{"tag": null}',
            '{"source": "ad", "x": {"b": 1, "a": 2}}',
            "",
            '{"zz": true, "value2": {}}',
        ],
    },
    index=[2, 3, 4, 5, 7, 8],
)


def test_batch_bodies_are_the_events_of_the_table() -> None:
    from bento_ui.client import batch_body
    from bento_ui.config import Credentials
    from bento_ui.event_texts import TableEvents
    from bento_ui.sending import plan_send

    expected = build_events(EDGE_TABLE)
    credentials = Credentials("site", "pk", "sk", base_url="http://127.0.0.1:9")
    plan = plan_send(EDGE_TABLE, credentials, ledger=None, batch_size=4)
    assert [b.rows for b in plan.batches] == [(2, 3, 4, 5), (7, 8)]
    for batch, part in zip(plan.batches, (expected[:4], expected[4:]), strict=True):
        assert isinstance(batch.events, TableEvents)  # nothing written until it is sent
        body = batch.events.body()
        assert json.loads(body) == json.loads(batch_body(part)) == {"events": part}
        assert list(batch.events) == part and batch.events[1] == part[1]


@pytest.mark.parametrize(("first", "window"), [(2, 3), (4, 4), (20_000, 100_000)])
def test_every_batch_body_is_the_bytes_of_its_dicts_whatever_the_windows(
    first: int, window: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Texts are written a window at a time and a body is cut from its window: batches
    # that straddle windows, and a last short batch, post their own events, each once,
    # byte for byte as the whole table's texts write them.
    from bento_ui import event_texts
    from bento_ui.ledger import payload_hash

    monkeypatch.setattr(event_texts, "FIRST_WINDOW", first)
    monkeypatch.setattr(event_texts, "WINDOW", window)
    table = pd.concat([EDGE_TABLE] * 3, ignore_index=True)
    expected = build_events(table)
    texts = encode_events(table).to_pylist()
    events = event_texts.TableEvents.of(table)
    for start in range(0, len(table), 5):
        part, stop = events[start : start + 5], start + 5
        body = part.body()
        assert body == ('{"events":[' + ",".join(texts[start:stop]) + "]}").encode("utf-8")
        assert json.loads(body) == json.loads(batch_body(expected[start:stop]))
        assert part.payload_hash() == payload_hash(expected[start:stop])
        assert part.texts().to_pylist() == texts[start:stop]  # no separator left on them
    assert events[3:3].body() == b'{"events":[]}'


def test_table_events_fingerprints_are_those_of_the_dicts() -> None:
    from bento_ui.event_texts import TableEvents
    from bento_ui.ledger import event_fingerprint, payload_hash
    from bento_ui.payloads import canonical_json, encode_canonical

    expected = build_events(EDGE_TABLE)
    texts = encode_canonical(EDGE_TABLE).to_pylist()
    assert texts == [canonical_json(e) for e in expected]
    events = TableEvents.of(EDGE_TABLE)
    assert events.fingerprints("site") == [event_fingerprint(e, "site") for e in expected]
    assert events[1:5].payload_hash() == payload_hash(expected[1:5])
    kept = events.select([True, False, True, True, False, True])
    assert kept.fingerprints("site") == [
        event_fingerprint(e, "site") for e in (expected[0], expected[2], expected[3], expected[5])
    ]


@pytest.mark.parametrize(
    "columns",
    [
        ["details.a", "details.a.b", "details.a.c.d"],
        ["details.a.c.d", "details.a.b", "details.a"],
        ["details.a.b", "details.a", "details"],
    ],
)
def test_a_detail_beside_a_longer_path_of_it_is_written_as_its_row_fills_it(
    columns: list[str],
) -> None:
    """details.a and details.a.b as columns (a notebook can make them; no row fills both):
    each row's event text, and its canonical text for fingerprints, are its dict's."""
    from bento_ui.payloads import canonical_json, encode_canonical

    cells = {
        "details.a": ["x", "", "", ""],
        "details.a.b": ["", "y", "", "z"],
        "details.a.c.d": ["", "", "w", "v"],
        "details": ['{"k": 1}', "", '{"a0": 2, "zz": 3}', ""],
    }
    table = pd.DataFrame(
        {"type": ["signup"] * 4, "email": [f"{i}@x.com" for i in range(4)]}
        | {c: cells[c] for c in columns}
    )
    expected = build_events(table)
    assert [json.loads(t) for t in encode_events(table).to_pylist()] == expected
    assert encode_canonical(table).to_pylist() == [canonical_json(e) for e in expected]


def test_fingerprints_and_payload_hashes_are_the_ones_the_last_release_wrote() -> None:
    # The values bento-ui 3c57dc8 computed for these events: a ledger written by it must
    # still recognise them, from dicts and from a table's events alike.
    from bento_ui.event_texts import TableEvents
    from bento_ui.ledger import event_fingerprint, payload_hash

    event = {
        "type": "$purchase", "email": "b@x.com",
        "details": {"cart": {"items": [{"sku": "S1", "qty": 2}]}, "unique": {"key": "A1"},
                    "value": {"amount": 4999, "currency": "USD"}},
        "date": "2024-01-05T00:00:00Z", "fields": {"first_name": 'Zoë "Z"'},
    }  # fmt: skip
    printed = "065a5001d609909df9b84839f90ac89b56a355c84e3541db2ac57ec893d4a64b"
    hashed = "8c443c0214cc8ff98d74051165814b5429f61cf8e3b5aeff9987cb90005d7ba9"
    assert event_fingerprint(event, "site-1").hex() == printed
    assert payload_hash([event, {"type": "signup", "email": "b@x.com"}]) != hashed
    assert payload_hash([event, {"type": "signup", "email": "a@x.com"}]) == hashed
    table = pd.DataFrame(
        {
            "type": ["$purchase", "signup"], "email": ["b@x.com", "a@x.com"],
            "date": ["2024-01-05T00:00:00Z", ""], "fields.first_name": ['Zoë "Z"', ""],
            "details.unique.key": ["A1", ""], "details.value.amount": ["4999", ""],
            "details.value.currency": ["USD", ""],
            "details": ['{"cart": {"items": [{"sku": "S1", "qty": 2}]}}', ""],
        },
        index=[2, 3],
    )  # fmt: skip
    events = TableEvents.of(table)
    assert events.fingerprints("site-1")[0].hex() == printed
    assert events.payload_hash() == hashed


@pytest.mark.parametrize("write_from", [0, 10**9])
def test_both_ways_of_making_a_patterns_events_give_the_same_events(
    write_from: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A pattern of filled cells with many rows gets a function written for it, a rare one
    # is made level by level: each way alone must give what encode_events sends.
    monkeypatch.setattr(payloads, "_WRITE_FROM", write_from)
    table = pd.concat([EDGE_TABLE] * 3, ignore_index=True)
    table.index = pd.RangeIndex(2, len(table) + 2, name="row")
    events = build_events(table)
    assert events == [json.loads(t) for t in encode_events(table).to_pylist()]
    assert len({id(e.get("details")) for e in events if e.get("details")}) == sum(
        1 for e in events if e.get("details"))  # no details object shared by two events


def test_making_events_leaves_the_callers_garbage_collector_as_it_was() -> None:
    # build_events pauses the collector and hands its new dicts to the oldest generation
    # (gc.freeze then gc.unfreeze): objects the caller froze must stay frozen, and the
    # collector stay off or on as the caller had it.
    table = pd.concat([EDGE_TABLE] * 3, ignore_index=True)
    was_enabled = gc.isenabled()
    try:
        gc.freeze()
        frozen = gc.get_freeze_count()
        assert frozen > 0
        for enabled in (False, True):
            (gc.enable if enabled else gc.disable)()
            assert build_events(table) == [json.loads(t) for t in encode_events(table).to_pylist()]
            assert gc.isenabled() is enabled
            # Still frozen (an unfreeze empties the permanent generation); a few of the
            # frozen objects may die meanwhile in another thread of the test run.
            assert gc.get_freeze_count() > frozen // 2
    finally:
        gc.unfreeze()
        (gc.enable if was_enabled else gc.disable)()


def test_each_event_owns_its_nested_details() -> None:
    # Rows with the same details text share one parse: each event must still get dicts
    # and lists of its own, at every level, so changing one event changes no other.
    details = '{"cart": {"items": [{"sku": "S1", "qty": 1}], "n": 1.5e3}, "tags": ["a"]}'
    emails = ["a@x.com", "b@x.com", "c@x.com"]
    events = build_events(pd.DataFrame({"type": "note", "email": emails, "details": details}))
    events[0]["details"]["cart"]["items"][0]["qty"] = 2
    events[0]["details"]["cart"]["items"].append({"sku": "S2"})
    events[1]["details"]["tags"].append("b")
    expected = json.loads(details)
    assert events[2]["details"] == expected
    assert events[1]["details"] == {**expected, "tags": ["a", "b"]}
    assert events[0]["details"]["tags"] == ["a"]


def test_a_big_tables_events_are_the_same_made_with_a_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # In a big table the few-valued columns are encoded in a thread while the others are
    # turned into str: the same events as one thread makes, keys in the same order.
    n = 3000
    table = pd.DataFrame(
        {
            "type": ["$purchase", "signup", "note"] * (n // 3),
            "email": [f"ü{i}@x.com" for i in range(n)],
            "fields.plan": ["free", "", "pro"] * (n // 3),
            "fields.name": [f"N{i}" if i % 4 else "" for i in range(n)],
            "details.value.amount": ["100", "", "7"] * (n // 3),
            "details": ['{"a": 1.5e3}', "", '{"b": [1]}'] * (n // 3),
            "date": [f"2024-01-01T00:00:{i % 60:02d}Z" for i in range(n)],
        },
        dtype="str",
    )
    made = []
    for parallel_from in (10**9, 1):
        monkeypatch.setattr(arrow_text, "PARALLEL_FROM", parallel_from)
        made.append(json.dumps(build_events(table), ensure_ascii=False))
    assert made[0] == made[1]
    assert json.loads(made[1]) == [json.loads(t) for t in encode_events(table).to_pylist()]
