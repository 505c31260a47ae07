"""The send ledger: a local record of every send, so nothing is sent twice by mistake.

Bento has no idempotency key: a batch sent twice is recorded twice, and every event can
start an email automation. So the tool remembers, in a SQLite file under the user's data
directory (`BENTO_UI_HOME` overrides it, see `bento_ui.paths`):

- each **run**: when, the site UUID and API address, the source file's name, absolute
  path and SHA-256, and the options that turned it into events;
- each **batch** of a run: its spreadsheet rows, event count, a hash of its payload, its
  state, Bento's answer (status, results, failed), attempts and message. A batch is
  written as `sending` before its request and with its outcome after the answer, so a
  crash at any moment leaves a true record: a batch still `sending` when its run is no
  longer alive is reported as `unknown` (Bento may have recorded it);
- a **fingerprint** of every event that was sent: a SHA-256 of the event's canonical JSON
  and the site UUID. `already_accepted` uses them to find events that a site already
  accepted, whichever run or file they came from.

It never stores a key, nor the events themselves. Every write is one short transaction
in WAL mode with `synchronous=FULL`: once a call returns, the write survives the process
being killed or the machine losing power.

    ledger = Ledger()                                   # the default file
    check = ledger.already_accepted(site_uuid, events)  # before planning
    run_id = ledger.start_run(credentials, batches, source_name="attendees.csv", ...)
    send_batches(batches, credentials, ledger=ledger, run=run_id)
    ledger.runs(); ledger.run(run_id); ledger.batches_table(run_id)

A run that is being sent holds an operating-system lock on a small file next to the
ledger; the lock goes when the process ends, however it ends. That is how a `running`
run whose process was killed is told apart from one still going, and why two processes
can never resume the same run at once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import secrets
import sqlite3
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import pandas as pd

from bento_ui.batching import Batch, describe_rows
from bento_ui.config import Credentials
from bento_ui.errors import LedgerError
from bento_ui.paths import ledger_path

if TYPE_CHECKING:
    from bento_ui.sending import BatchResult

SCHEMA_VERSION = 1

# Run states. `running` is only ever true while a process holds the run's lock; a run
# written as `running` whose lock is free was interrupted (killed, crashed, closed).
PLANNED, RUNNING, INTERRUPTED, STOPPED, FINISHED = (
    "planned", "running", "interrupted", "stopped", "finished",
)  # fmt: skip
# Batch states besides the send outcomes of `bento_ui.client` and `skipped`.
WAITING, SENDING = "waiting", "sending"
ACCEPTED, PARTIAL, REJECTED, FAILED, UNKNOWN, SKIPPED = (
    "accepted", "partial", "rejected", "failed", "unknown", "skipped",
)  # fmt: skip
# Batches that Bento may have recorded, in part or in full, without saying which events.
UNCERTAIN_STATES = (PARTIAL, UNKNOWN, SENDING)
# Batches of which Bento recorded nothing: sending them again is safe.
NOT_RECORDED_STATES = (WAITING, REJECTED, FAILED, SKIPPED)

SENT_BEFORE, UNCERTAIN_BEFORE = "sent before", "maybe sent before"

_DIED_WHILE_SENDING = (
    "The send stopped while this batch was being sent (the process ended or lost the "
    "connection): Bento may have recorded it. Check Bento before sending it again."
)
_MASK = "********"
_IN_CHUNK = 500  # fingerprints per query: far below SQLite's limit on parameters

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    site_uuid TEXT NOT NULL,
    base_url TEXT NOT NULL,
    target TEXT NOT NULL,
    source_name TEXT NOT NULL,
    source_path TEXT,
    source_hash TEXT,
    options TEXT NOT NULL,
    state TEXT NOT NULL,
    events INTEGER NOT NULL,
    held_back INTEGER NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS runs_created ON runs (created_at);
CREATE TABLE IF NOT EXISTS batches (
    run_id TEXT NOT NULL REFERENCES runs (id),
    number INTEGER NOT NULL,
    rows TEXT NOT NULL,
    events INTEGER NOT NULL,
    payload_hash TEXT NOT NULL,
    state TEXT NOT NULL,
    status INTEGER,
    results INTEGER,
    failed INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    sends INTEGER NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    started_at TEXT,
    finished_at TEXT,
    PRIMARY KEY (run_id, number)
);
CREATE TABLE IF NOT EXISTS fingerprints (
    site_uuid TEXT NOT NULL,
    fingerprint BLOB NOT NULL,
    run_id TEXT NOT NULL,
    batch INTEGER NOT NULL,
    PRIMARY KEY (site_uuid, fingerprint, run_id, batch)
) WITHOUT ROWID;
"""

