"""A local Bento: a real HTTP server that answers like Bento's Create Events API.

    with Emulator() as bento:
        client = BentoClient(bento.credentials)
        ...
        bento.events()          # what it recorded, as received, in arrival order

It listens on 127.0.0.1 with an ephemeral port, checks requests the way Bento does and
records the events it accepts, so that the app, the CLI and the tests can send for real
without anything leaving the machine.

Endpoints, as on Bento (base URL `http://127.0.0.1:PORT/api/v1`):

- `POST /api/v1/batch/events`: HTTP Basic auth (publishable key as user name, secret key
  as password) and `site_uuid` in the query string or in the JSON body. Body
  `{"events": [...]}` with 1 to `max_batch` (1000) events; answers 200
  `{"results": N, "failed": M, "errors": [{"index": i, "error": "..."}]}`, `errors` only
  when an event was refused and with at most 20 items (`index` is the event's position in
  `events`), and 422 with the same body when every event was refused.
- `GET /api/v1/fetch/tags?site_uuid=...`: the same auth rules; answers `{"data": []}`.
  A read-only request that tests the keys without recording anything.

Errors, in the order they are checked: no User-Agent -> 403 with an HTML page; rate
limit exceeded -> 429 `{"error": "Too many requests"}` with `Retry-After`; unknown path
-> 404 `{"error": "Not found"}`; wrong or missing keys, missing or wrong site_uuid ->
401 plain text `HTTP Basic: Access denied.`; a body that is not JSON, `events` missing,
not a list, empty or longer than `max_batch`, an event that is not an object, `type` or
`email` missing or not a string, `fields` or `details` not an object, `date` not a
string, `details.value` without `amount` and `currency` -> 400 `{"error": "..."}` for the
whole request, nothing recorded. So is JSON that could not be served back as JSON: nested
deeper than `json_limits.MAX_BODY_DEPTH` (details as deep as validation allows fit), a
number too large for a double (`1e999`), an unpaired surrogate escape (`"\\ud800"`); the
faults endpoint refuses them too.

Stated choices where Bento's behaviour is undocumented:

- An event is not recorded, and is counted in `failed`, when its email is not a
  plausible address (no `@`, nothing before it, or no dot inside the domain), its `type`
  is blank, a `fields` value is a nested object or a list, or its `date` is not ISO 8601.
  The other events of the batch are recorded; the answer is 200 (422 when none is left),
  and `errors` names each refused event (the first 20) with the reason.
- `site_uuid` in the query string wins over one in the body.
- `null` for `fields`, `details` or `date` means "not given" (the SDKs send it). Other
  keys in an event are kept as they are.
- The rate limit counts requests to `/api/v1` in a sliding 60 seconds; a request
  answered 429 by it is not counted.

Inspection API (no auth, outside `/api/v1`):

- `GET /_emulator/events` -> `{"events": [...], "request_count": N}`
- `POST /_emulator/reset` forgets the events, the queued faults, the rate limit and the
  request count.
- `POST /_emulator/faults` with `{"faults": [...], "rate_limit_per_minute": N}` (either
  key optional; `null` removes the rate limit).

Each fault applies to one coming request to `/api/v1`, in the order queued, whatever that
request is. A fault is an object with any of:

- `status`: answer this status (400-599) with a Bento-like body instead of processing
  the request: 401 text, 403 HTML, 400/404 `{"error": ...}`, 422
  `{"errors": [{"field": ..., "message": ...}]}`, 429 `{"error": "Too many requests"}`,
  500 JSON, 502/503/504 an HTML page.
- `retry_after`: seconds (or an HTTP-date string), sent as the `Retry-After` header.
- `delay`: seconds to wait before answering. Events are recorded first, so a client that
  gives up waiting leaves them recorded, as with the real Bento.
- `drop`: `"before_body"` reads the headers, waits a moment (0.2 s) and resets the
  connection (TCP RST) without reading the body: nothing recorded. A small body has
  been written by then, so the client cannot tell whether it was read (`unknown`); a
  body larger than the socket buffers (several MB) is still being written, and the
  client sees its write fail (safe to retry). `"after_body"` processes the request
  (events recorded) and closes the connection without answering.
- `failed`: refuse this many of the valid events (the last ones): counted in `failed`
  and named in `errors` (at most 20).
- `errors`: answer this list as `errors` instead of the one the emulator would give (the
  events are recorded and counted as usual): for answers that name too few or contradict.
- `body`: answer this text as the body instead of the usual one (as `text/html` when it
  starts with `<`, else `text/plain`). With `status` it replaces that status's body;
  without, the request is processed as usual (events recorded) and its answer keeps its
  status, so `{"body": "OK"}` is a 200 whose body is not JSON.

`{}` is a normal answer. The server never logs requests, so the Authorization header is
never printed.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import secrets
import socket
import socketserver
import struct
import threading
import time
from collections import deque
from collections.abc import Mapping
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from bento_ui import json_limits
from bento_ui.config import Credentials
from bento_ui.errors import EmulatorError

API_PREFIX = "/api/v1"
INSPECT_PREFIX = "/_emulator"
MAX_BODY_BYTES = 32 * 1024 * 1024
_DROP_PAUSE = 0.2  # seconds a `before_body` drop waits before resetting the connection

FAULT_KEYS = ("status", "retry_after", "delay", "drop", "failed", "errors", "body")
MAX_ERRORS = 20  # Bento's spec: `errors` holds at most 20 items
DROP_CHOICES = ("before_body", "after_body")

_ACCESS_DENIED = "HTTP Basic: Access denied."
_FORBIDDEN_HTML = (
    "<!DOCTYPE html>\n<html><head><title>403 Forbidden</title></head>\n"
    "<body><h1>403 Forbidden</h1>\n"
    "<p>Access denied: the request was blocked because it has no User-Agent header.</p>\n"
    "</body></html>\n"
)
_GATEWAY_HTML = (
    "<!DOCTYPE html>\n<html><head><title>{status} {reason}</title></head>\n"
    "<body><h1>{status} {reason}</h1>\n<p>The server is temporarily unable to answer. "
    "Please try again in a few moments.</p>\n</body></html>\n"
)


class _Reply:
    """One HTTP answer: status, content type, body and extra headers."""

    __slots__ = ("body", "content_type", "headers", "status")

    def __init__(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers: dict[str, str] = dict(headers or {})


def _json_reply(status: int, payload: object, headers: Mapping[str, str] | None = None) -> _Reply:
    # allow_nan=False: never answer Infinity or NaN, which are not JSON.
    body = json.dumps(payload, ensure_ascii=False, allow_nan=False).encode("utf-8")
    return _Reply(status, body, "application/json; charset=utf-8", headers)


def _html_reply(status: int, html: str) -> _Reply:
    return _Reply(status, html.encode("utf-8"), "text/html; charset=utf-8")


def _error(status: int, message: str) -> _Reply:
    return _json_reply(status, {"error": message})


def _access_denied() -> _Reply:
    return _Reply(
        401,
        _ACCESS_DENIED.encode("utf-8"),
        "text/plain; charset=utf-8",
        {"WWW-Authenticate": 'Basic realm="Application"'},
    )


def _rate_limited(retry_after: int) -> _Reply:
    return _json_reply(429, {"error": "Too many requests"}, {"Retry-After": str(retry_after)})


def _fault_reply(status: int) -> _Reply:
    """A Bento-like answer for a fault's status."""
    if status == 401:
        return _access_denied()
    if status == 403:
        return _html_reply(403, _FORBIDDEN_HTML)
    if status == 404:
        return _error(404, "Not found")
    if status == 422:
        return _json_reply(
            422, {"errors": [{"field": "events", "message": "could not be processed"}]}
        )
    if status == 429:
        return _error(429, "Too many requests")
    if status == 500:
        return _error(500, "Internal server error")
    if status in (502, 503, 504):
        reason = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}
        return _html_reply(status, _GATEWAY_HTML.format(status=status, reason=reason[status]))
    if status == 400:
        return _error(400, "Bad request")
    return _error(status, f"Error {status}")


