"""Faults survived: a multi-batch send against the emulator's fault API, for every way
Bento (or the network in between) can misbehave.

Each test drives the library's send loop, `send(valid, credentials, batch_size=2,
client=...)`, over five batches of two events, with one fault planted in the middle,
and checks three things a person relies on:

- the report accounts for every event: in = recorded + failed + unknown + not sent, with
  one state per batch;
- the emulator recorded nothing twice: no batch is sent again without consent;
- the message says what to do.

A few run the real `bento-ui send` process with BENTO_* pointing at the emulator.
Waits are recorded, not slept: the client gets a `sleep` that notes the wait and moves
the client's clock on by as much.
"""

from __future__ import annotations

import csv
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
from cli_support import Done
from cli_support import run as run_cli

from bento_ui import BentoClient, Credentials, Emulator, SendReport, build_events, send, validate
from bento_ui.batching import Batch
from bento_ui.outcomes import ANSWER_LOST, NOT_RECORDED

EVENTS = 10
BATCH = 2
BATCHES = EVENTS // BATCH


class Sleeps(list[float]):
    """An injected `sleep`: records each wait and, instead of waiting, moves the client's
    clock on by as much, so that pacing sees the time as gone."""

    def __init__(self) -> None:
        super().__init__()
        self.slept = 0.0

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        self.slept += seconds

    def monotonic(self) -> float:
        return time.monotonic() + self.slept


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> Sleeps:
    recorder = Sleeps()
    clock = SimpleNamespace(monotonic=recorder.monotonic, sleep=recorder)
    monkeypatch.setattr("bento_ui.client.time", clock)
    return recorder


@pytest.fixture
def valid() -> pd.DataFrame:
    """Ten valid events on spreadsheet rows 2-11, as `validate(...).valid` gives them."""
    table = pd.DataFrame(
        {
            "type": ["webinar_attended"] * EVENTS,
            "email": [f"person{i}@example.com" for i in range(EVENTS)],
            "date": ["2024-01-05 13:45"] * EVENTS,
            "fields.first_name": [f"Person {i}" for i in range(EVENTS)],
        },
        index=pd.Index(range(2, EVENTS + 2), name="row"),
    )
    result = validate(table)
    assert result.problems.empty
    return result.valid


def client_for(credentials: Credentials, sleeps: Sleeps, **options: Any) -> BentoClient:
    settings: dict[str, Any] = {
        "connect_timeout": 1.0,
        "read_timeout": 5.0,
        "requests_per_minute": None,
        "backoff_base": 1.0,
        "backoff_max": 4.0,
        "sleep": sleeps,
    }
    return BentoClient(credentials, **(settings | options))


def run(
    valid: pd.DataFrame, emulator: Emulator, sleeps: Sleeps, *faults: dict[str, Any], **options: Any
) -> SendReport:
    emulator.add_faults(list(faults))
    with client_for(emulator.credentials, sleeps, **options) as client:
        return send(valid, emulator.credentials, batch_size=BATCH, client=client)


def batches_to_retry(report: SendReport, *, include_unknown: bool = False) -> list[Batch]:
    """The batches of which Bento recorded nothing (and, on request, the unknown ones)."""
    return report.batches_in(*NOT_RECORDED, *(ANSWER_LOST if include_unknown else ()))


def states(report: SendReport) -> list[str]:
    return list(report.table["state"])


def column(report: SendReport, name: str) -> list[Any]:
    return [None if pd.isna(v) else v for v in report.table[name]]


def assert_accounted(report: SendReport, valid: pd.DataFrame) -> None:
    """Every event that went in is in exactly one of the totals, and in one batch."""
    t = report.totals
    assert t["events"] == len(valid) == t["recorded"] + t["failed"] + t["unknown"] + t["not sent"]
    table = report.table
    assert list(table["batch"]) == list(range(1, BATCHES + 1))
    assert table["events"].sum() == len(valid)
    rows = [row for r in report.results for row in r.batch.rows]
    assert rows == [int(r) for r in valid.index]  # every spreadsheet row, once, in order


