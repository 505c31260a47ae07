"""The client against the local Bento, over a real socket: one test per batch outcome."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bento_ui.client import USER_AGENT, BentoClient
from bento_ui.config import Credentials
from bento_ui.emulator import Emulator
from bento_ui.outcomes import BatchState, Outcome

SECRET = "sk_live_do_not_leak_4242"
PUBLISHABLE = "pk_live_do_not_leak_2424"


def events(n: int) -> list[dict[str, Any]]:
    return [{"type": "webinar_attended", "email": f"person{i}@example.com"} for i in range(n)]


class Sleeps(list[float]):
    """An injected `sleep` that records how long the client asked to wait, and returns."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def bento() -> Iterator[Emulator]:
    """An emulator whose keys are recognisable, to prove they never leak."""
    with Emulator(publishable_key=PUBLISHABLE, secret_key=SECRET) as emulator:
        yield emulator


@contextmanager
def answering(status: int, body: bytes, content_type: str = "text/plain") -> Iterator[str]:
    """A server that is not Bento: it answers every request with this status and body."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def client_for(
    credentials: Credentials, sleeps: Sleeps, **options: Any
) -> BentoClient:
    settings: dict[str, Any] = {
        "connect_timeout": 1.0,
        "read_timeout": 5.0,
        "requests_per_minute": None,
        "sleep": sleeps,
    }
    settings.update(options)
    return BentoClient(credentials, **settings)


def assert_no_keys(*things: object) -> None:
    for thing in things:
        text = repr(thing) + str(thing)
        if isinstance(thing, Outcome):
            text += thing.message
        assert SECRET not in text
        assert PUBLISHABLE not in text


# --- the states ------------------------------------------------------------------------


def test_accepted(bento: Emulator, sleeps: Sleeps) -> None:
    with client_for(bento.credentials, sleeps) as client:
        outcome = client.send_batch(events(3))
    assert outcome.state == "accepted"
    assert (outcome.status, outcome.results, outcome.failed) == (200, 3, 0)
    assert outcome.attempts == 1
    assert not outcome.stop_run
    assert outcome.message == "All 3 events were accepted."
    assert bento.events() == events(3)
    assert sleeps == []


def test_partial_when_bento_counts_failures(bento: Emulator, sleeps: Sleeps) -> None:
    batch = [*events(3), {"type": "x", "email": "not-an-email"}]
    outcome = client_for(bento.credentials, sleeps).send_batch(batch)
    assert outcome.state == "partial"
    assert (outcome.results, outcome.failed) == (3, 1)
    # New meaning: Bento names the refused event, so the message no longer warns that
    # resending duplicates the 3: the failure is named and safe to send again once fixed.
    assert outcome.message == (
        "Bento recorded 3 of 4 events and refused 1, each named with its reason."
    )
    assert [e.index for e in outcome.errors] == [3] and outcome.errors[0].error
    assert outcome.all_failures_named
    assert bento.request_count == 1


def test_partial_from_a_failed_fault(bento: Emulator, sleeps: Sleeps) -> None:
    bento.add_faults([{"failed": 2}])
    outcome = client_for(bento.credentials, sleeps).send_batch(events(5))
    assert (outcome.state, outcome.results, outcome.failed) == ("partial", 3, 2)
    assert [e.index for e in outcome.errors] == [3, 4]  # the last ones, named


def test_a_422_with_counts_rejects_the_batch_and_names_the_events(
    bento: Emulator, sleeps: Sleeps
) -> None:
    bento.add_faults([{"failed": 3}])
    outcome = client_for(bento.credentials, sleeps).send_batch(events(3))
    assert (outcome.state, outcome.status, outcome.results, outcome.failed) == (
        "rejected", 422, 0, 3,
    )  # fmt: skip
    assert [e.index for e in outcome.errors] == [0, 1, 2]
    assert not outcome.stop_run  # the run goes on
    assert "Nothing was recorded" in outcome.message


@pytest.mark.parametrize(
    "body",
    [
        '{"results": 1, "failed": 0}',  # fewer than sent
        '{"results": 1, "failed": 1, "errors": [{"index": 7, "error": "x"}]}',  # not in it
        '{"results": 1, "failed": 1, "errors": [{"index": 0, "error": "x"}, '
        '{"index": 1, "error": "y"}]}',  # more named than counted
    ],
)
def test_counts_that_contradict_the_batch_are_unknown(
    bento: Emulator, sleeps: Sleeps, body: str
) -> None:
    bento.add_faults([{"body": body}])
    outcome = client_for(bento.credentials, sleeps).send_batch(events(2))
    assert (outcome.state, outcome.results, outcome.failed) == ("unknown", None, None)
    assert "contradicts itself" in outcome.message
    assert bento.request_count == 1  # never retried


def test_an_old_answer_without_failed_is_accepted_when_it_counts_every_event(
    bento: Emulator, sleeps: Sleeps
) -> None:
    bento.add_faults([{"body": '{"results": 2}'}])
    outcome = client_for(bento.credentials, sleeps).send_batch(events(2))
    assert (outcome.state, outcome.results, outcome.failed) == ("accepted", 2, 0)


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        ({"status": 400}, "HTTP 400: Bad request"),
        ({"status": 422}, "HTTP 422: events: could not be processed"),
        ({"status": 404}, "404 Not Found"),
    ],
)
def test_rejected_4xx_is_never_retried(
    bento: Emulator, sleeps: Sleeps, fault: dict[str, Any], says: str
) -> None:
    bento.add_faults([fault])
    outcome = client_for(bento.credentials, sleeps).send_batch(events(2))
    assert outcome.state == "rejected"
    assert outcome.status == fault["status"]
    assert says in outcome.message
    assert outcome.attempts == 1
    assert bento.request_count == 1  # a single request: nothing was sent twice
    assert bento.events() == []
    assert sleeps == []


def test_rejected_400_quotes_bentos_error(bento: Emulator, sleeps: Sleeps) -> None:
    outcome = client_for(bento.credentials, sleeps).send_batch([{"type": "x"}])
    assert outcome.state == "rejected"
    assert outcome.status == 400
    assert 'events[0] has no "email"' in outcome.message
    assert not outcome.stop_run


def test_401_rejects_and_stops_the_run(bento: Emulator, sleeps: Sleeps) -> None:
    good = bento.credentials
    wrong = Credentials(good.site_uuid, PUBLISHABLE, "sk_wrong_one", good.base_url)
    outcome = client_for(wrong, sleeps).send_batch(events(2))
    assert outcome.state == "rejected"
    assert outcome.status == 401
    assert outcome.stop_run
    assert outcome.message == (
        "Bento rejected the keys (HTTP 401): check the publishable key, the secret key and "
        "the site UUID."
    )
    assert bento.request_count == 1


def test_403_html_page_is_explained_and_stops_the_run(bento: Emulator, sleeps: Sleeps) -> None:
    bento.add_faults([{"status": 403}])
    outcome = client_for(bento.credentials, sleeps).send_batch(events(1))
    assert (outcome.state, outcome.status, outcome.stop_run) == ("rejected", 403, True)
    assert "HTML page" in outcome.message
    assert "User-Agent" in outcome.message
    assert "<" not in outcome.message


def test_failed_after_five_503s(bento: Emulator, sleeps: Sleeps) -> None:
    bento.add_faults([{"status": 503}] * 6)
    outcome = client_for(bento.credentials, sleeps, backoff_base=1.0, backoff_max=3.0).send_batch(
        events(2)
    )
    assert outcome.state == "failed"
    assert outcome.status == 503
    assert outcome.attempts == 5
    assert bento.request_count == 5
    assert "503 Service Unavailable" in outcome.message  # from the HTML page's title
    assert "after 5 attempts" in outcome.message
    assert bento.events() == []
    # four waits between five attempts, full jitter under 1, 2, 3 (capped), 3 seconds
    assert len(sleeps) == 4
    assert all(0 <= wait <= cap for wait, cap in zip(sleeps, [1, 2, 3, 3], strict=True))


def test_a_transient_500_is_retried_then_accepted(bento: Emulator, sleeps: Sleeps) -> None:
    bento.add_faults([{"status": 500}, {"status": 502}])
    outcome = client_for(bento.credentials, sleeps).send_batch(events(2))
    assert (outcome.state, outcome.attempts) == ("accepted", 3)
    assert bento.events() == events(2)  # recorded once
    assert len(sleeps) == 2


def test_unknown_after_a_read_timeout_is_not_retried(bento: Emulator, sleeps: Sleeps) -> None:
    bento.add_faults([{"delay": 2}])
    outcome = client_for(bento.credentials, sleeps, read_timeout=0.3).send_batch(events(2))
    assert outcome.state == "unknown"
    assert outcome.status is None
    assert outcome.message.startswith("No answer after the events were sent")
    assert "Check Bento before sending this batch again." in outcome.message
    assert bento.events() == events(2)  # Bento did record them
    assert bento.request_count == 1
    assert not outcome.stop_run


@pytest.mark.parametrize("drop", ["after_body", "before_body"])
def test_unknown_after_a_dropped_connection_is_not_retried(
    bento: Emulator, sleeps: Sleeps, drop: str
) -> None:
    bento.add_faults([{"drop": drop}])
    outcome = client_for(bento.credentials, sleeps).send_batch(events(2))
    assert outcome.state == "unknown"
    assert "may have recorded" in outcome.message
    assert bento.request_count == 1
    assert sleeps == []
    # after_body: recorded; before_body: not. The client cannot tell, so it says unknown.
    assert bento.events() == (events(2) if drop == "after_body" else [])


@pytest.mark.parametrize(
    ("body", "says"),
    [(b"OK", "OK"), (b'{"status": "queued"}', '{"status": "queued"}'), (b"", "an empty answer")],
)
def test_unknown_when_a_200_has_no_counts(sleeps: Sleeps, body: bytes, says: str) -> None:
    with answering(200, body) as base_url:
        creds = Credentials("site", PUBLISHABLE, SECRET, base_url)
        outcome = client_for(creds, sleeps).send_batch(events(1))
    assert outcome.state == "unknown"
    assert outcome.status == 200
    assert "without the expected counts" in outcome.message
    assert says in outcome.message
    assert "Check Bento before sending this batch again." in outcome.message


def test_long_error_bodies_are_shortened_and_html_is_stripped(sleeps: Sleeps) -> None:
    page = b"<html><body><p>" + b"Something broke. " * 100 + b"</p></body></html>"
    with answering(418, page, "text/html") as base_url:
        creds = Credentials("site", PUBLISHABLE, SECRET, base_url)
        outcome = client_for(creds, sleeps).send_batch(events(1))
    assert outcome.state == "rejected"
    assert "an HTML page: Something broke." in outcome.message
    assert "<p>" not in outcome.message
    assert len(outcome.message) < 350


def test_429_retry_after_is_honoured(bento: Emulator, sleeps: Sleeps) -> None:
    bento.add_faults([{"status": 429, "retry_after": 7}])
    outcome = client_for(bento.credentials, sleeps).send_batch(events(2))
    assert (outcome.state, outcome.attempts) == ("accepted", 2)
    assert sleeps == [7.0]
    assert bento.events() == events(2)


def test_429_retry_after_as_http_date_is_capped(bento: Emulator, sleeps: Sleeps) -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    bento.add_faults([{"status": 429, "retry_after": later}])
    outcome = client_for(bento.credentials, sleeps, max_retry_after=45).send_batch(events(1))
    assert outcome.state == "accepted"
    assert sleeps == [45.0]


def test_429_for_ever_fails_and_says_to_slow_down(bento: Emulator, sleeps: Sleeps) -> None:
    bento.add_faults([{"status": 429, "retry_after": 1}] * 3)
    outcome = client_for(bento.credentials, sleeps, max_attempts=3).send_batch(events(1))
    assert (outcome.state, outcome.status, outcome.attempts) == ("failed", 429, 3)
    assert "Bento kept rate-limiting" in outcome.message
    assert "send fewer requests a minute (`--rate` in the cli" in outcome.message.lower()
    assert sleeps == [1.0, 1.0]


def test_connection_refused_is_retried_then_failed(sleeps: Sleeps) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    nowhere = Credentials("site", PUBLISHABLE, SECRET, f"http://127.0.0.1:{port}/api/v1")
    outcome = client_for(nowhere, sleeps).send_batch(events(1))
    assert outcome.state == "failed"
    assert outcome.status is None
    assert outcome.attempts == 5
    assert len(sleeps) == 4
    assert "Could not connect" in outcome.message
    assert "connection refused" in outcome.message
    assert_no_keys(outcome)


def test_pacing_spaces_request_starts(bento: Emulator, sleeps: Sleeps) -> None:
    client = client_for(bento.credentials, sleeps, requests_per_minute=120)
    for _ in range(3):
        assert client.send_batch(events(1)).state == "accepted"
    # 120 a minute = one start every 0.5 s; the recorded sleeps do not pass time,
    # so the third start waits for both slots.
    assert len(sleeps) == 2
    assert sleeps[0] == pytest.approx(0.5, abs=0.2)
    assert sleeps[1] == pytest.approx(1.0, abs=0.2)


def test_no_pacing_means_no_waits(bento: Emulator, sleeps: Sleeps) -> None:
    client = client_for(bento.credentials, sleeps, requests_per_minute=None)
    for _ in range(3):
        client.send_batch(events(1))
    assert sleeps == []
    assert bento.request_count == 3


def test_retry_waits_also_respect_pacing(bento: Emulator, sleeps: Sleeps) -> None:
    bento.add_faults([{"status": 503, "retry_after": 0}])
    client = client_for(bento.credentials, sleeps, requests_per_minute=6)
    assert client.send_batch(events(1)).state == "accepted"
    assert len(sleeps) == 1
    assert sleeps[0] == pytest.approx(10.0, abs=0.2)  # the pacing slot, not the 0 s


# --- checking the connection -----------------------------------------------------------


def test_check_connection_ok_records_nothing(bento: Emulator, sleeps: Sleeps) -> None:
    check = client_for(bento.credentials, sleeps).check_connection()
    assert check.ok
    assert check.status == 200
    assert "the keys and the site UUID work" in check.message
    assert bento.events() == []
    assert bento.request_count == 1


def test_check_connection_bad_keys(bento: Emulator, sleeps: Sleeps) -> None:
    good = bento.credentials
    for wrong in (
        Credentials(good.site_uuid, PUBLISHABLE, "sk_wrong", good.base_url),
        Credentials("another-site", PUBLISHABLE, SECRET, good.base_url),
    ):
        check = client_for(wrong, sleeps).check_connection()
        assert not check.ok
        assert check.status == 401
        assert "check the publishable key, the secret key and the site UUID" in check.message
        assert_no_keys(check)


def test_check_connection_nothing_listening(sleeps: Sleeps) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    nowhere = Credentials("site", PUBLISHABLE, SECRET, f"http://127.0.0.1:{port}/api/v1")
    check = client_for(nowhere, sleeps).check_connection()
    assert (check.ok, check.status) == (False, None)
    assert "Could not reach" in check.message


# --- secrecy and the basics ------------------------------------------------------------


def test_no_message_or_repr_contains_the_keys(bento: Emulator, sleeps: Sleeps) -> None:
    bento.add_faults([
        {"status": 401}, {"status": 403}, {"status": 422}, {"status": 503},
        {"status": 503}, {"drop": "after_body"}, {"delay": 2}, {"failed": 1},
    ])
    client = client_for(bento.credentials, sleeps, max_attempts=2, read_timeout=0.3)
    outcomes = [client.send_batch(events(2)) for _ in range(8)]
    assert {o.state for o in outcomes} == {"rejected", "failed", "unknown", "accepted", "partial"}
    assert_no_keys(client, *outcomes, client.check_connection())


def test_states_and_user_agent() -> None:
    assert set(BatchState) == {
        "waiting", "sending", "accepted", "partial", "rejected", "failed", "unknown", "skipped",
    }  # fmt: skip
    assert USER_AGENT.startswith("bento-ui/")


@pytest.mark.parametrize("bypass", [False, True])
def test_the_environments_proxy_is_used_unless_no_proxy_names_the_host(
    bento: Emulator, sleeps: Sleeps, bypass: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The client reads the proxy settings once, not at every request: still those of
    # the environment, as requests reads them.
    for name in ("no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    answer = b'{"results": 1, "failed": 0}'
    with answering(200, answer, "application/json") as proxy:
        for name in ("http_proxy", "HTTP_PROXY"):
            monkeypatch.setenv(name, proxy.removesuffix("/api/v1"))
        if bypass:
            monkeypatch.setenv("no_proxy", "127.0.0.1")
        with client_for(bento.credentials, sleeps) as client:
            outcomes = [client.send_batch(events(1)) for _ in range(2)]
    assert [o.state for o in outcomes] == ["accepted", "accepted"]
    assert bento.events() == (events(1) * 2 if bypass else [])