# --- checks on what a request carries ---------------------------------------------------


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def validate_fault(fault: object, index: int = 0) -> dict[str, Any]:
    """Return the fault as a dict, or raise ValueError saying what is wrong with it."""
    where = f"faults[{index}]"
    if not isinstance(fault, dict):
        raise ValueError(f"{where} must be an object, like {{\"status\": 503}}.")
    unknown = sorted(str(key) for key in fault if key not in FAULT_KEYS)
    if unknown:
        raise ValueError(
            f"{where} has unknown key(s) {', '.join(repr(k) for k in unknown)}: "
            f"a fault may have {', '.join(FAULT_KEYS)}."
        )
    if "status" in fault:
        status = fault["status"]
        if not isinstance(status, int) or isinstance(status, bool) or not 400 <= status <= 599:
            raise ValueError(f"{where}.status must be an HTTP error status from 400 to 599.")
    if "retry_after" in fault:
        retry_after = fault["retry_after"]
        if isinstance(retry_after, str):
            if not retry_after.strip():
                raise ValueError(f"{where}.retry_after must not be empty.")
        elif not _is_number(retry_after) or retry_after < 0 or not math.isfinite(retry_after):
            raise ValueError(
                f"{where}.retry_after must be a number of seconds (0 or more) or an HTTP-date."
            )
    if "delay" in fault:
        delay = fault["delay"]
        if not _is_number(delay) or not 0 <= delay <= 3600:
            raise ValueError(f"{where}.delay must be a number of seconds from 0 to 3600.")
    if "drop" in fault:
        if fault["drop"] not in DROP_CHOICES:
            raise ValueError(f"{where}.drop must be \"before_body\" or \"after_body\".")
        if "status" in fault:
            raise ValueError(
                f"{where} cannot both drop the connection and answer a status: use one."
            )
    if "failed" in fault:
        failed = fault["failed"]
        if not isinstance(failed, int) or isinstance(failed, bool) or failed < 0:
            raise ValueError(f"{where}.failed must be a whole number, 0 or more.")
    if "errors" in fault and not isinstance(fault["errors"], list):
        raise ValueError(
            f'{where}.errors must be a list, like [{{"index": 0, "error": "invalid email"}}].'
        )
    if "body" in fault:
        if not isinstance(fault["body"], str):
            raise ValueError(f"{where}.body must be text.")
        if "drop" in fault:
            raise ValueError(
                f"{where} cannot both drop the connection and answer a body: use one."
            )
    return dict(fault)