def assert_nothing_twice(emulator: Emulator, valid: pd.DataFrame) -> None:
    """The emulator recorded each event at most once, exactly as it was built."""
    recorded = emulator.events()
    repeats = [e for e, n in Counter(e["email"] for e in recorded).items() if n > 1]
    assert repeats == []
    built = {e["email"]: e for e in build_events(valid)}
    assert all(event == built[event["email"]] for event in recorded)


def recorded_emails(emulator: Emulator) -> list[str]:
    return [e["email"] for e in emulator.events()]


def emails_of(valid: pd.DataFrame, *batches: int) -> list[str]:
    """The emails of the given 1-based batches, in sending order."""
    emails = list(valid["email"])
    return [e for b in batches for e in emails[(b - 1) * BATCH : b * BATCH]]


# --- rate limits --------------------------------------------------------------------------


def test_429_with_retry_after_waits_that_long_then_sends(
    valid: pd.DataFrame, emulator: Emulator, sleeps: Sleeps
) -> None:
    report = run(valid, emulator, sleeps, {}, {"status": 429, "retry_after": 7})
    assert states(report) == ["accepted"] * BATCHES
    assert column(report, "attempts") == [1, 2, 1, 1, 1]
    assert sleeps == [7.0]  # Bento's word, not a guess
    assert report.ok and report.totals["recorded"] == EVENTS
    assert emulator.request_count == BATCHES + 1
    assert recorded_emails(emulator) == list(valid["email"])
    assert_accounted(report, valid)
    assert_nothing_twice(emulator, valid)


def test_429_without_retry_after_backs_off_with_jitter(
    valid: pd.DataFrame, emulator: Emulator, sleeps: Sleeps
) -> None:
    report = run(valid, emulator, sleeps, {}, {"status": 429}, {"status": 429})
    assert states(report) == ["accepted"] * BATCHES
    assert column(report, "attempts") == [1, 3, 1, 1, 1]
    assert len(sleeps) == 2
    assert 0 <= sleeps[0] <= 1.0 and 0 <= sleeps[1] <= 2.0  # full jitter under 1 s, 2 s
    assert recorded_emails(emulator) == list(valid["email"])
    assert_accounted(report, valid)
    assert_nothing_twice(emulator, valid)


def test_429_for_ever_fails_the_batch_says_slow_down_and_the_run_goes_on(
    valid: pd.DataFrame, emulator: Emulator, sleeps: Sleeps
) -> None:
    report = run(valid, emulator, sleeps, {}, *[{"status": 429, "retry_after": 1}] * 5)
    assert states(report) == ["accepted", "failed", "accepted", "accepted", "accepted"]
    failed = report.results[1]
    assert (failed.status, failed.attempts, failed.results) == (429, 5, None)
    assert failed.message == (
        "Bento kept rate-limiting the requests (HTTP 429) after 5 attempts: nothing was "
        "recorded. Send fewer requests a minute (`--rate` in the CLI, \"Requests per minute\" "
        "in the app) and send this batch again."
    )
    assert not report.stopped  # a rate limit passes: the later batches were sent
    assert report.totals == {
        "events": 10, "recorded": 8, "failed": 0, "unknown": 0, "not sent": 2,
    }  # fmt: skip
    assert recorded_emails(emulator) == emails_of(valid, 1, 3, 4, 5)
    assert_accounted(report, valid)

    # The person says "send it again": only the failed batch goes, and nothing doubles.
    again = batches_to_retry(report)
    assert [b.number for b in again] == [2]
    with client_for(emulator.credentials, sleeps) as client:
        retried = send(valid, emulator.credentials, batch_size=BATCH, client=client)
    assert [r.state for r in retried.results] == ["accepted"]
    assert [r.batch.rows for r in retried.results] == [again[0].rows]
    assert sorted(recorded_emails(emulator)) == sorted(valid["email"])
    assert_nothing_twice(emulator, valid)


