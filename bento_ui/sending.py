"""The send loop: batches in, one outcome per batch out, reported as it goes.

Progress reaches the caller through `on_batch`, so the same loop drives a Streamlit
progress bar, a terminal progress bar and a notebook. The report's totals always add up
to the events that went in: recorded + failed + unknown + not sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import pandas as pd

from bento_ui.batching import MAX_BATCH_SIZE, Batch, plan_batches
from bento_ui.client import BatchOutcome, BentoClient
from bento_ui.config import Credentials
from bento_ui.payloads import build_events

ACCEPTED, PARTIAL, REJECTED, FAILED, UNKNOWN, SKIPPED = (
    "accepted", "partial", "rejected", "failed", "unknown", "skipped",
)  # fmt: skip
# Batches worth sending again without asking: nothing of them was recorded.
RETRYABLE_STATES = (REJECTED, FAILED, SKIPPED)
REPORT_COLUMNS = [
    "batch", "rows", "events", "results", "failed", "state", "status", "attempts", "seconds",
    "message",
]  # fmt: skip

# Against Bento itself, stay under its documented rate limit; the sandbox needs none.
BENTO_REQUESTS_PER_MINUTE = 60


@dataclass(frozen=True)
class BatchResult:
    """What happened to one batch."""

    batch: Batch
    of: int  # how many batches the run has
    state: str
    results: int | None = None
    failed: int | None = None
    status: int | None = None
    attempts: int = 0
    seconds: float = 0.0
    message: str = ""

    @property
    def number(self) -> int:
        return self.batch.number

    @property
    def events(self) -> int:
        return self.batch.size

    def as_row(self) -> dict[str, object]:
        return {
            "batch": self.number,
            "rows": self.batch.row_ranges,
            "events": self.events,
            "results": self.results,
            "failed": self.failed,
            "state": self.state,
            "status": self.status,
            "attempts": self.attempts,
            "seconds": round(self.seconds, 3),
            "message": self.message,
        }

    def __str__(self) -> str:
        counts = (
            f"results {self.results}, failed {self.failed}"
            if self.results is not None
            else "nothing recorded"
            if self.state != UNKNOWN
            else "no answer"
        )
        return (
            f"batch {self.number}/{self.of}  rows {self.batch.row_ranges}  "
            f"{self.events} event{'s' if self.events != 1 else ''}  {counts}  {self.state}"
            + (f": {self.message}" if self.message and self.state != ACCEPTED else "")
        )


@dataclass
class SendReport:
    """Every batch's outcome, as a table and as totals."""

    results: list[BatchResult] = field(default_factory=list)
    stopped: str = ""  # why the run stopped early, if it did

    @property
    def table(self) -> pd.DataFrame:
        rows = [r.as_row() for r in self.results]
        frame = pd.DataFrame(rows, columns=REPORT_COLUMNS)
        for column in ("results", "failed", "status"):
            frame[column] = frame[column].astype("Int64")
        return frame

    @property
    def totals(self) -> dict[str, int]:
        events = recorded = failed = unknown = not_sent = 0
        for r in self.results:
            events += r.events
            if r.state in (ACCEPTED, PARTIAL):
                recorded += r.results or 0
                failed += r.failed or 0
                unknown += max(r.events - (r.results or 0) - (r.failed or 0), 0)
            elif r.state == UNKNOWN:
                unknown += r.events
            else:
                not_sent += r.events
        return {
            "events": events,
            "recorded": recorded,
            "failed": failed,
            "unknown": unknown,
            "not sent": not_sent,
        }

    @property
    def ok(self) -> bool:
        """True when every batch was accepted in full."""
        return bool(self.results) and all(r.state == ACCEPTED for r in self.results)

    def batches_in(self, *states: str) -> list[Batch]:
        return [r.batch for r in self.results if r.state in states]

    def __repr__(self) -> str:
        return "<SendReport: " + ", ".join(f"{v:,} {k}" for k, v in self.totals.items()) + ">"

    def _repr_html_(self) -> str:
        counts = ", ".join(f"{v:,} {k}" for k, v in self.totals.items())
        return f"<p>{counts}</p>" + str(self.table.to_html(index=False))


def send(
    table: pd.DataFrame,
    credentials: Credentials,
    *,
    batch_size: int = MAX_BATCH_SIZE,
    dry_run: bool = False,
    on_batch: Callable[[BatchResult], None] | None = None,
    client: BentoClient | None = None,
) -> SendReport:
    """Send the valid rows of an event table (`validate(...).valid`) in batches."""
    events = build_events(table)
    batches = plan_batches(events, [int(r) for r in table.index], batch_size)
    return send_batches(batches, credentials, dry_run=dry_run, on_batch=on_batch, client=client)


def make_client(credentials: Credentials, **options: object) -> BentoClient:
    """A client paced for Bento, unpaced for a local server such as the sandbox."""
    pace = BENTO_REQUESTS_PER_MINUTE if credentials.is_bento else None
    options.setdefault("requests_per_minute", pace)
    return BentoClient(credentials, **options)  # type: ignore[arg-type]


def send_batches(
    batches: Sequence[Batch],
    credentials: Credentials,
    *,
    dry_run: bool = False,
    on_batch: Callable[[BatchResult], None] | None = None,
    client: BentoClient | None = None,
) -> SendReport:
    """Send planned batches one after another; stop at the first 401/403."""
    report = SendReport()
    own_client = client is None and not dry_run
    if own_client:
        client = make_client(credentials)
    try:
        for batch in batches:
            if dry_run:
                result = BatchResult(batch, len(batches), SKIPPED, message="dry run: not sent")
            elif report.stopped:
                result = BatchResult(
                    batch,
                    len(batches),
                    SKIPPED,
                    message=f"not sent: the run stopped. {report.stopped}",
                )
            else:
                assert client is not None
                outcome = client.send_batch(list(batch.events))
                result = _result(batch, len(batches), outcome)
                if outcome.stop_run:
                    report.stopped = outcome.message
            report.results.append(result)
            if on_batch is not None:
                on_batch(result)
    finally:
        if own_client and client is not None:
            client.close()
    return report


def _result(batch: Batch, of: int, outcome: BatchOutcome) -> BatchResult:
    return BatchResult(
        batch=batch,
        of=of,
        state=outcome.state,
        results=outcome.results,
        failed=outcome.failed,
        status=outcome.status,
        attempts=outcome.attempts,
        seconds=outcome.seconds,
        message=outcome.message,
    )


def batches_to_retry(report: SendReport, include_unknown: bool = False) -> list[Batch]:
    """The batches of a report that recorded nothing, plus unknown ones when asked."""
    states: Iterable[str] = (*RETRYABLE_STATES, UNKNOWN) if include_unknown else RETRYABLE_STATES
    return report.batches_in(*states)