def _validate_rate_limit(per_minute: object) -> int | None:
    if per_minute is None:
        return None
    if not isinstance(per_minute, int) or isinstance(per_minute, bool) or per_minute < 1:
        raise ValueError("rate_limit_per_minute must be a whole number, 1 or more, or null.")
    return per_minute


def _plausible_email(email: str) -> bool:
    local, at, domain = email.strip().rpartition("@")
    if not at or not local or any(ch.isspace() for ch in email.strip()):
        return False
    labels = domain.split(".")
    return len(labels) >= 2 and all(labels)


def _iso_8601(value: str) -> bool:
    try:
        datetime.fromisoformat(value.strip())
    except ValueError:
        return False
    return bool(value.strip())


def refusal(event: Mapping[str, Any]) -> str | None:
    """The stated choices: why the emulator counts an event in `failed`, or None."""
    if not str(event["type"]).strip():
        return "type is blank"
    if not _plausible_email(event["email"]):
        return f"email {str(event['email'])[:80]!r} is not a valid address"
    fields = event.get("fields")
    if isinstance(fields, dict):
        nested = [k for k, v in fields.items() if isinstance(v, dict | list)]
        if nested:
            return f"fields.{str(nested[0])[:40]} is nested: fields must be flat"
    date = event.get("date")
    if date is not None and not _iso_8601(date):
        return f"date {str(date)[:40]!r} is not ISO 8601"
    return None


