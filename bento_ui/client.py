"""HTTP to Bento: send one batch of events, or check that the keys work.

    with BentoClient(credentials) as client:
        outcome = client.send_batch(events)     # a Outcome, never an exception

Every batch ends in one state (`bento_ui.outcomes.BatchState`):

    accepted    200, Bento recorded every event (results = size, failed = 0)
    partial     200, Bento refused some events (failed > 0) and names them in `errors`
                (at most 20, by index in the request): those were not recorded
    rejected    a 4xx that resending would not fix (400, 401, 403, 404, ...); a 422
                with Bento's counts means every event failed, each named in `errors`
                (the run goes on); 401/403/404 set stop_run: every later batch would
                fail the same way
    failed      retries spent on 429, 500/502/503/504 or connection failures that
                happened before the whole request was sent: nothing was recorded
    unknown     the events were sent but no usable answer came back (read timeout,
                connection dropped, a 200 without counts, counts or errors that
                contradict the batch): Bento may have recorded them, so the batch is
                never resent automatically

Retries use exponential backoff with full jitter and honour `Retry-After`; requests are
paced to at most `requests_per_minute` starts a minute. The keys never appear in a
message, a repr or a log line.

A dropped connection is retried only when the client knows the server cannot have the
whole request: the connection could not be opened, or it broke while the body was still
being written (the client's own session tracks whether writing finished; urllib3 hides
a write that failed and only reports the failed read that follows). A connection that
drops after the body was written leaves the batch `unknown`.
"""

from __future__ import annotations

import dataclasses
import email.utils
import html
import json
import os
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError

from bento_ui import json_limits
from bento_ui.config import Credentials
from bento_ui.outcomes import EXTRACT_CHARS, BatchState, EventError, Outcome, redact

try:
    __version__ = version("bento-ui")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0"

USER_AGENT = f"bento-ui/{__version__}"
# The headers of every POST of a batch (`bento_ui.curl` shows the same ones).
POST_HEADERS = (
    ("User-Agent", USER_AGENT),
    ("Content-Type", "application/json"),
    ("Accept", "application/json"),
)


def batch_body(events: list[dict[str, Any]]) -> bytes:
    """The exact bytes posted for a batch (raises TypeError/ValueError when an event
    cannot be written as JSON). `bento_ui.curl` shows the same bytes."""
    body = {"events": events}
    # Numbers in details go out as the person wrote them (1.5e3, 4.50: see
    # `json_limits.dumps`); only details hold such numbers, so only they are looked at.
    if any(json_limits.holds_written(event.get("details")) for event in events):
        return json_limits.dumps(body).encode("utf-8")
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode(
        "utf-8"
    )

ACCEPTED, PARTIAL, REJECTED = BatchState.ACCEPTED, BatchState.PARTIAL, BatchState.REJECTED
FAILED, UNKNOWN = BatchState.FAILED, BatchState.UNKNOWN

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Every later batch would fail the same way: wrong keys (401/403) or a wrong address (404).
STOP_STATUSES = frozenset({401, 403, 404})

_UNKNOWN_ADVICE = "Bento may have recorded them. Check Bento before sending this batch again."


@dataclass(frozen=True)
class ConnectionCheck:
    """Whether the keys and the site UUID work, in words a person can act on."""

    ok: bool
    status: int | None
    message: str


class _Writing(threading.local):
    """Whether this thread's latest request was written out in full (see `_Tracked`)."""

    started = False
    finished = False

    def reset(self) -> None:
        self.started = self.finished = False

    @property
    def cut_short(self) -> bool:
        """True when writing the request began and did not finish: the server cannot
        have the whole body, so it cannot have recorded the events."""
        return self.started and not self.finished


_WRITING = _Writing()


