"""The send ledger: a local record of every send, so nothing is sent twice by mistake.

Bento has no idempotency key: a batch sent twice is recorded twice, and every event can
start an email automation. So the tool remembers, in a SQLite file under the user's data
directory (`BENTO_UI_HOME` overrides it, see `bento_ui.paths`):

- each **run**: when, the site UUID and API address, the source file's name, absolute
  path and SHA-256, and the options that turned it into events;
- each **batch** of a run: its spreadsheet rows, event count, a hash of its payload, its
  state and Bento's answer (an `outcomes.Outcome`). A batch is written as `sending`
  before its request and with its outcome after the answer, so a crash at any moment
  leaves a true record: a batch still `sending` when its run is no longer alive is
  reported as `unknown` (Bento may have recorded it);
- each **failure** Bento named: the event's spreadsheet row, email, type and Bento's
  reason (so a person can fix it), and its fingerprint;
- a **fingerprint** of every event claimed for a site: a SHA-256 of the event's canonical
  JSON and the site UUID. The duplicate guard (`bento_ui.guard`) uses them to find events
  a site has, may have, or is being sent right now, whichever run or file they came from.

It never stores a key, nor the events themselves. Every write is one short transaction
in WAL mode with `synchronous=FULL`: once a call returns, the write survives the process
being killed or the machine losing power. The send engine (`bento_ui.sending`) is its
one writer; people read it through `runs`, `run` and the history commands.

A run that is being sent holds an operating-system lock on a small file next to the
ledger from before its events are claimed until it ends; the lock goes when the process
ends, however it ends. That is how a `running` run whose process was killed is told
apart from one still going, why two processes can never send the same run at once, and
how the guard knows which events another process is sending right now: `claim` checks
and claims a batch's fingerprints in one transaction, so of two processes sending the
same file at once, the second finds the first's events in flight and holds them back.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import sqlite3
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

import pandas as pd

from bento_ui.batching import Batch, describe_rows, plan_batches
from bento_ui.config import Credentials
from bento_ui.errors import LedgerError
from bento_ui.event_texts import TableEvents, chained, select
from bento_ui.guard import DuplicateCheck, Found, Held, Resend, SourceRows
from bento_ui.outcomes import (
    ANSWER_LOST,
    Answered,
    BatchState,
    EventError,
    EventFailure,
    Outcome,
    RunState,
    add_up,
    describe_batch,
    redact,
)
from bento_ui.paths import ledger_path
from bento_ui.payloads import canonical_json

SCHEMA_VERSION = 2
WAITING, SENDING, ACCEPTED, PARTIAL = (
    BatchState.WAITING, BatchState.SENDING, BatchState.ACCEPTED, BatchState.PARTIAL,
)  # fmt: skip
UNKNOWN = BatchState.UNKNOWN

_DIED_WHILE_SENDING = (
    "The send stopped while this batch was being sent (the process ended or lost the "
    "connection): Bento may have recorded it. Check Bento before sending it again."
)
_IN_CHUNK = 500  # fingerprints per query: far below SQLite's limit on parameters

# Schema 2 (failures Bento named, streamed runs not planned to the end) over schema 1.
_FAILURES_TABLE = """
CREATE TABLE IF NOT EXISTS failures (
    run_id TEXT NOT NULL,
    batch INTEGER NOT NULL,
    position INTEGER NOT NULL,
    row INTEGER NOT NULL,
    email TEXT NOT NULL,
    type TEXT NOT NULL,
    error TEXT NOT NULL,
    fingerprint BLOB NOT NULL,
    PRIMARY KEY (run_id, batch, position)
);
"""
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
    message TEXT NOT NULL DEFAULT '',
    planning_done INTEGER NOT NULL DEFAULT 1
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
    named INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, number)
);
CREATE TABLE IF NOT EXISTS fingerprints (
    site_uuid TEXT NOT NULL,
    fingerprint BLOB NOT NULL,
    run_id TEXT NOT NULL,
    batch INTEGER NOT NULL,
    PRIMARY KEY (site_uuid, fingerprint, run_id, batch)
) WITHOUT ROWID;
""" + _FAILURES_TABLE

