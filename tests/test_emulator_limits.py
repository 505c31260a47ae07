"""The local Bento under load and under odd JSON, over a real socket: many clients at
once, bodies nested too deep, numbers too large; every answer a 4xx with a message,
never a 500 or a reset, and nothing that is not JSON ever served back."""

from __future__ import annotations

import json
import threading
from typing import Any

import pandas as pd
import pytest
import requests

from bento_ui import build_events, validate
from bento_ui.emulator import Emulator
from bento_ui.json_limits import MAX_DETAILS_DEPTH

UA = {"User-Agent": "tests/1"}
CLIENTS = 20
BATCHES_EACH = 60  # 1,200 batches: with a listen backlog of 5, a few were reset


def post_body(bento: Emulator, body: bytes, session: Any = requests) -> requests.Response:
    creds = bento.credentials
    return session.post(  # type: ignore[no-any-return]
        creds.events_url,
        params={"site_uuid": creds.site_uuid},
        data=body,
        auth=(creds.publishable_key, creds.secret_key),
        headers={**UA, "Content-Type": "application/json"},
        timeout=10,
    )


def nested(depth: int) -> str:
    """An object `depth` levels deep: {"a": {"a": ... 1 ...}}."""
    return '{"a":' * depth + "1" + "}" * depth


def events_body(details: str) -> bytes:
    return ('{"events":[{"type":"t","email":"a@example.com","details":' + details + "}]}").encode()


def served(bento: Emulator) -> dict[str, Any]:
    """/_emulator/events read as strict JSON (no NaN or Infinity)."""
    answer = requests.get(f"{bento.url}/_emulator/events", timeout=10)
    assert answer.status_code == 200

    def refuse(name: str) -> None:
        raise AssertionError(f"{name} served, which is not JSON")

    parsed: dict[str, Any] = json.loads(answer.text, parse_constant=refuse)
    return parsed


def test_twenty_clients_sending_at_once_are_all_answered(emulator: Emulator) -> None:
    start = threading.Barrier(CLIENTS)
    statuses: list[int] = []
    failures: list[str] = []

    def client(n: int) -> None:
        with requests.Session() as session:
            start.wait()
            for b in range(BATCHES_EACH):
                event = {"type": "load", "email": f"c{n}.b{b}@example.com"}
                body = json.dumps({"events": [event]}).encode()
                try:
                    statuses.append(post_body(emulator, body, session).status_code)
                except requests.RequestException as exc:
                    failures.append(repr(exc))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []  # no connection reset, refused or aborted
    assert statuses == [200] * (CLIENTS * BATCHES_EACH)
    assert len(emulator.events()) == CLIENTS * BATCHES_EACH


@pytest.mark.parametrize("path", ["events", "faults"])
def test_json_nested_100k_deep_is_a_400_that_says_so(emulator: Emulator, path: str) -> None:
    body = ("[" * 100_000 + "]" * 100_000).encode()
    if path == "events":
        answer = post_body(emulator, body)
    else:
        answer = requests.post(f"{emulator.url}/_emulator/faults", data=body, timeout=10)
    assert answer.status_code == 400
    assert "more than" in answer.json()["error"] and "levels deep" in answer.json()["error"]
    assert emulator.events() == []
    assert post_body(emulator, events_body("{}")).status_code == 200  # still answering


def test_details_as_deep_as_validation_allows_are_recorded_and_served_back(
    emulator: Emulator,
) -> None:
    for depth in (MAX_DETAILS_DEPTH // 2, MAX_DETAILS_DEPTH):
        answer = post_body(emulator, events_body(nested(depth)))
        assert (answer.status_code, answer.json()) == (200, {"results": 1, "failed": 0})
    recorded = served(emulator)["events"]
    assert [e["details"] for e in recorded] == [
        json.loads(nested(MAX_DETAILS_DEPTH // 2)),
        json.loads(nested(MAX_DETAILS_DEPTH)),
    ]
    assert emulator.events() == recorded


def test_details_deeper_than_validation_allows_are_refused_by_both() -> None:
    rows = pd.DataFrame(
        {
            "type": ["t", "t"],
            "email": ["a@example.com", "b@example.com"],
            "date": ["", ""],
            "details": [nested(MAX_DETAILS_DEPTH), nested(MAX_DETAILS_DEPTH + 1)],
        },
        index=pd.RangeIndex(2, 4, name="row"),
        dtype="str",
    )
    result = validate(rows)
    [problem] = result.problems.itertuples()
    assert (problem.row, problem.column, problem.severity) == (3, "details", "error")
    assert f"more than {MAX_DETAILS_DEPTH} levels deep" in problem.message
    with Emulator() as bento:
        # What validation lets through, the sandbox records; one level more it refuses.
        (event,) = build_events(result.valid)
        assert post_body(bento, json.dumps({"events": [event]}).encode()).status_code == 200
        deeper = post_body(bento, events_body(nested(MAX_DETAILS_DEPTH + 1)))
        assert deeper.status_code == 400
        assert "levels deep" in deeper.json()["error"]
        assert len(bento.events()) == 1


@pytest.mark.parametrize("number", ["1e999", "-1e999", "1.5e400"])
def test_numbers_too_large_for_json_are_a_400_and_never_served(
    emulator: Emulator, number: str
) -> None:
    answer = post_body(emulator, events_body('{"n": ' + number + "}"))
    assert answer.status_code == 400
    assert f"holds the number {number}, too large for a JSON number" in answer.json()["error"]
    assert served(emulator)["events"] == []


def test_an_unpaired_surrogate_is_a_400_and_the_events_stay_servable(
    emulator: Emulator,
) -> None:
    answer = post_body(emulator, events_body('{"s": "\\ud800"}'))
    assert answer.status_code == 400
    assert "unpaired surrogate" in answer.json()["error"]
    paired = post_body(emulator, events_body('{"s": "\\ud83d\\ude00"}'))
    assert paired.status_code == 200
    assert [e["details"] for e in served(emulator)["events"]] == [{"s": "\U0001f600"}]


def test_a_fault_with_an_unpaired_surrogate_is_refused_when_queued(emulator: Emulator) -> None:
    answer = requests.post(
        f"{emulator.url}/_emulator/faults",
        data=b'{"faults": [{"body": "\\udfff"}]}',
        timeout=10,
    )
    assert answer.status_code == 400
    assert "unpaired surrogate" in answer.json()["error"]
    assert post_body(emulator, events_body("{}")).status_code == 200  # no fault was queued