# --- server errors ------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_burst_of_server_errors_is_ridden_out(
    valid: pd.DataFrame, emulator: Emulator, sleeps: Sleeps, status: int
) -> None:
    report = run(valid, emulator, sleeps, {}, {}, *[{"status": status}] * 4)
    assert states(report) == ["accepted"] * BATCHES
    assert column(report, "attempts") == [1, 1, 5, 1, 1]
    # four waits, exponential with full jitter: under 1, 2, 4 and 4 (the cap) seconds
    assert len(sleeps) == 4
    assert all(0 <= s <= cap for s, cap in zip(sleeps, [1, 2, 4, 4], strict=True))
    assert emulator.request_count == BATCHES + 4
    assert recorded_emails(emulator) == list(valid["email"])
    assert_accounted(report, valid)
    assert_nothing_twice(emulator, valid)


def test_a_mixed_burst_is_ridden_out(
    valid: pd.DataFrame, emulator: Emulator, sleeps: Sleeps
) -> None:
    faults = [{"status": 500}, {"status": 502}, {"status": 503}, {"status": 504}]
    report = run(valid, emulator, sleeps, *faults)
    assert column(report, "attempts") == [5, 1, 1, 1, 1]
    assert report.ok
    assert_nothing_twice(emulator, valid)


@pytest.mark.parametrize(
    ("status", "says"),
    [
        (500, "HTTP 500: Internal server error"),
        (502, "HTTP 502: an HTML page: 502 Bad Gateway"),
        (503, "HTTP 503: an HTML page: 503 Service Unavailable"),
        (504, "HTTP 504: an HTML page: 504 Gateway Timeout"),
    ],
)
def test_server_errors_that_outlast_the_retries_fail_one_batch(
    valid: pd.DataFrame, emulator: Emulator, sleeps: Sleeps, status: int, says: str
) -> None:
    report = run(valid, emulator, sleeps, {}, {}, {}, *[{"status": status}] * 5)
    assert states(report) == ["accepted", "accepted", "accepted", "failed", "accepted"]
    failed = report.results[3]
    assert (failed.status, failed.attempts) == (status, 5)
    assert failed.message == (
        f"Bento kept failing ({says}) after 5 attempts: nothing was recorded. "
        "Send this batch again later."
    )
    assert "<" not in failed.message  # the HTML page is described, not pasted
    assert report.totals["not sent"] == BATCH
    assert recorded_emails(emulator) == emails_of(valid, 1, 2, 3, 5)
    assert_accounted(report, valid)
    assert_nothing_twice(emulator, valid)
    assert [b.number for b in batches_to_retry(report)] == [4]


# --- the network --------------------------------------------------------------------------


def test_connection_refused_fails_every_batch_and_sends_nothing(
    valid: pd.DataFrame, emulator: Emulator, sleeps: Sleeps
) -> None:
    credentials = emulator.credentials
    emulator.stop()  # the port is closed: every connection is refused
    with client_for(credentials, sleeps, max_attempts=3) as client:
        report = send(valid, credentials, batch_size=BATCH, client=client)
    assert states(report) == ["failed"] * BATCHES
    assert column(report, "attempts") == [3] * BATCHES
    assert column(report, "status") == [None] * BATCHES
    host = credentials.base_url.split("/")[2]
    assert report.results[0].message == (
        f"Could not connect to {host} after 3 attempts (connection refused): check the "
        "network and the API address. Nothing was sent; send this batch again later."
    )
    assert report.totals == {
        "events": 10, "recorded": 0, "failed": 0, "unknown": 0, "not sent": 10,
    }  # fmt: skip
    assert len(sleeps) == 2 * BATCHES  # two backoffs between three attempts, per batch
    assert_accounted(report, valid)
    # Nothing reached anyone, so every batch may be sent again.
    assert [b.number for b in batches_to_retry(report)] == list(range(1, BATCHES + 1))