_FROM_1 = """
ALTER TABLE runs ADD COLUMN planning_done INTEGER NOT NULL DEFAULT 1;
ALTER TABLE batches ADD COLUMN named INTEGER NOT NULL DEFAULT 0;
""" + _FAILURES_TABLE

BATCH_COLUMNS = [
    "batch", "rows", "events", "results", "failed", "state", "status", "attempts", "sends",
    "started_at", "finished_at", "message", "failures",
]  # fmt: skip
RUN_COLUMNS = [
    "id", "created_at", "state", "where", "site_uuid", "base_url", "source_name", "events",
    "recorded", "failed", "unknown", "not sent", "batches",
]  # fmt: skip


# --- hashes ------------------------------------------------------------------------------


def event_fingerprint(event: Mapping[str, Any], site_uuid: str) -> bytes:
    """SHA-256 of the site UUID and the event's canonical JSON (32 bytes)."""
    text = site_uuid + "\n" + canonical_json(event)
    return hashlib.sha256(text.encode("utf-8")).digest()


def fingerprints(events: Sequence[Mapping[str, Any]], site_uuid: str) -> list[bytes]:
    """`event_fingerprint` of each event; for a table's events (`TableEvents`) from
    their canonical JSON built column by column, without making the dicts."""
    if isinstance(events, TableEvents):
        return events.fingerprints(site_uuid)
    return [event_fingerprint(event, site_uuid) for event in events]


def payload_hash(events: Sequence[Mapping[str, Any]]) -> str:
    """SHA-256 (hex) of a batch's events as canonical JSON, in order."""
    if isinstance(events, TableEvents):
        return events.payload_hash()
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
class BatchRecord(Answered):
    """One batch of a run, as the ledger knows it."""

    run_id: str
    number: int
    rows: str  # spreadsheet rows, as `describe_rows` writes them
    events: int
    payload_hash: str
    state: BatchState
    outcome: Outcome  # the latest answer (state WAITING and no counts before any)
    sends: int  # how many times the batch was handed to Bento (more than 1: resent)
    started_at: str | None
    finished_at: str | None
    failures: tuple[EventFailure, ...] = ()  # the refused events Bento named

    @property
    def row_numbers(self) -> list[int]:
        return parse_rows(self.rows)

    def as_dict(self) -> dict[str, Any]:
        o = self.outcome
        return {
            "batch": self.number, "rows": self.rows, "events": self.events,
            "results": o.results, "failed": o.failed, "state": str(self.state),
            "status": o.status, "attempts": o.attempts, "sends": self.sends,
            "started_at": self.started_at, "finished_at": self.finished_at,
            "message": o.message, "payload_hash": self.payload_hash,
            "failures": [
                {"row": f.row, "email": f.email, "type": f.type, "error": f.error}
                for f in self.failures
            ],
        }  # fmt: skip

    def describe(self, of: int) -> str:
        """One line, like the CLI's line for a batch being sent."""
        return describe_batch(
            self.number, of, self.rows, self.events, self.state, self.outcome, sends=self.sends
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
    state: RunState
    events: int  # events in the run's batches
    held_back: int  # events of the source not sent because the ledger showed them sent
    message: str
    planning_done: bool = True  # False: a streamed run that stopped before its file's end
    batches: tuple[BatchRecord, ...] = field(default=())

    def batch(self, number: int) -> BatchRecord:
        """The batch with this number (numbers may have gaps: never index by position)."""
        for record in self.batches:
            if record.number == number:
                return record
        raise LedgerError(f"Run {self.id} has no batch {number}.")

    def numbers_in(self, *states: str) -> list[int]:
        return [b.number for b in self.batches if b.state in states]

    def events_in(self, *states: str) -> int:
        return sum(b.events for b in self.batches if b.state in states)

    @property
    def of(self) -> int:
        """What the batch lines count to: the highest batch number."""
        return max((b.number for b in self.batches), default=0)

    @property
    def totals(self) -> dict[str, int]:
        """Like `SendReport.totals`: events = recorded + failed + unknown + not sent."""
        totals = add_up((b.events, b.outcome, b.state) for b in self.batches)
        totals["events"] += self.held_back
        totals["not sent"] += self.held_back
        return totals

    @property
    def failures(self) -> list[EventFailure]:
        return [f for b in self.batches for f in b.failures]

    @property
    def complete(self) -> bool:
        """True when Bento accepted every batch of the run in full."""
        return bool(self.batches) and all(b.state == ACCEPTED for b in self.batches)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "state": str(self.state), "created_at": self.created_at,
            "updated_at": self.updated_at, "site_uuid": self.site_uuid,
            "base_url": self.base_url, "target": self.target,
            "source_name": self.source_name, "source_path": self.source_path,
            "source_hash": self.source_hash, "options": self.options, "events": self.events,
            "held_back": self.held_back, "totals": self.totals, "message": self.message,
            "planning_done": self.planning_done,
            "batches": [b.as_dict() for b in self.batches],
        }  # fmt: skip