BATCH_COLUMNS = [
    "batch", "rows", "events", "results", "failed", "state", "status", "attempts", "sends",
    "started_at", "finished_at", "message",
]  # fmt: skip
RUN_COLUMNS = [
    "id", "created_at", "state", "target", "site_uuid", "base_url", "source_name", "events",
    "recorded", "failed", "unknown", "not sent", "batches",
]  # fmt: skip


# --- hashes ------------------------------------------------------------------------------


# One encoder for every call: `json.dumps` with options builds a new one each time.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value: Any) -> str:
    """The one JSON text of a value: sorted keys, no spaces, Unicode kept as is."""
    return _CANONICAL.encode(value)


def event_fingerprint(event: Mapping[str, Any], site_uuid: str) -> bytes:
    """SHA-256 of the site UUID and the event's canonical JSON (32 bytes)."""
    text = site_uuid + "\n" + canonical_json(event)
    return hashlib.sha256(text.encode("utf-8")).digest()


def payload_hash(events: Sequence[Mapping[str, Any]]) -> str:
    """SHA-256 (hex) of a batch's events as canonical JSON, in order."""
    return hashlib.sha256(canonical_json(list(events)).encode("utf-8")).hexdigest()


def file_hash(source: bytes | str | os.PathLike[str]) -> str:
    """SHA-256 (hex) of a file's bytes, given the bytes or the file's path."""
    if isinstance(source, bytes | bytearray | memoryview):
        return hashlib.sha256(source).hexdigest()
    digest = hashlib.sha256()
    with open(source, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_ROW_PART = re.compile(r"^(\d+)(?:-(\d+))?$")


def parse_rows(text: str) -> list[int]:
    """The row numbers of `describe_rows` text: `2-4, 7` -> [2, 3, 4, 7]."""
    rows: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        match = _ROW_PART.match(part)
        if match is None:
            raise ValueError(f"{part!r} is not a row number or a range of rows")
        start = int(match.group(1))
        end = int(match.group(2) or start)
        rows.extend(range(start, end + 1))
    return rows


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _new_run_id() -> str:
    """Short, readable and sortable: `20261126-1154-3fa9` (UTC minute + 16 random bits)."""
    return f"{datetime.now(UTC):%Y%m%d-%H%M}-{secrets.token_hex(2)}"


def _clean_url(url: str) -> str:
    """The API address without user info, query or fragment: nothing secret is kept."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _redact(text: str, secrets_: Sequence[str]) -> str:
    for secret in secrets_:
        if secret:
            text = text.replace(secret, _MASK)
    return text


# --- run locks ---------------------------------------------------------------------------


class _RunLock:
    """An exclusive, non-blocking lock on one file; released when the process ends."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[bytes] | None = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+b")  # noqa: SIM115 - held open for as long as the lock
        try:
            if sys.platform == "win32":
                import msvcrt

                f.seek(0)
                msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            return False
        self._file = f
        return True

    def release(self) -> None:
        f, self._file = self._file, None
        if f is None:
            return
        try:
            if sys.platform == "win32":
                import msvcrt

                f.seek(0)
                msvcrt.locking(f.fileno(), msvcrt.LK_UNLCK, 1)
            else:
                import fcntl

                fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        finally:
            f.close()


# --- what the ledger returns -------------------------------------------------------------