def test_a_read_timeout_leaves_the_batch_unknown_and_never_resends_it(
    valid: pd.DataFrame, emulator: Emulator, sleeps: Sleeps
) -> None:
    # 2 s: long enough for the other batches' answers on a busy machine.
    report = run(valid, emulator, sleeps, {}, {"delay": 30}, read_timeout=2.0)
    assert states(report) == ["accepted", "unknown", "accepted", "accepted", "accepted"]
    unknown = report.results[1]
    assert (unknown.status, unknown.attempts, unknown.results) == (None, 1, None)
    assert unknown.message == (
        "No answer after the events were sent (nothing within 2 s): Bento may have "
        "recorded them. Check Bento before sending this batch again."
    )
    assert report.totals == {
        "events": 10, "recorded": 8, "failed": 0, "unknown": 2, "not sent": 0,
    }  # fmt: skip
    assert emulator.request_count == BATCHES  # sent once, never retried
    assert sleeps == []
    # Bento did record it, which is why resending without asking would double it.
    assert recorded_emails(emulator) == list(valid["email"])
    assert_accounted(report, valid)
    assert_nothing_twice(emulator, valid)
    assert batches_to_retry(report) == []
    assert [b.number for b in batches_to_retry(report, include_unknown=True)] == [2]


# --- refusals -----------------------------------------------------------------------------


def test_a_401_in_the_middle_stops_the_run_and_sends_nothing_after_it(
    valid: pd.DataFrame, emulator: Emulator, sleeps: Sleeps
) -> None:
    report = run(valid, emulator, sleeps, {}, {}, {"status": 401})
    assert states(report) == ["accepted", "accepted", "rejected", "skipped", "skipped"]
    assert column(report, "status") == [200, 200, 401, None, None]
    says = (
        "Bento rejected the keys (HTTP 401): check the publishable key, the secret key and "
        "the site UUID."
    )
    assert report.results[2].message == says
    assert report.stopped == says
    assert report.results[3].message == f"not sent: the run stopped. {says}"
    assert emulator.request_count == 3  # nothing after the 401 was sent
    assert recorded_emails(emulator) == emails_of(valid, 1, 2)
    assert report.totals == {
        "events": 10, "recorded": 4, "failed": 0, "unknown": 0, "not sent": 6,
    }  # fmt: skip
    assert_accounted(report, valid)
    assert_nothing_twice(emulator, valid)
    assert [b.number for b in batches_to_retry(report)] == [3, 4, 5]


def test_an_html_403_page_stops_the_run_and_is_explained(
    valid: pd.DataFrame, emulator: Emulator, sleeps: Sleeps
) -> None:
    report = run(valid, emulator, sleeps, {"status": 403})
    assert states(report) == ["rejected"] + ["skipped"] * (BATCHES - 1)
    message = report.results[0].message
    assert message.startswith("Bento refused the request with an HTML page (HTTP 403)")
    assert "User-Agent" in message and "proxy" in message and "check the keys" in message
    assert "<" not in message
    assert emulator.request_count == 1
    assert emulator.events() == []
    assert report.totals["not sent"] == EVENTS
    assert_accounted(report, valid)


# --- answers that do not add up ---------------------------------------------------------


def test_partial_failed_counts_are_reported_and_not_resent(
    valid: pd.DataFrame, emulator: Emulator, sleeps: Sleeps
) -> None:
    report = run(valid, emulator, sleeps, {}, {"failed": 1}, {}, {"failed": 2})
    # New meaning: a batch of which every event is refused is answered 422: rejected.
    assert states(report) == ["accepted", "partial", "accepted", "rejected", "accepted"]
    assert column(report, "status") == [200, 200, 200, 422, 200]
    assert column(report, "results") == [2, 1, 2, 0, 2]
    assert column(report, "failed") == [0, 1, 0, 2, 0]
    # New meaning: Bento names each refused event, so the message and `failures` say which.
    assert report.results[1].message == (
        "Bento recorded 1 of 2 events and refused 1, each named with its reason."
    )
    assert [(f.row, f.email) for f in report.failures] == [
        (5, "person3@example.com"), (8, "person6@example.com"), (9, "person7@example.com"),
    ]  # fmt: skip
    assert all(r.uncertain_events == 0 for r in report.results)
    assert report.totals == {
        "events": 10, "recorded": 7, "failed": 3, "unknown": 0, "not sent": 0,
    }  # fmt: skip
    assert len(emulator.events()) == 7
    assert not report.ok
    assert_accounted(report, valid)
    assert_nothing_twice(emulator, valid)
    # Resending a partial batch would double what Bento accepted: not without asking;
    # the rejected one recorded nothing.
    assert [b.number for b in batches_to_retry(report)] == [4]
    # Sending the events again sends exactly the ones Bento refused by name.
    with client_for(emulator.credentials, sleeps) as client:
        again = send(valid, emulator.credentials, batch_size=BATCH, client=client)
    assert [row for r in again.results for row in r.batch.rows] == [5, 8, 9]
    assert len(emulator.events()) == 10
    assert_nothing_twice(emulator, valid)


