"""What a send can come to: the words every part of bento_ui shares.

The client judges Bento's answer into one `Outcome`; the send loop pairs it with its
batch (`sending.BatchResult`); the ledger stores it and gives it back on a `BatchRecord`;
the CLI, the app and the notebook show it. Nobody copies its fields by hand.

A batch ends in one `BatchState`:

    waiting     planned, not sent yet
    sending     handed to Bento, no answer yet (a crash leaves it so: read as unknown)
    accepted    Bento recorded every event (results = size, failed = 0)
    partial     Bento recorded some events and refused others (failed > 0); the
                refused ones it names in `errors` (at most 20) were not recorded
    rejected    a 4xx: nothing was recorded. A 422 carries Bento's counts and reasons
                (every event of the batch failed); 401/403/404 also stop the run
    failed      retries spent on 429, 5xx or connections that never carried the
                request: nothing was recorded
    unknown     sent, but no usable answer (timeout, dropped connection, counts that
                contradict the batch): Bento may have recorded it
    skipped     not sent: a dry run, or the run stopped before it

Each event's fate follows: accepted, failed (named by Bento, with its reason: not
recorded, safe to send again) or uncertain (its batch is unknown, or Bento counted
failures it did not name because of the 20-item cap).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import quote


class BatchState(StrEnum):
    WAITING = "waiting"
    SENDING = "sending"
    ACCEPTED = "accepted"
    PARTIAL = "partial"
    REJECTED = "rejected"
    FAILED = "failed"
    UNKNOWN = "unknown"
    SKIPPED = "skipped"


class RunState(StrEnum):
    """A run in the ledger. `running` holds only while a process holds the run's lock."""

    PLANNED = "planned"
    RUNNING = "running"
    INTERRUPTED = "interrupted"
    STOPPED = "stopped"
    FINISHED = "finished"


# Batches of which Bento recorded nothing: sending them again is safe.
NOT_RECORDED = frozenset(
    {BatchState.WAITING, BatchState.REJECTED, BatchState.FAILED, BatchState.SKIPPED}
)
# Batches whose answer was lost: every event of them may have been recorded.
ANSWER_LOST = frozenset({BatchState.UNKNOWN, BatchState.SENDING})

EXTRACT_CHARS = 200  # how much of a message from Bento is kept
_MASK = "********"


@dataclass(frozen=True)
class EventError:
    """One event Bento refused: its position in the request's `events`, and why."""

    index: int
    error: str


@dataclass(frozen=True)
class Outcome:
    """How one batch ended, as the client judged Bento's answer.

    `results`/`failed` are Bento's counts when it gave counts that agree with the batch;
    `errors` the refused events it named (at most 20 by Bento's spec).
    """

    state: BatchState
    status: int | None = None
    results: int | None = None
    failed: int | None = None
    attempts: int = 0
    seconds: float = 0.0
    message: str = ""
    stop_run: bool = False
    errors: tuple[EventError, ...] = ()

    @property
    def counted(self) -> bool:
        """True when Bento's counts are known (accepted, partial, a 422 with counts)."""
        return self.results is not None and self.failed is not None

    @property
    def all_failures_named(self) -> bool:
        return self.counted and len(self.errors) == self.failed


class Answered:
    """What a batch that carries an `outcome` reads off it: `sending.BatchResult` (a send
    now) and `ledger.BatchRecord` (the ledger's memory of one)."""

    outcome: Outcome
    state: BatchState
    events: int

    @property
    def results(self) -> int | None:
        return self.outcome.results

    @property
    def failed(self) -> int | None:
        return self.outcome.failed

    @property
    def status(self) -> int | None:
        return self.outcome.status

    @property
    def attempts(self) -> int:
        return self.outcome.attempts

    @property
    def message(self) -> str:
        return self.outcome.message

    @property
    def uncertain_events(self) -> int:
        """Events whose fate is not known: all of a batch without an answer, or those
        Bento did not name in a batch whose failures it did not all name."""
        if self.state in ANSWER_LOST:
            return self.events
        if self.state == BatchState.PARTIAL and not self.outcome.all_failures_named:
            return self.events - len(self.outcome.errors)
        return 0


@dataclass(frozen=True)
class EventFailure:
    """One event Bento refused, as a person finds it: spreadsheet row, email, type, why."""

    row: int
    email: str
    type: str
    error: str

    def as_dict(self) -> dict[str, object]:
        return {"row": self.row, "email": self.email, "type": self.type, "error": self.error}


def add_up(items: Iterable[tuple[int, Outcome | None, BatchState]]) -> dict[str, int]:
    """Totals over (events, outcome, state) of batches: events = recorded + failed +
    unknown + not sent, whatever the answers said."""
    totals = {"events": 0, "recorded": 0, "failed": 0, "unknown": 0, "not sent": 0}
    for events, outcome, state in items:
        totals["events"] += events
        if state in ANSWER_LOST:
            totals["unknown"] += events
        elif outcome is not None and outcome.counted and state != BatchState.SKIPPED:
            # The client only keeps counts that add up to the batch (see client._counts).
            totals["recorded"] += outcome.results or 0
            totals["failed"] += outcome.failed or 0
        else:
            totals["not sent"] += events
    return totals


def describe_batch(
    number: int, of: int, rows: str, events: int, state: BatchState, outcome: Outcome | None,
    *, sends: int = 1,
) -> str:
    """One line for a batch, the same in the CLI, the history and the notebook."""
    if outcome is not None and outcome.counted:
        counts = f"results {outcome.results}, failed {outcome.failed}"
    elif state in ANSWER_LOST:
        counts = "no answer"
    elif state == BatchState.WAITING:
        counts = "not sent yet"
    else:
        counts = "nothing recorded"
    message = outcome.message if outcome is not None else ""
    shown = message if state not in (BatchState.ACCEPTED, BatchState.WAITING) else ""
    resent = f" (sent {sends} times)" if sends > 1 else ""
    return (
        f"batch {number}/{of}  rows {rows}  {events} event{'s' if events != 1 else ''}  "
        f"{counts}  {state}{resent}" + (f": {shown}" if shown else "")
    )


def secret_forms(secrets: Sequence[str]) -> list[str]:
    """Every way a key can come back in an answer: itself, the `publishable:secret` pair
    Basic auth sends, their base64 (the Authorization header) and URL-encoded forms;
    longest first, so a pair is masked whole before its parts. `secrets` is (secret key,
    publishable key), as the client and the ledger hold them."""
    keys = [key for key in secrets if key]
    pairs = [f"{keys[1]}:{keys[0]}"] if len(keys) == 2 else []
    forms: set[str] = set()
    for plain in [*pairs, *keys]:
        encoded = base64.b64encode(plain.encode("utf-8")).decode("ascii")
        forms.update({plain, quote(plain, safe=""), encoded, encoded.rstrip("=")})
    return sorted((form for form in forms if len(form) >= 4), key=len, reverse=True)


def redact(text: str, secrets: Sequence[str]) -> str:
    """`text` with every form of every given secret masked (see `secret_forms`)."""
    for form in secret_forms(secrets):
        text = text.replace(form, _MASK)
    return text


def shorten(text: str, limit: int = EXTRACT_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