@dataclass(frozen=True)
class Claimed:
    """What `Ledger.claim` planned: the batches to send, and what the guard found."""

    batches: list[Batch]
    check: DuplicateCheck


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
                self.path, timeout=120.0, isolation_level=None, check_same_thread=False
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.execute("PRAGMA cache_size=-65536")  # 64 MB: fingerprints of big files
            self._migrate()
            stat = os.stat(self.path)
            self._identity = (stat.st_dev, stat.st_ino)
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
            script = _FROM_1 if version == 1 else _SCHEMA
            with self._write() as db:
                for statement in filter(str.strip, script.split(";")):
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
                self._conn.execute("COMMIT")
            except BaseException as exc:
                with suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.IntegrityError):
                    raise
                if isinstance(exc, sqlite3.Error):  # a full disk, a file gone read-only
                    raise self._error("written", exc) from exc
                raise

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return list(self._conn.execute(sql, params).fetchall())
            except sqlite3.Error as exc:
                raise self._error("read", exc) from exc

    # --- writing a run (the send engine's calls, in the order it makes them)

    def create_run(
        self,
        credentials: Credentials,
        *,
        source_name: str = "",
        source_path: str | os.PathLike[str] | None = None,
        source_hash: str | None = None,
        options: Mapping[str, Any] | None = None,
        target: str | None = None,
        planning_done: bool = True,
    ) -> str:
        """Record a new run with no batches yet, and hold it (see `hold`); return its id.

        `source_path` is stored as an absolute path; `source_hash` is the SHA-256 of the
        file's bytes (see `file_hash`). `options` (JSON-able) are what turned the file into
        events, so that a resume can rebuild them. `target` says where the run goes:
        "sandbox", "bento" or "server" (default: "bento" for Bento's own address).
        `planning_done=False` marks a run whose batches are claimed as a file is read.
        """
        secrets_ = (credentials.secret_key, credentials.publishable_key)
        options_json = redact(canonical_json(dict(options or {})), secrets_)
        path = str(Path(source_path).resolve()) if source_path is not None else None
        target = target or ("bento" if credentials.is_bento else "server")
        for _ in range(20):
            run_id = _new_run_id()
            if not self._acquire(run_id):
                continue  # another process drew the same id this minute
            now = _now()
            try:
                with self._write() as db:
                    db.execute(
                        "INSERT INTO runs (id, created_at, updated_at, site_uuid, base_url, "
                        "target, source_name, source_path, source_hash, options, state, events, "
                        "held_back, planning_done) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, ?)",
                        (run_id, now, now, credentials.site_uuid, _clean_url(credentials.base_url),
                         target, source_name, path, source_hash, options_json, RunState.RUNNING,
                         int(planning_done)),
                    )  # fmt: skip
            except sqlite3.IntegrityError:
                self.release(run_id)
                continue  # the same id in the same minute: draw again
            except BaseException:
                self.release(run_id)
                raise
            self._secrets[run_id] = secrets_
            self._sites[run_id] = credentials.site_uuid
            return run_id
        raise LedgerError("Could not find a free run id: try again.")  # pragma: no cover

    def claim(
        self,
        run_id: str,
        events: Sequence[dict[str, Any]],
        rows: Sequence[int],
        *,
        resend: Resend,
        batch_size: int,
        first_number: int = 1,
        held_back: int = 0,
        source: SourceRows | None = None,
    ) -> Claimed:
        """Check `events` against the ledger and claim the ones that go, in ONE transaction.

        The events the guard lets through (see `guard.Resend`) are planned as batches
        numbered from `first_number` and written `waiting`, with their fingerprints, in
        the run `run_id` (which this ledger must hold). A second process that checks the
        same events afterwards finds them in flight. `held_back` adds to the run's count of
        events of its source not sent.
        """
        if run_id not in self._held:
            raise LedgerError(f"Run {run_id} is not held by this process: nothing was claimed.")
        site = self._site(run_id)
        with self._write() as db:
            check = self._check(site, events, exclude_run=run_id, source=source)
            keep = check.keep(resend)
            kept_rows = [r for r, k in zip(rows, keep, strict=True) if k]
            kept = select(events, keep)
            batches = [
                Batch(b.number + first_number - 1, b.rows, b.events)
                for b in plan_batches(kept, kept_rows, batch_size)
            ]
            db.executemany(
                "INSERT INTO batches (run_id, number, rows, events, payload_hash, state) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(run_id, b.number, describe_rows(b.rows), b.size, payload_hash(b.events),
                  WAITING) for b in batches],
            )  # fmt: skip
            db.executemany(
                "INSERT OR IGNORE INTO fingerprints (site_uuid, fingerprint, run_id, batch) "
                "VALUES (?, ?, ?, ?)",
                [(site, fp, run_id, b.number) for b in batches
                 for fp in set(fingerprints(b.events, site))],
            )  # fmt: skip
            held = len(events) - len(kept) + held_back
            db.execute(
                "UPDATE runs SET events = events + ?, held_back = held_back + ?, updated_at = ? "
                "WHERE id = ?",
                (len(kept), held, _now(), run_id),
            )
        return Claimed(batches, check)

    def reclaim(self, run_id: str, batches: Sequence[Batch]) -> DuplicateCheck:
        """For a resume of a run this ledger holds: check its batches' events against the
        other runs, in a write transaction so that no other send claims them meanwhile
        (see `guard.batches_held` for which batches that keeps back)."""
        site = self._site(run_id)
        with self._write() as db:
            events = chained([b.events for b in batches])
            check = self._check(site, events, exclude_run=run_id)
            db.execute("UPDATE runs SET updated_at = ? WHERE id = ?", (_now(), run_id))
        return check

    def finish_planning(self, run_id: str) -> None:
        """Note that every row of a streamed run's file has been claimed or held back."""
        with self._write() as db:
            db.execute("UPDATE runs SET planning_done = 1 WHERE id = ?", (run_id,))

    def hold(self, run_id: str, credentials: Credentials | None = None) -> RunRecord:
        """Hold an existing run for sending (a resume): nobody else can send it until
        `release`. Batches left `sending` by a process that died become `unknown`.
        Raises LedgerError when another process (or thread) is sending the run."""
        record = self.run(run_id)
        if credentials is not None:
            self._secrets[run_id] = (credentials.secret_key, credentials.publishable_key)
        self._sites[run_id] = record.site_uuid
        if not self._acquire(run_id):
            raise LedgerError(
                f"Run {run_id} is being sent right now by another window or process: "
                f"wait for it to finish, then look at `bento-ui history {run_id}`."
            )
        try:
            with self._write() as db:
                db.execute(
                    "UPDATE batches SET state = ?, message = ?, finished_at = ? "
                    "WHERE run_id = ? AND state = ?",
                    (UNKNOWN, _DIED_WHILE_SENDING, _now(), run_id, SENDING),
                )
                db.execute(
                    "UPDATE runs SET state = ?, updated_at = ?, message = '' WHERE id = ?",
                    (RunState.RUNNING, _now(), run_id),
                )
        except BaseException:
            self.release(run_id)
            raise
        return self.run(run_id)

    def release(self, run_id: str) -> None:
        """Let go of a run held by `create_run` or `hold`."""
        with self._lock:
            held = self._held.pop(run_id, None)
        if held is not None:
            held.release()

    def _acquire(self, run_id: str) -> bool:
        lock = _RunLock(self._lock_path(run_id))
        with self._lock:
            if run_id in self._held or not lock.acquire():
                return False
            self._held[run_id] = lock
        return True

    def check_present(self) -> None:
        """Raise LedgerError when the ledger file was deleted or replaced since it was
        opened: writes would go to a file nobody will read, and the guard would forget."""
        try:
            now = os.stat(self.path)
        except OSError:
            now = None
        if now is None or (now.st_dev, now.st_ino) != self._identity:
            raise LedgerError(
                f"The send ledger at {self.path} was deleted or replaced while sending, so "
                "what is sent now could not be remembered: the send stopped. Put the file "
                "back if you can; `bento-ui history` then shows what was sent."
            )

    def mark_sending(self, run_id: str, batch: Batch) -> None:
        """Write `sending`: call it just before the request.

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
        with self._write() as db:
            db.execute(
                "UPDATE batches SET state = ?, started_at = ?, finished_at = NULL, "
                "sends = sends + 1, message = '' WHERE run_id = ? AND number = ?",
                (SENDING, _now(), run_id, batch.number),
            )
            db.execute("UPDATE runs SET updated_at = ? WHERE id = ?", (_now(), run_id))

    def record(self, run_id: str, batch: Batch, state: BatchState, outcome: Outcome) -> None:
        """Write a batch's outcome and the failures Bento named: call it as soon as the
        answer (or its absence) is known."""
        secrets_ = self._secrets.get(run_id, ())
        site = self._site(run_id)
        failures = []
        for error in outcome.errors:
            if 0 <= error.index < batch.size:
                event = batch.events[error.index]
                failures.append((
                    run_id, batch.number, error.index, batch.rows[error.index],
                    str(event.get("email", "")), str(event.get("type", "")),
                    redact(error.error, secrets_), event_fingerprint(event, site),
                ))  # fmt: skip
        with self._write() as db:
            db.execute(
                "UPDATE batches SET state = ?, status = ?, results = ?, failed = ?, "
                "attempts = attempts + ?, message = ?, finished_at = ?, named = ? "
                "WHERE run_id = ? AND number = ?",
                (state, outcome.status, outcome.results, outcome.failed, outcome.attempts,
                 redact(outcome.message, secrets_), _now(), len(failures), run_id,
                 batch.number),
            )  # fmt: skip
            db.execute(
                "DELETE FROM failures WHERE run_id = ? AND batch = ?", (run_id, batch.number)
            )
            db.executemany(
                "INSERT INTO failures (run_id, batch, position, row, email, type, error, "
                "fingerprint) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                failures,
            )
            db.execute("UPDATE runs SET updated_at = ? WHERE id = ?", (_now(), run_id))

    def end_run(self, run_id: str, *, interrupted: bool = False, stopped: str = "") -> RunState:
        """Close a run after sending and release it; returns its new state.

        `interrupted`: the send ended by an exception; a batch still `sending` becomes
        `unknown`. Otherwise the run is `finished`, `stopped` (with the reason) when the
        run stopped early, or `interrupted` when some batches were never sent.
        """
        try:
            with self._write() as db:
                if interrupted:
                    db.execute(
                        "UPDATE batches SET state = ?, message = ?, finished_at = ? "
                        "WHERE run_id = ? AND state = ?",
                        (UNKNOWN, _DIED_WHILE_SENDING, _now(), run_id, SENDING),
                    )
                waiting = db.execute(
                    "SELECT COUNT(*) FROM batches WHERE run_id = ? AND state = ?",
                    (run_id, WAITING),
                ).fetchone()[0]
                unplanned = not db.execute(
                    "SELECT planning_done FROM runs WHERE id = ?", (run_id,)
                ).fetchone()[0]
                state = (
                    RunState.INTERRUPTED if interrupted else RunState.STOPPED if stopped
                    else RunState.INTERRUPTED if waiting or unplanned else RunState.FINISHED
                )  # fmt: skip
                message = redact(stopped, self._secrets.get(run_id, ()))
                db.execute(
                    "UPDATE runs SET state = ?, message = ?, updated_at = ? WHERE id = ?",
                    (state, message, _now(), run_id),
                )
        finally:
            self.release(run_id)
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
         state, events, held_back, message, planning_done) = row  # fmt: skip
        batches: tuple[BatchRecord, ...] = ()
        dead = state == RunState.RUNNING and not self.is_running(run_id)
        if dead:  # the process that was sending it ended without closing it: killed
            state = RunState.INTERRUPTED
        if with_batches:
            failures: dict[int, list[EventFailure]] = {}
            positions: dict[int, list[int]] = {}
            for number, position, frow, email, etype, error in self._read(
                "SELECT batch, position, row, email, type, error FROM failures "
                "WHERE run_id = ? ORDER BY batch, position",
                (run_id,),
            ):
                failures.setdefault(number, []).append(EventFailure(frow, email, etype, error))
                positions.setdefault(number, []).append(position)
            batches = tuple(
                _batch_record(run_id, b, failures.get(b[0], []), positions.get(b[0], []), dead)
                for b in self._read(
                    f"SELECT {_BATCH_FIELDS} FROM batches WHERE run_id = ? ORDER BY number",
                    (run_id,),
                )
            )
        return RunRecord(
            id=run_id, created_at=created, updated_at=updated, site_uuid=site,
            base_url=base_url, target=target, source_name=name, source_path=path,
            source_hash=source_hash, options=json.loads(options), state=RunState(state),
            events=events, held_back=held_back, message=message,
            planning_done=bool(planning_done), batches=batches,
        )  # fmt: skip

    def runs_table(self, limit: int | None = None) -> pd.DataFrame:
        """`runs_frame` of the newest runs."""
        return runs_frame(self.runs(limit))

    def batches_table(self, run_id: str) -> pd.DataFrame:
        """`batches_frame` of one run."""
        return batches_frame(self.run(run_id))

    # --- the duplicate guard

    def check(
        self,
        site_uuid: str,
        events: Sequence[Mapping[str, Any]],
        *,
        exclude_run: str | None = None,
        source: SourceRows | None = None,
    ) -> DuplicateCheck:
        """Which of `events` this site has, may have, or is being sent right now (see
        `bento_ui.guard`), whichever run or file they came from; with `source`, also the
        events whose row of the same file was recorded before with other options. Reads
        only: a send checks again when it claims the events (`claim`)."""
        return self._check(site_uuid, events, exclude_run=exclude_run, source=source)

    def _check(
        self,
        site_uuid: str,
        events: Sequence[Mapping[str, Any]],
        *,
        exclude_run: str | None,
        source: SourceRows | None = None,
    ) -> DuplicateCheck:
        check = self._check_prints(site_uuid, events, exclude_run=exclude_run)
        if source is not None and events:
            check = self._check_rows(check, source, exclude_run)
        return check

    def _check_rows(
        self, check: DuplicateCheck, source: SourceRows, exclude_run: str | None
    ) -> DuplicateCheck:
        """Add the events whose row of the same file and sheet a site recorded before."""
        recorded: dict[int, tuple[str, str]] = {}  # row -> (run, day)
        for run_id, options in self._read(
            "SELECT id, options FROM runs WHERE site_uuid = ? AND source_hash = ?",
            (check.site_uuid, source.file_hash),
        ):
            if run_id == exclude_run or json.loads(options).get("sheet") != source.sheet:
                continue
            refused = {
                (number, row) for number, row in self._read(
                    "SELECT batch, row FROM failures WHERE run_id = ?", (run_id,))
            }  # fmt: skip
            for number, rows, when in self._read(
                "SELECT number, rows, COALESCE(finished_at, '') FROM batches "
                "WHERE run_id = ? AND state IN (?, ?)",
                (run_id, ACCEPTED, PARTIAL),
            ):
                for row in parse_rows(rows):
                    if (number, row) not in refused:
                        recorded.setdefault(row, (run_id, when[:10]))
        if not recorded:
            return check
        known = {i for hit in check.found.values() for i in hit.positions}
        hits = [
            (i, recorded[row]) for i, row in enumerate(source.rows)
            if row in recorded and i not in known
        ]  # fmt: skip
        if not hits:
            return check
        days = [day or _now()[:10] for _, (_, day) in hits]
        found = dict(check.found)
        found[Held.SAME_ROW_BEFORE] = Found(
            tuple(i for i, _ in hits), tuple(sorted({run for _, (run, _) in hits})),
            min(days), max(days),
        )  # fmt: skip
        order = (Held.SENT_BEFORE, Held.SAME_ROW_BEFORE, Held.IN_FLIGHT, Held.UNCERTAIN_BEFORE)
        return DuplicateCheck(
            site_uuid=check.site_uuid, events=check.events,
            found={reason: found[reason] for reason in order if reason in found},
        )  # fmt: skip

    def _check_prints(
        self, site_uuid: str, events: Sequence[Mapping[str, Any]], *, exclude_run: str | None
    ) -> DuplicateCheck:
        if not events or not self._read(
            "SELECT 1 FROM fingerprints WHERE site_uuid = ? LIMIT 1", (site_uuid,)
        ):
            return DuplicateCheck(site_uuid=site_uuid, events=len(events))
        positions: dict[bytes, list[int]] = {}
        for i, fp in enumerate(fingerprints(events, site_uuid)):
            positions.setdefault(fp, []).append(i)
        prints = sorted(positions)  # in index order: each query reads neighbouring pages
        hits: dict[bytes, list[tuple[str, int]]] = {}
        for start in range(0, len(prints), _IN_CHUNK):
            chunk = prints[start : start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            for fp, run_id, number in self._read(
                "SELECT fingerprint, run_id, batch FROM fingerprints "
                f"WHERE site_uuid = ? AND fingerprint IN ({marks})",
                (site_uuid, *chunk),
            ):
                if run_id != exclude_run:
                    hits.setdefault(fp, []).append((run_id, number))
        runs = {run for found in hits.values() for run, _ in found}
        live = {run for run in runs if self.is_running(run)}
        # Per batch found: state, day, whether all its failures are named; per run, once.
        batch_info: dict[tuple[str, int], tuple[str, str, bool]] = {}
        named: set[tuple[str, int, bytes]] = set()
        for run_id in runs:
            for number, state, when, failed, count in self._read(
                "SELECT number, state, COALESCE(finished_at, started_at, ''), failed, named "
                "FROM batches WHERE run_id = ?",
                (run_id,),
            ):
                batch_info[(run_id, number)] = (state, when[:10], failed == count)
            named.update(
                (run_id, number, fp)
                for number, fp in self._read(
                    "SELECT batch, fingerprint FROM failures WHERE run_id = ?", (run_id,)
                )
            )
        grouped: dict[Held, tuple[list[int], dict[str, None], list[str]]] = {}
        for fp, found in hits.items():
            fates: dict[Held, list[tuple[str, str]]] = {}
            for run_id, number in found:
                state, day, all_named = batch_info[(run_id, number)]
                fate = _fate(state, run_id in live, all_named, (run_id, number, fp) in named)
                if fate is not None:
                    fates.setdefault(fate, []).append((run_id, day))
            for reason in (Held.SENT_BEFORE, Held.IN_FLIGHT, Held.UNCERTAIN_BEFORE):
                if reason in fates:
                    at, in_runs, days = grouped.setdefault(reason, ([], {}, []))
                    at.extend(positions[fp])
                    for run_id, day in fates[reason]:
                        in_runs[run_id] = None
                        days.append(day or _now()[:10])
                    break
        return DuplicateCheck(
            site_uuid=site_uuid,
            events=len(events),
            found={  # in the order a person reads them: accepted first
                reason: Found(tuple(sorted(at)), tuple(sorted(in_runs)), min(days), max(days))
                for reason in (Held.SENT_BEFORE, Held.IN_FLIGHT, Held.UNCERTAIN_BEFORE)
                if reason in grouped
                for at, in_runs, days in [grouped[reason]]
            },
        )


def runs_frame(runs: Sequence[RunRecord]) -> pd.DataFrame:
    """One row per run: id, when, state, where it went, its file and totals (the history
    page, `bento-ui history --csv`)."""
    rows = [
        {"id": run.id, "created_at": run.created_at, "state": str(run.state),
         "where": run_where(run), "site_uuid": run.site_uuid, "base_url": run.base_url,
         "source_name": run.source_name, **run.totals, "batches": len(run.batches)}
        for run in runs
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def batches_frame(run: RunRecord) -> pd.DataFrame:
    """One row per batch of a run: rows, events, Bento's counts, state, attempts, ..."""
    rows = []
    for b in run.batches:
        row = b.as_dict()
        row["failures"] = len(b.failures)
        rows.append(row)
    frame = pd.DataFrame(rows, columns=BATCH_COLUMNS)
    for column in ("results", "failed", "status"):
        frame[column] = frame[column].astype("Int64")
    return frame