@pytest.mark.parametrize("body", ["OK", "<html><body>Thanks!</body></html>", "", "{results: 2"])
def test_a_200_whose_body_is_not_json_leaves_the_batch_unknown(
    valid: pd.DataFrame, emulator: Emulator, sleeps: Sleeps, body: str
) -> None:
    report = run(valid, emulator, sleeps, {}, {}, {"body": body})
    assert states(report) == ["accepted", "accepted", "unknown", "accepted", "accepted"]
    unknown = report.results[2]
    assert (unknown.status, unknown.attempts) == (200, 1)
    assert unknown.message.startswith("Bento answered HTTP 200 without the expected counts (")
    assert unknown.message.endswith(
        "Bento may have recorded them. Check Bento before sending this batch again."
    )
    assert "<" not in unknown.message
    assert report.totals["unknown"] == BATCH and report.totals["recorded"] == EVENTS - BATCH
    # The emulator did record the batch (the answer was garbled, not the request).
    assert recorded_emails(emulator) == list(valid["email"])
    assert emulator.request_count == BATCHES
    assert_accounted(report, valid)
    assert_nothing_twice(emulator, valid)
    assert batches_to_retry(report) == []


def test_counts_that_do_not_add_up_leave_the_rest_unknown(
    valid: pd.DataFrame, emulator: Emulator, sleeps: Sleeps
) -> None:
    # Bento answers 200 with counts for fewer events than were sent.
    report = run(valid, emulator, sleeps, {"body": '{"results": 1, "failed": 0}'})
    first = report.results[0]
    # New meaning: counts that do not add up to the batch make it unknown, counts not kept.
    assert (first.state, first.results, first.failed) == ("unknown", None, None)
    assert "contradicts itself" in first.message and "results 1" in first.message
    assert report.totals == {
        "events": 10, "recorded": 8, "failed": 0, "unknown": 2, "not sent": 0,
    }  # fmt: skip
    assert_accounted(report, valid)
    assert batches_to_retry(report) == []


def test_a_non_json_error_body_is_retried_and_quoted(
    valid: pd.DataFrame, emulator: Emulator, sleeps: Sleeps
) -> None:
    report = run(valid, emulator, sleeps, *[{"status": 502, "body": "upstream went away"}] * 5)
    assert states(report)[0] == "failed"
    assert "HTTP 502: upstream went away" in report.results[0].message
    assert_accounted(report, valid)


# --- the emulator's `body` fault --------------------------------------------------------


def test_body_fault_answers_raw_text_and_keeps_status(emulator: Emulator) -> None:
    import requests

    c = emulator.credentials
    emulator.add_faults([{"body": "OK"}, {"status": 418, "body": "<p>teapot</p>"}])
    post = {
        "url": c.events_url,
        "params": {"site_uuid": c.site_uuid},
        "auth": (c.publishable_key, c.secret_key),
        "headers": {"User-Agent": "test"},
        "json": {"events": [{"type": "t", "email": "a@example.com"}]},
        "timeout": 5,
    }
    first = requests.post(**post)  # type: ignore[arg-type]
    assert (first.status_code, first.text) == (200, "OK")
    assert first.headers["Content-Type"].startswith("text/plain")
    assert len(emulator.events()) == 1  # processed as usual
    second = requests.post(**post)  # type: ignore[arg-type]
    assert (second.status_code, second.text) == (418, "<p>teapot</p>")
    assert second.headers["Content-Type"].startswith("text/html")
    assert len(emulator.events()) == 1  # a status fault records nothing
    with pytest.raises(ValueError, match=r"faults\[0\].body must be text"):
        emulator.add_faults([{"body": 42}])
    with pytest.raises(ValueError, match="cannot both drop the connection and answer a body"):
        emulator.add_faults([{"drop": "after_body", "body": "x"}])