@dataclass(frozen=True)
class BatchRecord:
    """One batch of a run, as the ledger knows it."""

    run_id: str
    number: int
    rows: str  # spreadsheet rows, as `describe_rows` writes them
    events: int
    payload_hash: str
    state: str
    status: int | None
    results: int | None
    failed: int | None
    attempts: int
    sends: int  # how many times the batch was handed to Bento (more than 1: resent)
    message: str
    started_at: str | None
    finished_at: str | None

    @property
    def row_numbers(self) -> list[int]:
        return parse_rows(self.rows)

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch": self.number,
            "rows": self.rows,
            "events": self.events,
            "results": self.results,
            "failed": self.failed,
            "state": self.state,
            "status": self.status,
            "attempts": self.attempts,
            "sends": self.sends,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "message": self.message,
            "payload_hash": self.payload_hash,
        }

    def describe(self, of: int) -> str:
        """One line, like the CLI's line for a batch being sent."""
        if self.results is not None:
            counts = f"results {self.results}, failed {self.failed}"
        elif self.state in (UNKNOWN, SENDING):
            counts = "no answer"
        elif self.state == WAITING:
            counts = "not sent yet"
        else:
            counts = "nothing recorded"
        shown = self.message if self.state not in (ACCEPTED, WAITING) else ""
        resent = f" (sent {self.sends} times)" if self.sends > 1 else ""
        return (
            f"batch {self.number}/{of}  rows {self.rows}  "
            f"{self.events} event{'s' if self.events != 1 else ''}  {counts}  {self.state}"
            + resent
            + (f": {shown}" if shown else "")
        )


@dataclass(frozen=True)
class RunRecord:
    """One run and its batches, as the ledger knows it."""

    id: str
    created_at: str
    updated_at: str
    site_uuid: str
    base_url: str
    target: str  # "bento", "sandbox" or "server" (another local or test server)
    source_name: str
    source_path: str | None
    source_hash: str | None
    options: dict[str, Any]
    state: str
    events: int  # events in the run's batches
    held_back: int  # events of the source not sent because the ledger showed them sent
    message: str
    batches: tuple[BatchRecord, ...] = field(default=())

    def numbers_in(self, *states: str) -> list[int]:
        return [b.number for b in self.batches if b.state in states]

    def events_in(self, *states: str) -> int:
        return sum(b.events for b in self.batches if b.state in states)

    @property
    def totals(self) -> dict[str, int]:
        """Like `SendReport.totals`: events = recorded + failed + unknown + not sent."""
        recorded = failed = unknown = not_sent = 0
        for b in self.batches:
            if b.state in (ACCEPTED, PARTIAL):
                recorded += b.results or 0
                failed += b.failed or 0
                unknown += max(b.events - (b.results or 0) - (b.failed or 0), 0)
            elif b.state in (UNKNOWN, SENDING):
                unknown += b.events
            else:
                not_sent += b.events
        return {
            "events": self.events + self.held_back,
            "recorded": recorded,
            "failed": failed,
            "unknown": unknown,
            "not sent": not_sent + self.held_back,
        }

    @property
    def complete(self) -> bool:
        """True when Bento accepted every batch of the run in full."""
        return bool(self.batches) and all(b.state == ACCEPTED for b in self.batches)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "site_uuid": self.site_uuid,
            "base_url": self.base_url,
            "target": self.target,
            "source_name": self.source_name,
            "source_path": self.source_path,
            "source_hash": self.source_hash,
            "options": self.options,
            "events": self.events,
            "held_back": self.held_back,
            "totals": self.totals,
            "message": self.message,
            "batches": [b.as_dict() for b in self.batches],
        }


@dataclass(frozen=True)
class HeldBack:
    """Events not sent because the ledger shows this site received them before."""

    reason: str  # SENT_BEFORE (accepted) or UNCERTAIN_BEFORE (in a partial/unknown batch)
    rows: tuple[int, ...]
    runs: tuple[str, ...]
    first_date: str  # UTC dates of the earlier sends, YYYY-MM-DD
    last_date: str

    @property
    def events(self) -> int:
        return len(self.rows)

    @property
    def row_ranges(self) -> str:
        return describe_rows(self.rows)

    @property
    def message(self) -> str:
        """What happened, in a sentence a person can act on (the caller adds the how)."""
        n = self.events
        these = f"{n:,} of these events {'was' if n == 1 else 'were'}"
        when = (
            f"on {self.first_date}"
            if self.first_date == self.last_date
            else f"between {self.first_date} and {self.last_date}"
        )
        runs = ", ".join(self.runs[:3])
        if len(self.runs) > 3:
            runs += f" and {len(self.runs) - 3} more"
        label = "run" if len(self.runs) == 1 else "runs"
        if self.reason == SENT_BEFORE:
            return f"{these} sent to this site {when} ({label} {runs}) and accepted by it"
        return (
            f"{these} sent to this site {when} ({label} {runs}) in batches whose outcome is "
            "unknown or partial: Bento may have recorded them"
        )