def _check_events(payload: object, max_batch: int) -> list[dict[str, Any]] | str:
    """The events of a request body, or the message of a 400."""
    if not isinstance(payload, dict):
        return 'The body must be a JSON object: {"events": [...]}.'
    events = payload.get("events")
    if events is None:
        return 'The "events" key is missing: send {"events": [...]}.'
    if not isinstance(events, list):
        return '"events" must be a list of events.'
    if not events:
        return '"events" is empty: send at least one event.'
    if len(events) > max_batch:
        return f'"events" has {len(events)} events: send at most {max_batch} in one request.'
    for i, event in enumerate(events):
        where = f"events[{i}]"
        if not isinstance(event, dict):
            return f"{where} must be an object."
        for key in ("type", "email"):
            if key not in event or event[key] is None:
                return f'{where} has no "{key}".'
            if not isinstance(event[key], str):
                return f'{where}.{key} must be a string.'
        for key in ("fields", "details"):
            if event.get(key) is not None and not isinstance(event[key], dict):
                return f"{where}.{key} must be an object."
        if event.get("date") is not None and not isinstance(event["date"], str):
            return f"{where}.date must be a string (ISO 8601)."
        value = event["details"].get("value") if isinstance(event.get("details"), dict) else None
        if value is not None and not (
            isinstance(value, dict) and "amount" in value and "currency" in value
        ):
            return f"{where}.details.value must hold amount and currency."
    return cast(list[dict[str, Any]], events)


def _reject_constant(name: str) -> object:
    raise ValueError(
        f"The request body holds {name}, which JSON does not allow: send a number, or the "
        "text in quotes."
    )