# --- the CLI ------------------------------------------------------------------------------


@pytest.fixture
def export(tmp_path: Path) -> Path:
    path = tmp_path / "attendees.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["Email Address", "Event"])
        writer.writerows([f"user{i}@example.com", "webinar_attended"] for i in range(25))
    return path


def bento_ui_send(path: Path, emulator: Emulator, *args: str) -> Done:
    return run_cli("send", str(path), "--batch-size", "10", *args, emulator=emulator)


def test_cli_server_errors_fail_one_batch_and_a_second_send_fills_the_gap(
    export: Path, emulator: Emulator
) -> None:
    emulator.add_faults([{}, *[{"status": 503, "retry_after": 0}] * 5])
    done = bento_ui_send(export, emulator)
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        "batch 2/3  rows 12-21  10 events  nothing recorded  failed: Bento kept failing "
        "(HTTP 503: an HTML page: 503 Service Unavailable) after 5 attempts: nothing was "
        "recorded. Send this batch again later."
    ) in done.stdout
    assert "Total: 25 events: 15 recorded by Bento, 0 failed, 0 unknown, 10 not sent." in (
        done.stdout
    )
    assert "Traceback" not in done.stderr
    assert emulator.request_count == 7 and len(emulator.events()) == 15

    # Sending the same file again sends only what was not recorded.
    again = bento_ui_send(export, emulator)
    assert again.returncode == 0, again.stdout + again.stderr
    assert emulator.request_count == 8
    emails = [e["email"] for e in emulator.events()]
    assert sorted(emails) == sorted(f"user{i}@example.com" for i in range(25))
    assert len(set(emails)) == 25  # nothing recorded twice


def test_cli_unknown_batch_says_to_check_bento(export: Path, emulator: Emulator) -> None:
    emulator.add_faults([{}, {"body": "OK"}])
    done = bento_ui_send(export, emulator)
    assert done.returncode == 1
    assert "batch 2/3  rows 12-21  10 events  no answer  unknown: Bento answered HTTP 200 " in (
        done.stdout
    )
    assert "Total: 25 events: 15 recorded by Bento, 0 failed, 10 unknown, 0 not sent." in (
        done.stdout
    )
    assert "check Bento before sending" in done.stdout
    assert emulator.request_count == 3 and len(emulator.events()) == 25
    assert "Traceback" not in done.stderr


def test_cli_html_403_stops_the_run(export: Path, emulator: Emulator) -> None:
    emulator.add_faults([{}, {"status": 403}])
    done = bento_ui_send(export, emulator)
    assert done.returncode == 1
    assert "Bento refused the request with an HTML page (HTTP 403)" in done.stdout
    assert "batch 3/3  rows 22-26  5 events  nothing recorded  skipped" in done.stdout
    assert "Total: 25 events: 10 recorded by Bento, 0 failed, 0 unknown, 15 not sent." in (
        done.stdout
    )
    assert "Stopped early" in done.stdout
    assert emulator.request_count == 2
    assert emulator.credentials.secret_key not in done.stdout + done.stderr


def test_cli_rides_out_a_429_with_retry_after(export: Path, emulator: Emulator) -> None:
    emulator.add_faults([{"status": 429, "retry_after": 1}])
    done = bento_ui_send(export, emulator)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Total: 25 events: 25 recorded by Bento" in done.stdout
    assert emulator.request_count == 4 and len(emulator.events()) == 25