@dataclass(frozen=True)
class DuplicateCheck:
    """Which events of a list the ledger shows as sent to a site before.

    `accepted` and `uncertain` are positions in the list: events of a batch the site
    accepted, and events only found in partial or unknown batches (Bento may or may not
    have recorded them). An event both accepted and uncertain counts as accepted.
    """

    site_uuid: str
    events: int
    accepted: tuple[int, ...] = ()
    uncertain: tuple[int, ...] = ()
    accepted_runs: tuple[str, ...] = ()
    uncertain_runs: tuple[str, ...] = ()
    uncertain_batches: tuple[tuple[str, int, str], ...] = ()  # (run, batch, state)
    accepted_dates: tuple[str, str] | None = None  # first and last, YYYY-MM-DD
    uncertain_dates: tuple[str, str] | None = None

    @property
    def found(self) -> bool:
        return bool(self.accepted or self.uncertain)

    @property
    def first_accepted(self) -> str | None:
        return self.accepted_dates[0] if self.accepted_dates else None

    @property
    def accepted_mask(self) -> list[bool]:
        mask = [False] * self.events
        for i in self.accepted:
            mask[i] = True
        return mask

    def keep(self, *, send_again: bool = False, resend_unknown: bool = False) -> list[bool]:
        """Per event: send it? By default neither accepted nor uncertain events are sent.

        `send_again` sends everything (it overrides the ledger); `resend_unknown` sends
        the uncertain events but still not the accepted ones.
        """
        mask = [True] * self.events
        if send_again:
            return mask
        held = self.accepted if resend_unknown else (*self.accepted, *self.uncertain)
        for i in held:
            mask[i] = False
        return mask

    def held_back(
        self, rows: Sequence[int], *, send_again: bool = False, resend_unknown: bool = False
    ) -> list[HeldBack]:
        """The events `keep` leaves out, grouped by reason, with their spreadsheet rows."""
        if len(rows) != self.events:
            raise ValueError(f"{self.events} events but {len(rows)} row numbers")
        if send_again:
            return []
        groups: list[HeldBack] = []
        if self.accepted and self.accepted_dates:
            groups.append(
                HeldBack(
                    SENT_BEFORE,
                    tuple(rows[i] for i in self.accepted),
                    self.accepted_runs,
                    *self.accepted_dates,
                )
            )
        if self.uncertain and self.uncertain_dates and not resend_unknown:
            groups.append(
                HeldBack(
                    UNCERTAIN_BEFORE,
                    tuple(rows[i] for i in self.uncertain),
                    self.uncertain_runs,
                    *self.uncertain_dates,
                )
            )
        return groups


# --- the ledger --------------------------------------------------------------------------