class _TrackedHTTPConnection(HTTPConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        _WRITING.started, _WRITING.finished = True, False
        super().request(*args, **kwargs)  # raises, or returns once every byte is written
        _WRITING.finished = True


class _TrackedHTTPSConnection(HTTPSConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        _WRITING.started, _WRITING.finished = True, False
        super().request(*args, **kwargs)
        _WRITING.finished = True


class _TrackedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _TrackedHTTPConnection


class _TrackedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _TrackedHTTPSConnection


class _TrackingAdapter(HTTPAdapter):
    """requests' adapter, with connections that note whether a request was fully written."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _TrackedHTTPPool,
            "https": _TrackedHTTPSPool,
        }


def _tracking_session() -> requests.Session:
    session = requests.Session()
    session.mount("http://", _TrackingAdapter())
    session.mount("https://", _TrackingAdapter())
    # The environment's proxies and CA bundle are read once per address (`_environment`),
    # not by requests at every request: a walk of os.environ a third of a millisecond
    # long, a tenth of a batch's own time against a local server.
    session.trust_env = False
    return session


def _environment(url: str) -> dict[str, Any]:
    """What requests takes from the environment for a request to `url` when it trusts
    it (`Session.merge_environment_settings`): the proxies (minus NO_PROXY hosts) and
    the CA bundle of REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE."""
    verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    return {"proxies": requests.utils.get_environ_proxies(url), "verify": verify}


class _Pacer:
    """At most `per_minute` request starts a minute: starts are 60/per_minute s apart."""

    def __init__(self, per_minute: float | None) -> None:
        if per_minute is not None and per_minute <= 0:
            raise ValueError("requests_per_minute must be more than 0, or None for no pacing.")
        self.interval = 0.0 if per_minute is None else 60.0 / per_minute
        self._next: float | None = None

    def wait_for(self, now: float) -> float:
        """Seconds to wait from `now` before the next request may start."""
        return 0.0 if self._next is None else max(0.0, self._next - now)

    def started(self, at: float) -> None:
        self._next = at + self.interval


@dataclass(frozen=True)
class _Attempt:
    """What one HTTP attempt gave: a response, or why there is none."""

    response: requests.Response | None = None
    retry: bool = False  # nothing was sent and trying again may help
    final: Outcome | None = None  # nothing more to try: the outcome, minus timings
    reason: str = ""


class BentoClient:
    """Sends batches of events to Bento (or to the emulator) and checks keys."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        requests_per_minute: float | None = 60,
        max_attempts: int = 5,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
        max_retry_after: float = 120.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_wait: Callable[[float, str], None] | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be 1 or more.")
        self._credentials = credentials
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_retry_after = max_retry_after
        # Told before every wait of a second or more between attempts: how long, and why.
        self.on_wait = on_wait
        self._pacer = _Pacer(requests_per_minute)
        self._owns_session = session is None
        # Our own session knows whether a request was fully written (see _Writing); with a
        # session of the caller's, a dropped connection is always `unknown`.
        self._session = session if session is not None else _tracking_session()
        self._environments: dict[str, dict[str, Any]] = {}  # per address, see _environment
        self._sleep = sleep
        self._random = random.Random()

    def __repr__(self) -> str:
        return f"BentoClient({self._credentials!r})"

    def __enter__(self) -> BentoClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP session (only when this client created it)."""
        if self._owns_session:
            self._session.close()

    @property
    def credentials(self) -> Credentials:
        return self._credentials

    # --- public operations

    def send_batch(self, events: list[dict[str, Any]]) -> Outcome:
        """POST one batch to `{base}/batch/events`; the outcome says what Bento did."""
        started = time.monotonic()
        try:
            body = batch_body(events)
        except (TypeError, ValueError) as exc:
            return Outcome(
                FAILED, None, None, None, 0, 0.0,
                f"The events cannot be written as JSON ({exc}): nothing was sent.",
            )
        return self.send_body(body, len(events), started=started)

    def send_body(self, body: bytes, size: int, *, started: float | None = None) -> Outcome:
        """POST a batch of `size` events already written as its request body (what
        `batch_body` gives): the same retries and outcomes as `send_batch`."""
        started = time.monotonic() if started is None else started
        attempts = 0
        status: int | None = None
        retry_wait = 0.0
        last = ""
        while True:
            self._pace(retry_wait)
            attempts += 1
            attempt = self._post(body)
            if attempt.final is not None:
                return self._timed(attempt.final, attempts, started)
            response = attempt.response
            if response is None:  # a connection failure before anything was sent
                status, last = None, attempt.reason
            else:
                status = response.status_code
                if status not in RETRY_STATUSES:
                    return self._timed(self._judge(response, size), attempts, started)
                last = _extract(response, self._secrets())
            if attempts >= self.max_attempts:
                return self._timed(self._gave_up(status, last, attempts), attempts, started)
            retry_wait = self._retry_wait(response, attempts)
            if self.on_wait is not None and retry_wait >= 1:
                self.on_wait(retry_wait, self._why_wait(response, status, retry_wait, attempts))

    def check_connection(self) -> ConnectionCheck:
        """GET `{base}/fetch/tags`: tests the keys and the site UUID, records no event."""
        self._pace(0.0)
        try:
            response = self._session.get(
                f"{self._credentials.base_url}/fetch/tags",
                params={"site_uuid": self._credentials.site_uuid},
                auth=(self._credentials.publishable_key, self._credentials.secret_key),
                headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
                timeout=(self.connect_timeout, self.read_timeout),
                allow_redirects=False,
                **self._environment(f"{self._credentials.base_url}/fetch/tags"),
            )
        except requests.RequestException as exc:
            return ConnectionCheck(
                False, None,
                f"Could not reach {self._host()} ({_reason(exc)}): check the network and "
                "the API address.",
            )
        status = response.status_code
        if 200 <= status < 300:
            where = "Bento" if self._credentials.is_bento else self._host()
            return ConnectionCheck(
                True, status, f"Connected to {where}: the keys and the site UUID work."
            )
        if status == 429:
            return ConnectionCheck(
                False, status,
                "Bento is rate-limiting requests (HTTP 429): wait a minute and check again.",
            )
        if status >= 500:
            return ConnectionCheck(
                False, status,
                f"Bento is having trouble (HTTP {status}: "
                f"{_extract(response, self._secrets())}): try again in a few minutes.",
            )
        return ConnectionCheck(False, status, self._rejection(response))

    # --- one attempt

    def _post(self, body: bytes) -> _Attempt:
        _WRITING.reset()
        try:
            response = self._session.post(
                self._credentials.events_url,
                params={"site_uuid": self._credentials.site_uuid},
                data=body,
                auth=(self._credentials.publishable_key, self._credentials.secret_key),
                headers=dict(POST_HEADERS),
                timeout=(self.connect_timeout, self.read_timeout),
                allow_redirects=False,
                **self._environment(self._credentials.events_url),
            )
        except requests.ConnectTimeout as exc:
            return _Attempt(retry=True, reason=_reason(exc))
        except requests.ReadTimeout:
            return _Attempt(final=_unknown(
                f"No answer after the events were sent (nothing within {self.read_timeout:g} s): "
                + _UNKNOWN_ADVICE
            ))
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                requests.exceptions.InvalidSchema) as exc:
            return _Attempt(final=Outcome(
                FAILED, None, None, None, 0, 0.0,
                f"The API address {self._credentials.base_url!r} is not a valid URL "
                f"({type(exc).__name__}): check the base URL. Nothing was sent.",
                stop_run=True,
            ))
        except requests.exceptions.SSLError as exc:
            return _Attempt(final=Outcome(
                FAILED, None, None, None, 0, 0.0,
                f"The secure connection to {self._host()} failed ({_reason(exc)}): check the "
                "API address and the system's certificates. Nothing was sent.",
                stop_run=True,
            ))
        except requests.ConnectionError as exc:
            if _failed_before_sending(exc):
                return _Attempt(retry=True, reason=_reason(exc))
            if _WRITING.cut_short:
                return _Attempt(
                    retry=True, reason=f"{_reason(exc)} before the whole request was sent"
                )
            return _Attempt(final=_unknown(
                f"No answer after the events were sent ({_reason(exc)}): " + _UNKNOWN_ADVICE
            ))
        except requests.RequestException as exc:
            return _Attempt(final=_unknown(
                f"No usable answer after the events were sent ({_reason(exc)}): "
                + _UNKNOWN_ADVICE
            ))
        return _Attempt(response=response)

    # --- judging an answer

    def _judge(self, response: requests.Response, size: int) -> Outcome:
        status = response.status_code
        if 200 <= status < 300:
            return self._counts(response, size)
        if status == 422 and _count(_json(response), "failed") is not None:
            return self._counts(response, size)  # every event of the batch failed, named
        return Outcome(
            REJECTED, status, message=self._rejection(response),
            stop_run=status in STOP_STATUSES,
        )

    def _counts(self, response: requests.Response, size: int) -> Outcome:
        """Bento's counts and named failures, if they agree with the batch; else unknown.

        `{"results": N, "failed": M, "errors": [{"index", "error"}]}`: `errors` is optional
        (older answers have none) and holds at most 20 items. Counts that contradict the
        batch (N + M is not its size, an index outside it) leave the batch unknown, with
        the answer quoted: a Bento that contradicts itself cannot be trusted either way.
        """
        status = response.status_code
        payload = _json(response)
        results = _count(payload, "results")
        failed = _count(payload, "failed")
        if results is None or (failed is None and results != size):
            return _unknown(
                f"Bento answered HTTP {status} without the expected counts "
                f"({_extract(response, self._secrets())}): " + _UNKNOWN_ADVICE,
                status,
            )
        failed = 0 if failed is None else failed
        errors = _errors(payload, size, self._secrets())
        contradiction = (
            f"results {results} + failed {failed} is not the {size} events sent"
            if results + failed != size
            else "it lists refused events that are not in the batch, or twice"
            if errors is None
            else f"it names {len(errors)} refused events but counts {failed}"
            if len(errors) > failed
            else "it answered 422 (every event refused) but recorded some"
            if status == 422 and results
            else ""
        )
        if contradiction:
            return _unknown(
                f"Bento's answer contradicts itself ({contradiction}: "
                f"{_extract(response, self._secrets())}): " + _UNKNOWN_ADVICE,
                status,
            )
        assert errors is not None
        if failed == 0:
            return Outcome(
                ACCEPTED, status, results, failed,
                message="The event was accepted." if size == 1
                else f"All {size} events were accepted.",
            )
        named = (
            "each named with its reason"
            if len(errors) == failed
            else f"naming {len(errors)} of them (Bento names at most 20): the other "
            f"{size - len(errors)} events may or may not have been recorded"
        )
        if results == 0:
            return Outcome(
                REJECTED, status, results, failed, errors=tuple(errors),
                message=f"Bento refused every event of this batch (HTTP {status}), "
                f"{named}. Nothing was recorded: fix them and send them again.",
            )
        return Outcome(
            PARTIAL, status, results, failed, errors=tuple(errors),
            message=f"Bento recorded {results} of {size} events and refused {failed}, {named}.",
        )

    def _rejection(self, response: requests.Response) -> str:
        status = response.status_code
        extract = _extract(response, self._secrets())
        if status == 401:
            return (
                "Bento rejected the keys (HTTP 401): check the publishable key, the secret "
                "key and the site UUID."
            )
        if status == 403:
            if _is_html(response):
                return (
                    "Bento refused the request with an HTML page (HTTP 403): its edge blocks "
                    "requests without a User-Agent or from a blocked network. Check that "
                    "nothing between you and Bento (a proxy, a firewall) rewrites requests, "
                    "then check the keys."
                )
            return (
                f"Bento refused access (HTTP 403: {extract}): check that the keys belong to "
                "this site and may write events."
            )
        if status == 404:
            url = self._credentials.base_url
            return (
                f"Bento answered 404 Not Found ({extract}): check the API address {url!r}."
            )
        if status == 413:
            return (
                f"Bento refused the batch as too large (HTTP 413: {extract}): send smaller "
                "batches."
            )
        if status in (400, 422):
            return (
                f"Bento rejected the batch (HTTP {status}: {extract}): nothing was recorded. "
                "Fix the events and send this batch again."
            )
        if 300 <= status < 400:
            target = _location(response, self._secrets())
            return (
                f"Bento answered with a redirect (HTTP {status}) to {target}: check the API "
                "address. Nothing was recorded."
            )
        return f"Bento rejected the batch (HTTP {status}: {extract}). Nothing was recorded."

    def _gave_up(self, status: int | None, last: str, attempts: int) -> Outcome:
        tries = f"after {attempts} attempt{'s' if attempts != 1 else ''}"
        if status is None:
            message = (
                f"Could not connect to {self._host()} {tries} ({last}): check the network "
                "and the API address. Nothing was sent; send this batch again later."
            )
        elif status == 429:
            message = (
                f"Bento kept rate-limiting the requests (HTTP 429) {tries}: nothing was "
                "recorded. Send fewer requests a minute (`--rate` in the CLI, \"Requests per "
                "minute\" in the app) and send this batch again."
            )
        else:
            message = (
                f"Bento kept failing (HTTP {status}: {last}) {tries}: nothing was recorded. "
                "Send this batch again later."
            )
        return Outcome(FAILED, status, None, None, attempts, 0.0, message)

    # --- waiting

    def _pace(self, retry_wait: float) -> None:
        """Sleep the longer of the retry wait and the pacing wait, then note the start."""
        now = time.monotonic()
        wait = max(retry_wait, self._pacer.wait_for(now))
        if wait > 0:
            self._sleep(wait)
        self._pacer.started(now + wait)

    def _why_wait(
        self, response: requests.Response | None, status: int | None, wait: float, attempts: int
    ) -> str:
        """The sentence a person sees while the send waits before its next attempt."""
        what = (
            "Bento is rate-limiting requests (HTTP 429)" if status == 429
            else f"Bento answered HTTP {status}" if status is not None
            else f"{self._host()} could not be reached"
        )  # fmt: skip
        asked = _retry_after(response.headers.get("Retry-After")) if response is not None else None
        if asked is not None and asked > wait:
            why = (f"it asked to wait {asked:,.0f} s; waiting {wait:,.0f} s, the longest this "
                   "tool waits")  # fmt: skip
        elif asked is not None:
            why = f"waiting {wait:,.0f} s, as it asked"
        else:
            why = f"waiting {wait:,.1f} s"
        return f"{what}: {why}, then trying again (attempt {attempts + 1} of {self.max_attempts})."

    def _retry_wait(self, response: requests.Response | None, attempts: int) -> float:
        if response is not None:
            retry_after = _retry_after(response.headers.get("Retry-After"))
            if retry_after is not None:
                return min(retry_after, self.max_retry_after)
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (attempts - 1))
        return self._random.uniform(0, max(0.0, ceiling))

    # --- small helpers

    def _timed(self, outcome: Outcome, attempts: int, started: float) -> Outcome:
        return dataclasses.replace(
            outcome,
            attempts=attempts,
            seconds=round(time.monotonic() - started, 3),
            message=_redact(outcome.message, self._secrets()),
        )

    def _environment(self, url: str) -> dict[str, Any]:
        """Proxies and CA bundle from the environment for our own session, read once per
        address (a caller's session reads them itself, or not, as it is set)."""
        if not self._owns_session:
            return {}
        found = self._environments.get(url)
        if found is None:
            found = self._environments[url] = _environment(url)
        return {"proxies": dict(found["proxies"]), "verify": found["verify"]}

    def _secrets(self) -> tuple[str, str]:
        return (self._credentials.secret_key, self._credentials.publishable_key)

    def _host(self) -> str:
        parts = urlsplit(self._credentials.base_url)
        return parts.netloc or self._credentials.base_url


def _unknown(message: str, status: int | None = None) -> Outcome:
    return Outcome(UNKNOWN, status, message=message)


def _json(response: requests.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return None


def _errors(payload: object, size: int, secrets: tuple[str, ...]) -> list[EventError] | None:
    """The refused events Bento named, in index order; None when the list contradicts
    the batch (an index outside it, or one index twice). Absent means none named."""
    items = payload.get("errors") if isinstance(payload, dict) else None
    if not isinstance(items, list):
        return []
    found: dict[int, str] = {}
    for item in items:
        index = item.get("index") if isinstance(item, dict) else None
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < size:
            return None
        if index in found:
            return None
        error = item.get("error", "") if isinstance(item, dict) else ""
        text = error if isinstance(error, str) else json.dumps(error, ensure_ascii=False)
        text = _redact(_SPACE.sub(" ", text).strip(), secrets)
        found[index] = _truncate(text) or "no reason given"
    return [EventError(i, found[i]) for i in sorted(found)]


def _count(payload: object, key: str) -> int | None:
    """A count from Bento's answer, None when it is missing or not a whole number >= 0."""
    value = payload.get(key) if isinstance(payload, dict) else None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _failed_before_sending(exc: requests.ConnectionError) -> bool:
    """True when the connection could not be opened, so nothing reached the server."""
    cause: object = exc.args[0] if exc.args else None
    reason = getattr(cause, "reason", cause)
    return isinstance(reason, NewConnectionError)


def _reason(exc: BaseException) -> str:
    """A short, key-free reason for a requests exception."""
    if isinstance(exc, requests.ConnectTimeout):
        return "timed out while connecting"
    if isinstance(exc, requests.ReadTimeout):
        return "timed out waiting for the answer"
    text = str(exc)
    lowered = text.lower()
    for needle, words in (
        ("connection refused", "connection refused"),
        ("name or service not known", "unknown host name"),
        ("nodename nor servname", "unknown host name"),
        ("failed to resolve", "unknown host name"),
        ("temporary failure in name resolution", "host name could not be resolved"),
        ("remote end closed connection", "the connection was closed without an answer"),
        ("connection reset", "the connection was reset"),
        ("broken pipe", "the connection was closed while sending"),
        ("certificate", "certificate problem"),
    ):
        if needle in lowered:
            return words
    return type(exc).__name__


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date); None if absent/bad."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


_TAG = re.compile(r"<[^>]*>")
_SCRIPT = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_SPACE = re.compile(r"\s+")


def _is_html(response: requests.Response) -> bool:
    content_type = response.headers.get("Content-Type", "").lower()
    start = response.text.lstrip()[:15].lower()
    return "html" in content_type or start.startswith(("<!doctype html", "<html"))


def _extract(response: requests.Response, secrets: tuple[str, ...] = ()) -> str:
    """A short, plain-text extract of an error body: Bento's bodies come in many shapes.

    The keys are taken out before the text is cut: a key cut in two would escape."""
    text = response.text
    if not text.strip():
        return "an empty answer"
    if _is_html(response):
        title = _TITLE.search(text)
        body = _SCRIPT.sub(" ", text)
        words = _SPACE.sub(" ", html.unescape(_TAG.sub(" ", body))).strip()
        if title and _SPACE.sub(" ", html.unescape(title.group(1))).strip():
            words = _SPACE.sub(" ", html.unescape(title.group(1))).strip()
        return _truncate(_redact(f"an HTML page: {words}" if words else "an HTML page", secrets))
    try:
        payload = json_limits.loads(text)
    except ValueError:  # not JSON, or JSON too deep to describe
        return _truncate(_redact(_SPACE.sub(" ", text).strip(), secrets))
    return _truncate(_redact(_describe_json(payload), secrets))


def _describe_json(payload: object) -> str:
    if isinstance(payload, dict):
        errors = payload.get("errors")
        if isinstance(errors, list) and errors:
            parts = []
            for item in errors:
                if isinstance(item, dict):
                    field = item.get("field")
                    message = item.get("message", item.get("error", ""))
                    parts.append(f"{field}: {message}" if field else str(message))
                else:
                    parts.append(str(item))
            return "; ".join(parts)
        if isinstance(errors, dict) and errors:
            return "; ".join(f"{key}: {value}" for key, value in errors.items())
        for key in ("error", "message", "errors"):
            value = payload.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
    return json.dumps(payload, ensure_ascii=False)


def _truncate(text: str, limit: int = EXTRACT_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _redact(text: str, secrets: tuple[str, ...]) -> str:
    return redact(text, secrets)


def _location(response: requests.Response, secrets: tuple[str, ...]) -> str:
    """Where a redirect points, without user info or keys (it is never followed)."""
    target = response.headers.get("Location", "")
    if not target.strip():
        return "another address"
    parts = urlsplit(target)
    if parts.username is not None or parts.password is not None:
        host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
        target = urlunsplit((parts.scheme, f"********@{host}", parts.path, parts.query, ""))
    return _truncate(_redact(target, secrets))