def _parse_json(body: bytes) -> object:
    """The JSON value of a body; ValueError, with the message of a 400, when it is not
    JSON, or JSON that cannot be recorded and served back as JSON: nested deeper than
    Bento's events (see `json_limits`), a number too large for a float (`1e999` reads as
    infinity), or an unpaired surrogate escape (`"\\ud800"` cannot be written as UTF-8)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("The request body is not valid JSON: it is not UTF-8 text.") from None
    too_deep = (
        f"The request body nests objects or lists more than {json_limits.MAX_BODY_DEPTH} "
        f"levels deep: Bento's events are a few levels deep (details at most "
        f"{json_limits.MAX_DETAILS_DEPTH})."
    )
    try:
        value = json.loads(
            text, parse_constant=_reject_constant, parse_float=json_limits.finite_float
        )
    except json_limits.NotFinite as exc:
        raise ValueError(
            f"The request body holds the number {exc}, too large for a JSON number (at "
            "most about 1.8e308): send it as text in quotes."
        ) from None
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"The request body is not valid JSON ({exc.msg} at character {exc.pos})."
        ) from None
    except RecursionError:
        raise ValueError(too_deep) from None
    if json_limits.deeper_than(value, json_limits.MAX_BODY_DEPTH):
        raise ValueError(too_deep)
    if "\\u" in text:  # only an escape can make a surrogate: the text itself is UTF-8
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(
                "The request body holds an unpaired surrogate escape (like \\ud800), "
                "which is no character: send the text itself."
            ) from None
    return value


def _copy_json(value: Any) -> Any:
    """A copy of a parsed JSON value. In C (copy.deepcopy recurses in Python and stops
    near 500 levels, below what `_parse_json` accepts)."""
    return json.loads(json.dumps(value, ensure_ascii=False))


def _basic_auth(header: str | None) -> tuple[str, str] | None:
    if not header:
        return None
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, colon, password = decoded.partition(":")
    return (user, password) if colon else None


def _same(given: str, expected: str) -> bool:
    return secrets.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


# --- the server ------------------------------------------------------------------------


class _BodyError(Exception):
    def __init__(self, reply: _Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


class _Handler(BaseHTTPRequestHandler):
    server_version = "BentoEmulator/1.0"
    sys_version = ""
    timeout = 60  # a client that never sends its body does not hold a thread forever

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: request logs must never show the Authorization header."""

    @property
    def emulator(self) -> Emulator:
        return cast(_Server, self.server).emulator

    def do_GET(self) -> None:
        self.emulator._handle(self, "GET")

    def do_POST(self) -> None:
        self.emulator._handle(self, "POST")

    def do_PUT(self) -> None:
        self.emulator._handle(self, "PUT")

    def do_PATCH(self) -> None:
        self.emulator._handle(self, "PATCH")

    def do_DELETE(self) -> None:
        self.emulator._handle(self, "DELETE")

    def read_body(self) -> bytes:
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b""
        try:
            length = int(raw)
        except ValueError:
            raise _BodyError(_error(400, "Content-Length is not a number.")) from None
        if length < 0:
            raise _BodyError(_error(400, "Content-Length is negative."))
        if length > MAX_BODY_BYTES:
            raise _BodyError(_error(413, "The request body is too large."))
        return self.rfile.read(length)

    def reply(self, reply: _Reply) -> None:
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)
        except OSError:
            pass  # the client went away (gave up waiting): nothing to tell it


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The listen backlog: connections the kernel keeps waiting while the server thread
    # accepts the ones before. socketserver's 5 makes the kernel drop or reset some when
    # 20 clients send at once, and a reset after the body leaves a batch "unknown".
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        self.emulator = emulator
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS look-up of the host: skip it.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Silent for connections the client closed; never prints request headers."""


class _Server6(_Server):
    address_family = socket.AF_INET6


class Emulator:
    """A local Bento Create Events API. See the module docstring for what it does."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        site_uuid: str | None = None,
        publishable_key: str | None = None,
        secret_key: str | None = None,
        max_batch: int = 1000,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be 1 or more.")
        self.host = host
        self.port = port
        self.site_uuid = site_uuid or secrets.token_hex(16)
        self._publishable_key = publishable_key or f"pk_{secrets.token_hex(16)}"
        self._secret_key = secret_key or f"sk_{secrets.token_hex(24)}"
        self.max_batch = max_batch
        self._lock = threading.Lock()  # guards the recorded state
        self._life_lock = threading.Lock()  # guards start and stop
        self._events: list[dict[str, Any]] = []
        self._faults: deque[dict[str, Any]] = deque()
        self._rate_limit: int | None = None
        self._window: deque[float] = deque()
        self._request_count = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._url: str | None = None

    def __repr__(self) -> str:
        state = self._url if self.is_running else "stopped"
        return f"Emulator({state}, site_uuid={self.site_uuid!r})"

    # --- life cycle

    def start(self) -> Emulator:
        """Start listening (in a daemon thread); does nothing when already running."""
        with self._life_lock:
            if self._server is None:
                self._start()
        return self

    def _start(self) -> None:
        server_class = _Server6 if ":" in self.host else _Server
        try:
            server = server_class((self.host, self.port), self)
        except OSError as exc:
            raise EmulatorError(
                f"The Bento emulator could not listen on {self.host}:{self.port} "
                f"({exc.strerror or exc}): choose another port, or 0 for any free one."
            ) from exc
        self._stopping.clear()
        bound_port = int(server.server_address[1])
        shown = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        if ":" in shown:
            shown = f"[{shown}]"
        self._url = f"http://{shown}:{bound_port}"
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"bento-emulator-{bound_port}",
            daemon=True,
        )
        self._server, self._thread = server, thread
        thread.start()

    def stop(self) -> None:
        """Stop listening and free the port; pending delays end at once."""
        with self._life_lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
            if server is None:
                return
            self._stopping.set()
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Start (when needed) and block until KeyboardInterrupt, then stop."""
        self.start()
        try:
            while self._server is not None:
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    @property
    def is_running(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT`, once started."""
        if self._url is None:
            raise EmulatorError("The Bento emulator has not been started: call start() first.")
        return self._url

    @property
    def base_url(self) -> str:
        return f"{self.url}{API_PREFIX}"

    @property
    def credentials(self) -> Credentials:
        return Credentials(
            site_uuid=self.site_uuid,
            publishable_key=self._publishable_key,
            secret_key=self._secret_key,
            base_url=self.base_url,
        )

    # --- inspection and control

    def events(self) -> list[dict[str, Any]]:
        """The events recorded so far, as received, in arrival order (copies)."""
        with self._lock:
            return cast(list[dict[str, Any]], _copy_json(self._events))

    @property
    def request_count(self) -> int:
        """How many requests reached /api/v1 since the start or the last reset."""
        with self._lock:
            return self._request_count

    def add_faults(self, faults: list[dict[str, Any]]) -> None:
        """Queue faults, one per coming /api/v1 request; ValueError when one is invalid."""
        if not isinstance(faults, list):
            raise ValueError('"faults" must be a list of fault objects.')
        checked = [validate_fault(fault, i) for i, fault in enumerate(faults)]
        with self._lock:
            self._faults.extend(checked)

    def set_rate_limit(self, per_minute: int | None) -> None:
        """Answer 429 beyond `per_minute` requests in 60 s; None removes the limit."""
        checked = _validate_rate_limit(per_minute)
        with self._lock:
            self._rate_limit = checked
            self._window.clear()

    def reset(self) -> None:
        """Forget the events, the queued faults, the rate limit and the request count."""
        with self._lock:
            self._events.clear()
            self._faults.clear()
            self._rate_limit = None
            self._window.clear()
            self._request_count = 0

    # --- request handling (runs in the server's threads)

    def _handle(self, handler: _Handler, method: str) -> None:
        try:
            parts = urlsplit(handler.path)
            path = parts.path.rstrip("/") or "/"
            query = parse_qs(parts.query)
            if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
                self._handle_api(handler, method, path, query)
            elif path == INSPECT_PREFIX or path.startswith(INSPECT_PREFIX + "/"):
                handler.reply(self._inspect(handler, method, path))
            else:
                handler.reply(_error(404, "Not found"))
        except _BodyError as exc:
            handler.close_connection = True
            handler.reply(exc.reply)
        except OSError:
            handler.close_connection = True
        except Exception as exc:
            handler.reply(_error(500, f"Emulator error: {type(exc).__name__}"))

    def _handle_api(
        self, handler: _Handler, method: str, path: str, query: dict[str, list[str]]
    ) -> None:
        with self._lock:
            self._request_count += 1
            fault = self._faults.popleft() if self._faults else {}
        if fault.get("drop") == "before_body":
            # The pause lets a client finish writing what fits in the socket buffers, so
            # the outcome does not depend on thread timing. Then an abortive close: the
            # kernel sends RST at once instead of waiting for a body nobody will read.
            self._stopping.wait(_DROP_PAUSE)
            handler.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            handler.close_connection = True
            return
        body = handler.read_body()
        if "status" in fault:
            reply = _fault_reply(int(fault["status"]))
        else:
            reply = self._answer(
                handler, method, path, query, body, int(fault.get("failed", 0)),
                fault.get("errors"),
            )
        if "body" in fault:
            text = str(fault["body"])
            kind = "text/html" if text.lstrip().startswith("<") else "text/plain"
            reply = _Reply(
                reply.status, text.encode("utf-8"), f"{kind}; charset=utf-8", reply.headers
            )
        if "retry_after" in fault:
            value = fault["retry_after"]
            reply.headers["Retry-After"] = value if isinstance(value, str) else f"{value:g}"
        if fault.get("delay"):
            self._stopping.wait(float(fault["delay"]))
        if fault.get("drop") == "after_body":
            handler.close_connection = True
            return
        handler.reply(reply)

    def _answer(
        self,
        handler: _Handler,
        method: str,
        path: str,
        query: dict[str, list[str]],
        body: bytes,
        fail_last: int,
        given_errors: list[Any] | None = None,
    ) -> _Reply:
        if not handler.headers.get("User-Agent", "").strip():
            return _html_reply(403, _FORBIDDEN_HTML)
        retry_after = self._admit()
        if retry_after is not None:
            return _rate_limited(retry_after)
        route = (method, path.removeprefix(API_PREFIX))
        if route not in (("POST", "/batch/events"), ("GET", "/fetch/tags")):
            return _error(404, "Not found")
        auth = _basic_auth(handler.headers.get("Authorization"))
        if auth is None or not (
            _same(auth[0], self._publishable_key) & _same(auth[1], self._secret_key)
        ):
            return _access_denied()
        payload: object = None
        parse_error = ""
        if body:
            try:
                payload = _parse_json(body)
            except ValueError as exc:
                parse_error = str(exc)
        site_uuid: str | None = query["site_uuid"][0] if query.get("site_uuid") else None
        if site_uuid is None and method == "POST" and isinstance(payload, dict):
            given = payload.get("site_uuid")
            site_uuid = given if isinstance(given, str) else None
        if site_uuid is None or not _same(site_uuid, self.site_uuid):
            return _access_denied()
        if route[1] == "/fetch/tags":
            return _json_reply(200, {"data": []})
        if parse_error or not body:
            return _error(400, parse_error or "The request body is not valid JSON.")
        checked = _check_events(payload, self.max_batch)
        if isinstance(checked, str):
            return _error(400, checked)
        refused = {i: why for i, event in enumerate(checked) if (why := refusal(event))}
        valid = [i for i in range(len(checked)) if i not in refused]
        for i in valid[len(valid) - fail_last :] if fail_last else ():
            refused[i] = "refused by a fault (failed)"
        with self._lock:
            self._events.extend(
                _copy_json([e for i, e in enumerate(checked) if i not in refused])
            )
        named = given_errors if given_errors is not None else [
            {"index": i, "error": refused[i]} for i in sorted(refused)[:MAX_ERRORS]
        ]
        answer: dict[str, Any] = {"results": len(checked) - len(refused), "failed": len(refused)}
        if named:
            answer["errors"] = named
        return _json_reply(422 if refused and len(refused) == len(checked) else 200, answer)

    def _admit(self) -> int | None:
        """None when the request is within the rate limit, else the seconds to wait."""
        with self._lock:
            if self._rate_limit is None:
                return None
            now = time.monotonic()
            while self._window and self._window[0] <= now - 60:
                self._window.popleft()
            if len(self._window) >= self._rate_limit:
                return max(1, math.ceil(self._window[0] + 60 - now))
            self._window.append(now)
            return None

    def _inspect(self, handler: _Handler, method: str, path: str) -> _Reply:
        route = (method, path.removeprefix(INSPECT_PREFIX))
        if route == ("GET", "/events"):
            with self._lock:
                return _json_reply(
                    200, {"events": self._events, "request_count": self._request_count}
                )
        if route == ("POST", "/reset"):
            handler.read_body()
            self.reset()
            return _json_reply(200, {"reset": True})
        if route == ("POST", "/faults"):
            return self._configure(handler.read_body())
        return _error(404, "Not found")

    def _configure(self, body: bytes) -> _Reply:
        try:
            payload = _parse_json(body) if body else {}
        except ValueError as exc:
            return _error(400, str(exc))
        if not isinstance(payload, dict):
            return _error(400, 'Send an object: {"faults": [...], "rate_limit_per_minute": N}.')
        allowed = ("faults", "rate_limit_per_minute")
        unknown = sorted(str(key) for key in payload if key not in allowed)
        if unknown:
            return _error(
                400,
                f"Unknown key(s) {', '.join(repr(k) for k in unknown)}: "
                'send "faults" and/or "rate_limit_per_minute".',
            )
        try:
            faults = payload.get("faults", [])
            if not isinstance(faults, list):
                raise ValueError('"faults" must be a list of fault objects.')
            checked = [validate_fault(fault, i) for i, fault in enumerate(faults)]
            has_limit = "rate_limit_per_minute" in payload
            limit = _validate_rate_limit(payload.get("rate_limit_per_minute"))
        except ValueError as exc:
            return _error(400, str(exc))
        with self._lock:
            self._faults.extend(checked)
            if has_limit:
                self._rate_limit = limit
                self._window.clear()
            queued, current = len(self._faults), self._rate_limit
        return _json_reply(200, {"queued": queued, "rate_limit_per_minute": current})


_sandbox: Emulator | None = None
_sandbox_lock = threading.Lock()


def sandbox() -> Emulator:
    """The process-wide emulator the app and the CLI send to when no keys are configured.

    Started on first use (thread-safe) and reused afterwards; restarted if someone
    stopped it.
    """
    global _sandbox
    with _sandbox_lock:
        if _sandbox is None:
            _sandbox = Emulator()
        if not _sandbox.is_running:
            _sandbox.start()
        return _sandbox