class Ledger:
    """The send ledger in one SQLite file (default: `bento_ui.paths.ledger_path()`).

    Safe to share between threads; several processes may use the same file at once.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else ledger_path()
        self._lock = threading.RLock()
        self._held: dict[str, _RunLock] = {}
        self._secrets: dict[str, tuple[str, str]] = {}
        self._sites: dict[str, str] = {}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not self.path.exists():
                # Readable by its owner only: it names files and sites.
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
            self._conn = sqlite3.connect(
                self.path, timeout=30.0, isolation_level=None, check_same_thread=False
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.execute("PRAGMA cache_size=-65536")  # 64 MB: fingerprints of big files
            self._migrate()
        except (OSError, sqlite3.Error) as exc:
            raise self._error("opened", exc) from exc

    def __repr__(self) -> str:
        return f"Ledger({str(self.path)!r})"

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            for lock in self._held.values():
                lock.release()
            self._held.clear()
            self._conn.close()

    def _error(self, doing: str, exc: BaseException) -> LedgerError:
        return LedgerError(
            f"The send ledger at {self.path} could not be {doing} ({exc}). It is what keeps "
            "events from being sent twice: free some disk space or fix its permissions. "
            f"If it is damaged, move it aside (a new one starts empty), or set BENTO_UI_HOME "
            "to use another folder."
        )

    def _migrate(self) -> None:
        version = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise LedgerError(
                f"The send ledger at {self.path} was written by a newer bento-ui (schema "
                f"{version}): upgrade bento-ui, or set BENTO_UI_HOME to use another folder."
            )
        if version < SCHEMA_VERSION:
            with self._write() as db:
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction; durable (fsync'd) when the block ends."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise self._error("written", exc) from exc
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            try:
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._conn.execute("ROLLBACK")
                raise self._error("written", exc) from exc

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return list(self._conn.execute(sql, params).fetchall())
            except sqlite3.Error as exc:
                raise self._error("read", exc) from exc

    # --- writing a run

    def start_run(
        self,
        credentials: Credentials,
        batches: Sequence[Batch],
        *,
        source_name: str = "",
        source_path: str | os.PathLike[str] | None = None,
        source_hash: str | None = None,
        options: Mapping[str, Any] | None = None,
        target: str | None = None,
        held_back: int = 0,
    ) -> str:
        """Record a new run and its planned batches (all `waiting`); return its id.

        `source_path` is stored as an absolute path; `source_hash` is the SHA-256 of the
        file's bytes (see `file_hash`). `options` (JSON-able) are what turned the file into
        events, so that a resume can rebuild them. `target` says where the run goes:
        "sandbox", "bento" or "server" (default: "bento" for Bento's own address).
        """
        secrets_ = (credentials.secret_key, credentials.publishable_key)
        options_json = _redact(canonical_json(dict(options or {})), secrets_)
        path = str(Path(source_path).resolve()) if source_path is not None else None
        target = target or ("bento" if credentials.is_bento else "server")
        now = _now()
        rows = [
            (b.number, describe_rows(b.rows), b.size, payload_hash(b.events), WAITING)
            for b in batches
        ]
        numbers = [b.number for b in batches]
        if len(set(numbers)) != len(numbers):
            raise ValueError("two batches have the same number")
        for _ in range(20):
            run_id = _new_run_id()
            try:
                with self._write() as db:
                    db.execute(
                        "INSERT INTO runs (id, created_at, updated_at, site_uuid, base_url, "
                        "target, source_name, source_path, source_hash, options, state, events, "
                        "held_back) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            run_id,
                            now,
                            now,
                            credentials.site_uuid,
                            _clean_url(credentials.base_url),
                            target,
                            source_name,
                            path,
                            source_hash,
                            options_json,
                            PLANNED,
                            sum(b.size for b in batches),
                            held_back,
                        ),
                    )
                    db.executemany(
                        "INSERT INTO batches (run_id, number, rows, events, payload_hash, state)"
                        " VALUES (?, ?, ?, ?, ?, ?)",
                        [(run_id, *row) for row in rows],
                    )
            except sqlite3.IntegrityError:
                continue  # the same id in the same minute: draw again
            self._secrets[run_id] = secrets_
            self._sites[run_id] = credentials.site_uuid
            return run_id
        raise LedgerError("Could not find a free run id: try again.")  # pragma: no cover

    def add_batches(self, run_id: str, batches: Sequence[Batch]) -> None:
        """Plan more batches for a run (`waiting`): for sends that plan as they read,
        such as a file streamed chunk by chunk. Numbers must be new to the run."""
        rows = [
            (run_id, b.number, describe_rows(b.rows), b.size, payload_hash(b.events), WAITING)
            for b in batches
        ]
        try:
            with self._write() as db:
                db.executemany(
                    "INSERT INTO batches (run_id, number, rows, events, payload_hash, state) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    rows,
                )
                db.execute(
                    "UPDATE runs SET events = events + ?, updated_at = ? WHERE id = ?",
                    (sum(b.size for b in batches), _now(), run_id),
                )
        except sqlite3.IntegrityError as exc:
            raise LedgerError(
                f"Run {run_id} already has a batch with one of these numbers."
            ) from exc

    @contextmanager
    def claim(self, run_id: str, credentials: Credentials | None = None) -> Iterator[RunRecord]:
        """Hold a run for sending: nobody else can send it until the block ends.

        Batches left `sending` by a process that died become `unknown`. Raises
        LedgerError when another process (or another thread) is sending the run.
        """
        record = self.run(run_id)
        if credentials is not None:
            self._secrets[run_id] = (credentials.secret_key, credentials.publishable_key)
        self._sites[run_id] = record.site_uuid
        lock = _RunLock(self._lock_path(run_id))
        with self._lock:
            if run_id in self._held or not lock.acquire():
                raise LedgerError(
                    f"Run {run_id} is being sent right now by another window or process: "
                    "wait for it to finish, then look at `bento-ui history "
                    f"{run_id}`."
                )
            self._held[run_id] = lock
        try:
            with self._write() as db:
                db.execute(
                    "UPDATE batches SET state = ?, message = ?, finished_at = ? "
                    "WHERE run_id = ? AND state = ?",
                    (UNKNOWN, _DIED_WHILE_SENDING, _now(), run_id, SENDING),
                )
                db.execute(
                    "UPDATE runs SET state = ?, updated_at = ?, message = '' WHERE id = ?",
                    (RUNNING, _now(), run_id),
                )
            yield self.run(run_id)
        finally:
            with self._lock:
                held = self._held.pop(run_id, None)
                if held is not None:
                    held.release()

    def mark_sending(self, run_id: str, batch: Batch) -> None:
        """Write `sending` and the batch's fingerprints: call it just before the request.

        Raises LedgerError when the batch is not the one planned for the run (another
        number, other events), or when Bento already accepted it in this run.
        """
        expected = self._read(
            "SELECT payload_hash, state FROM batches WHERE run_id = ? AND number = ?",
            (run_id, batch.number),
        )
        if not expected:
            raise LedgerError(f"Run {run_id} has no batch {batch.number}: nothing was sent.")
        if expected[0][1] == ACCEPTED:
            raise LedgerError(
                f"Batch {batch.number} of run {run_id} was accepted already: it was not sent "
                "again. To send its events again on purpose, start a new run."
            )
        if expected[0][0] != payload_hash(batch.events):
            raise LedgerError(
                f"Batch {batch.number} does not hold the events run {run_id} planned for it: "
                "nothing was sent. Plan the batches again from the same events."
            )
        site = self._site(run_id)
        prints = sorted({event_fingerprint(event, site) for event in batch.events})
        with self._write() as db:
            db.execute(
                "UPDATE batches SET state = ?, started_at = ?, finished_at = NULL, "
                "sends = sends + 1, message = '' WHERE run_id = ? AND number = ?",
                (SENDING, _now(), run_id, batch.number),
            )
            db.executemany(
                "INSERT OR IGNORE INTO fingerprints (site_uuid, fingerprint, run_id, batch) "
                "VALUES (?, ?, ?, ?)",
                [(site, fp, run_id, batch.number) for fp in prints],
            )
            db.execute("UPDATE runs SET updated_at = ? WHERE id = ?", (_now(), run_id))

    def record(self, run_id: str, result: BatchResult) -> None:
        """Write a batch's outcome: call it as soon as the answer (or its absence) is known."""
        message = _redact(result.message, self._secrets.get(run_id, ()))
        with self._write() as db:
            db.execute(
                "UPDATE batches SET state = ?, status = ?, results = ?, failed = ?, "
                "attempts = attempts + ?, message = ?, finished_at = ? "
                "WHERE run_id = ? AND number = ?",
                (
                    result.state,
                    result.status,
                    result.results,
                    result.failed,
                    result.attempts,
                    message,
                    _now(),
                    run_id,
                    result.number,
                ),
            )
            db.execute("UPDATE runs SET updated_at = ? WHERE id = ?", (_now(), run_id))

    def end_run(self, run_id: str, *, interrupted: bool = False, stopped: str = "") -> str:
        """Close a run after sending; returns its new state.

        `interrupted`: the send ended by an exception; a batch still `sending` becomes
        `unknown`. Otherwise the run is `finished`, `stopped` (with the reason) when the
        run stopped early, or `interrupted` when some batches were never sent.
        """
        with self._write() as db:
            if interrupted:
                db.execute(
                    "UPDATE batches SET state = ?, message = ?, finished_at = ? "
                    "WHERE run_id = ? AND state = ?",
                    (UNKNOWN, _DIED_WHILE_SENDING, _now(), run_id, SENDING),
                )
            waiting = db.execute(
                "SELECT COUNT(*) FROM batches WHERE run_id = ? AND state = ?", (run_id, WAITING)
            ).fetchone()[0]
            state = (
                INTERRUPTED if interrupted else STOPPED if stopped
                else INTERRUPTED if waiting else FINISHED
            )  # fmt: skip
            message = _redact(stopped, self._secrets.get(run_id, ()))
            db.execute(
                "UPDATE runs SET state = ?, message = ?, updated_at = ? WHERE id = ?",
                (state, message, _now(), run_id),
            )
        return state

    def _site(self, run_id: str) -> str:
        site = self._sites.get(run_id)
        if site is None:
            site = self.run(run_id, with_batches=False).site_uuid
            self._sites[run_id] = site
        return site

    def _lock_path(self, run_id: str) -> Path:
        return self.path.parent / "locks" / f"{run_id}.lock"

    # --- reading

    def is_running(self, run_id: str) -> bool:
        """True while a process (this one included) is sending the run."""
        if run_id in self._held:
            return True
        lock = _RunLock(self._lock_path(run_id))
        if not lock.acquire():
            return True
        lock.release()
        return False

    def run(self, run_id: str, *, with_batches: bool = True) -> RunRecord:
        """One run; LedgerError when the ledger has no such run."""
        found = self._read(f"SELECT {_RUN_FIELDS} FROM runs WHERE id = ?", (run_id.strip(),))
        if not found:
            raise LedgerError(
                f"There is no run {run_id!r} in the send ledger at {self.path}: "
                "`bento-ui history` lists the runs."
            )
        return self._run_record(found[0], with_batches)

    def runs(self, limit: int | None = None) -> list[RunRecord]:
        """Runs, newest first, each with its batches."""
        sql = f"SELECT {_RUN_FIELDS} FROM runs ORDER BY created_at DESC, rowid DESC"
        params: tuple[Any, ...] = ()
        if limit is not None and limit > 0:
            sql += " LIMIT ?"
            params = (limit,)
        return [self._run_record(row, True) for row in self._read(sql, params)]

    def count_runs(self) -> int:
        return int(self._read("SELECT COUNT(*) FROM runs")[0][0])

    def _run_record(self, row: tuple[Any, ...], with_batches: bool) -> RunRecord:
        (run_id, created, updated, site, base_url, target, name, path, source_hash, options,
         state, events, held_back, message) = row  # fmt: skip
        batches: tuple[BatchRecord, ...] = ()
        if with_batches:
            batches = tuple(
                BatchRecord(run_id, *b)
                for b in self._read(
                    f"SELECT {_BATCH_FIELDS} FROM batches WHERE run_id = ? ORDER BY number",
                    (run_id,),
                )
            )
        if state == RUNNING and not self.is_running(run_id):
            # The process that was sending it ended without closing it: killed or crashed.
            state = INTERRUPTED
            batches = tuple(
                _replace_state(b, UNKNOWN, _DIED_WHILE_SENDING) if b.state == SENDING else b
                for b in batches
            )
        return RunRecord(
            id=run_id, created_at=created, updated_at=updated, site_uuid=site,
            base_url=base_url, target=target, source_name=name, source_path=path,
            source_hash=source_hash, options=json.loads(options), state=state, events=events,
            held_back=held_back, message=message, batches=batches,
        )  # fmt: skip

    def runs_table(self, limit: int | None = None) -> pd.DataFrame:
        """One row per run, newest first: id, when, state, target, site, file, totals."""
        rows = []
        for run in self.runs(limit):
            rows.append({
                "id": run.id, "created_at": run.created_at, "state": run.state,
                "target": run.target, "site_uuid": run.site_uuid, "base_url": run.base_url,
                "source_name": run.source_name, **run.totals, "batches": len(run.batches),
            })  # fmt: skip
        return pd.DataFrame(rows, columns=RUN_COLUMNS)

    def batches_table(self, run_id: str) -> pd.DataFrame:
        """One row per batch of a run: rows, events, Bento's counts, state, attempts, ..."""
        frame = pd.DataFrame(
            [b.as_dict() for b in self.run(run_id).batches], columns=[*BATCH_COLUMNS]
        )
        for column in ("results", "failed", "status"):
            frame[column] = frame[column].astype("Int64")
        return frame

    # --- the duplicate guard

    def already_accepted(
        self,
        site_uuid: str,
        events: Sequence[Mapping[str, Any]],
        *,
        exclude_run: str | None = None,
    ) -> DuplicateCheck:
        """Which of `events` this site accepted before, or may have (partial, unknown).

        Matches on the event fingerprint, whatever run or file the events came from.
        `exclude_run` leaves one run out (a run being resumed is checked by its batches).
        """
        if not events or not self._read(
            "SELECT 1 FROM fingerprints WHERE site_uuid = ? LIMIT 1", (site_uuid,)
        ):
            return DuplicateCheck(site_uuid=site_uuid, events=len(events))
        positions: dict[bytes, list[int]] = {}
        for i, event in enumerate(events):
            positions.setdefault(event_fingerprint(event, site_uuid), []).append(i)
        prints = sorted(positions)  # in index order: each query reads neighbouring pages
        found_in: dict[bytes, list[tuple[str, int]]] = {}
        for start in range(0, len(prints), _IN_CHUNK):
            chunk = prints[start : start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self._read(
                "SELECT fingerprint, run_id, batch FROM fingerprints "
                f"WHERE site_uuid = ? AND fingerprint IN ({marks})",
                (site_uuid, *chunk),
            )
            for fp, run_id, number in rows:
                if run_id != exclude_run:
                    found_in.setdefault(fp, []).append((run_id, number))
        # The state and date of each batch found, read once per run.
        batch_info: dict[tuple[str, int], tuple[str, str]] = {}
        for run_id in {run for hits in found_in.values() for run, _ in hits}:
            for number, state, when in self._read(
                "SELECT number, state, COALESCE(finished_at, started_at, '') FROM batches "
                "WHERE run_id = ?",
                (run_id,),
            ):
                batch_info[(run_id, number)] = (state, when)
        matches: dict[bytes, list[tuple[str, str, int, str]]] = {
            fp: [(*batch_info[key][:1], *key, batch_info[key][1]) for key in keys]
            for fp, keys in found_in.items()
        }
        accepted: list[int] = []
        uncertain: list[int] = []
        accepted_runs: dict[str, None] = {}
        uncertain_runs: dict[str, None] = {}
        uncertain_batches: dict[tuple[str, int, str], None] = {}
        accepted_dates: list[str] = []
        uncertain_dates: list[str] = []
        for fp, found in matches.items():
            hits = [m for m in found if m[0] == ACCEPTED]
            if hits:
                accepted.extend(positions[fp])
                for _, run_id, _, when in hits:
                    accepted_runs[run_id] = None
                    accepted_dates.append(when[:10])
                continue
            maybe = [m for m in found if m[0] in UNCERTAIN_STATES]
            if maybe:
                uncertain.extend(positions[fp])
                for state, run_id, number, when in maybe:
                    uncertain_runs[run_id] = None
                    shown = UNKNOWN if state == SENDING else state
                    uncertain_batches[(run_id, number, shown)] = None
                    uncertain_dates.append(when[:10])
        return DuplicateCheck(
            site_uuid=site_uuid,
            events=len(events),
            accepted=tuple(sorted(accepted)),
            uncertain=tuple(sorted(uncertain)),
            accepted_runs=tuple(sorted(accepted_runs)),
            uncertain_runs=tuple(sorted(uncertain_runs)),
            uncertain_batches=tuple(sorted(uncertain_batches)),
            accepted_dates=(min(accepted_dates), max(accepted_dates)) if accepted_dates else None,
            uncertain_dates=(
                (min(uncertain_dates), max(uncertain_dates)) if uncertain_dates else None
            ),
        )


_RUN_FIELDS = (
    "id, created_at, updated_at, site_uuid, base_url, target, source_name, source_path, "
    "source_hash, options, state, events, held_back, message"
)
_BATCH_FIELDS = (
    "number, rows, events, payload_hash, state, status, results, failed, attempts, sends, "
    "message, started_at, finished_at"
)


def _replace_state(batch: BatchRecord, state: str, message: str) -> BatchRecord:
    return dataclasses.replace(batch, state=state, message=message)