def run_where(run: RunRecord) -> str:
    """Where a run went, in words: 'the sandbox', 'Bento site abc', 'site abc at URL'."""
    if run.target == "sandbox":
        return "the sandbox"
    where = "" if run.target == "bento" else f" at {run.base_url}"
    return f"Bento site {run.site_uuid}{where}"


def _batch_record(
    run_id: str, row: tuple[Any, ...], failures: list[EventFailure], positions: list[int],
    dead: bool,
) -> BatchRecord:
    (number, rows, events, digest, state, status, results, failed, attempts, sends, message,
     started, finished) = row  # fmt: skip
    state = BatchState(state)
    if dead and state == SENDING:
        state, message = UNKNOWN, _DIED_WHILE_SENDING
    errors = tuple(EventError(i, f.error) for i, f in zip(positions, failures, strict=True))
    outcome = Outcome(state, status, results, failed, attempts, 0.0, message, errors=errors)
    return BatchRecord(run_id, number, rows, events, digest, state, outcome, sends, started,
                       finished, tuple(failures))  # fmt: skip


def _fate(state: str, live: bool, all_named: bool, named: bool) -> Held | None:
    """What an event's presence in one earlier batch says; None: not recorded there."""
    if state == ACCEPTED:
        return Held.SENT_BEFORE
    if live and state in (WAITING, SENDING):
        return Held.IN_FLIGHT
    if state == PARTIAL:
        if named:
            return None  # Bento refused it by name: it was not recorded
        return Held.SENT_BEFORE if all_named else Held.UNCERTAIN_BEFORE
    if state in ANSWER_LOST:
        return Held.UNCERTAIN_BEFORE
    return None  # waiting in a run nobody sends, rejected, failed, skipped


_RUN_FIELDS = (
    "id, created_at, updated_at, site_uuid, base_url, target, source_name, source_path, "
    "source_hash, options, state, events, held_back, message, planning_done"
)
_BATCH_FIELDS = (
    "number, rows, events, payload_hash, state, status, results, failed, attempts, sends, "
    "message, started_at, finished_at"
)
