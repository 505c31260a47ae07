"""The send loop: batches in, one outcome per batch out, reported as it goes.

Progress reaches the caller through `on_batch`, so the same loop drives a Streamlit
progress bar, a terminal progress bar and a notebook. The report's totals always add up
to the events that went in: recorded + failed + unknown + not sent.

With a `Ledger` (see `bento_ui.ledger`) every batch is written as `sending` before its
request and with its outcome after the answer, and `send` first leaves out the events
the ledger shows this site already received (`SendReport.held_back`).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from bento_ui.batching import MAX_BATCH_SIZE, Batch, plan_batches
from bento_ui.client import BatchOutcome, BentoClient
from bento_ui.config import Credentials
from bento_ui.ledger import SENT_BEFORE, HeldBack, Ledger
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
    run_id: str | None = None  # the run in the send ledger, when there is one
    # Events not sent because the ledger shows this site received them before.
    held_back: list[HeldBack] = field(default_factory=list)

    @property
    def table(self) -> pd.DataFrame:
        rows = [r.as_row() for r in self.results]
        frame = pd.DataFrame(rows, columns=REPORT_COLUMNS)
        for column in ("results", "failed", "status"):
            frame[column] = frame[column].astype("Int64")
        return frame

    @property
    def held_back_events(self) -> int:
        return sum(h.events for h in self.held_back)

    @property
    def totals(self) -> dict[str, int]:
        """Events in = recorded + failed + unknown + not sent (held back counts as not sent)."""
        events = not_sent = self.held_back_events
        recorded = failed = unknown = 0
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
        """True when every batch was accepted in full and nothing of uncertain fate was
        held back (events held back because the site accepted them before are fine)."""
        return (
            bool(self.results or self.held_back)
            and all(r.state == ACCEPTED for r in self.results)
            and all(h.reason == SENT_BEFORE for h in self.held_back)
        )

    def batches_in(self, *states: str) -> list[Batch]:
        return [r.batch for r in self.results if r.state in states]

    def __repr__(self) -> str:
        counts = ", ".join(f"{v:,} {k}" for k, v in self.totals.items())
        held = f" ({self.held_back_events:,} held back)" if self.held_back else ""
        run = f", run {self.run_id}" if self.run_id else ""
        return f"<SendReport: {counts}{held}{run}>"

    def _repr_html_(self) -> str:
        counts = ", ".join(f"{v:,} {k}" for k, v in self.totals.items())
        held = "".join(f"<p>{html.escape(h.message)}: not sent.</p>" for h in self.held_back)
        return f"<p>{counts}</p>{held}" + str(self.table.to_html(index=False))


def send(
    table: pd.DataFrame,
    credentials: Credentials,
    *,
    batch_size: int = MAX_BATCH_SIZE,
    dry_run: bool = False,
    on_batch: Callable[[BatchResult], None] | None = None,
    client: BentoClient | None = None,
    ledger: Ledger | Literal["default"] | None = "default",
    send_again: bool = False,
    resend_unknown: bool = False,
    source_name: str = "",
    source_path: str | Path | None = None,
    source_hash: str | None = None,
    options: Mapping[str, Any] | None = None,
    target: str | None = None,
) -> SendReport:
    """Send the valid rows of an event table (`validate(...).valid`) in batches.

    The send is recorded in the send ledger (the default one unless `ledger` is given;
    None records nothing and checks nothing). Events the ledger shows this site accepted
    before are not sent, nor events of earlier batches whose fate is unknown or partial;
    `report.held_back` says which. `send_again=True` sends them all the same;
    `resend_unknown=True` sends the uncertain ones but not the accepted ones.
    The `source_*`, `options` and `target` arguments are stored with the run (see
    `Ledger.start_run`).
    """
    events = build_events(table)
    rows = [int(r) for r in table.index]
    own_ledger = ledger == "default"
    book = Ledger() if ledger == "default" else ledger
    try:
        held: list[HeldBack] = []
        if book is not None:
            check = book.already_accepted(credentials.site_uuid, events)
            if check.found:
                held = check.held_back(rows, send_again=send_again, resend_unknown=resend_unknown)
                keep = check.keep(send_again=send_again, resend_unknown=resend_unknown)
                events = [e for e, k in zip(events, keep, strict=True) if k]
                rows = [r for r, k in zip(rows, keep, strict=True) if k]
        batches = plan_batches(events, rows, batch_size)
        run_id = None
        if book is not None and batches and not dry_run:
            run_id = book.start_run(
                credentials, batches, source_name=source_name, source_path=source_path,
                source_hash=source_hash, options=options, target=target,
                held_back=sum(h.events for h in held),
            )  # fmt: skip
        report = send_batches(
            batches, credentials, dry_run=dry_run, on_batch=on_batch, client=client,
            ledger=book, run=run_id,
        )  # fmt: skip
        report.held_back = held
        return report
    finally:
        if own_ledger and book is not None:
            book.close()


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
    ledger: Ledger | None = None,
    run: str | None = None,
) -> SendReport:
    """Send planned batches one after another; stop at the first 401/403/404.

    With a `ledger`, each batch is written as `sending` before its request and with its
    outcome after the answer, in the run `run` (created by `Ledger.start_run` with these
    batches, or with more of which these are some: a retry or a resume). Without `run`,
    a run is started for these batches. The ledger refuses a batch whose events are not
    the ones planned for it, and a run that another process is sending. A dry run writes
    nothing.
    """
    of = len(batches)
    if ledger is None or dry_run or not batches:
        return _send(batches, credentials, dry_run, on_batch, client, None, None, of)
    if run is None:
        run = ledger.start_run(credentials, batches)
    of = max(of, len(ledger.run(run).batches))
    return _send_claimed(batches, credentials, on_batch, client, ledger, run, of)


def _send_claimed(
    batches: Iterable[Batch],
    credentials: Credentials,
    on_batch: Callable[[BatchResult], None] | None,
    client: BentoClient | None,
    ledger: Ledger,
    run: str,
    of: int,
) -> SendReport:
    """Send a run's batches while holding it, and write how the run ended."""
    with ledger.claim(run, credentials) as record:
        try:
            report = _send(batches, credentials, False, on_batch, client, ledger, record.id, of)
        except BaseException:
            ledger.end_run(run, interrupted=True)
            raise
        ledger.end_run(run, stopped=report.stopped)
    return report


def send_batch_stream(
    batches: Iterable[Batch],
    credentials: Credentials,
    *,
    of: int,
    dry_run: bool = False,
    on_batch: Callable[[BatchResult], None] | None = None,
    client: BentoClient | None = None,
    ledger: Ledger | None = None,
    send_again: bool = False,
    resend_unknown: bool = False,
    source_name: str = "",
    source_path: str | Path | None = None,
    source_hash: str | None = None,
    options: Mapping[str, Any] | None = None,
) -> SendReport:
    """Send batches planned while a file is read (`of` of them, at most), in one run.

    Each batch passes the duplicate guard on its own and is written to the ledger just
    before it is sent, so memory stays flat and a crash still leaves a true record.
    """
    if ledger is None or dry_run:
        return _send(batches, credentials, dry_run, on_batch, client, None, None, of)
    run = ledger.start_run(
        credentials, [], source_name=source_name, source_path=source_path,
        source_hash=source_hash, options=options,
    )  # fmt: skip
    held: list[HeldBack] = []

    def guarded() -> Iterable[Batch]:
        for batch in batches:
            check = ledger.already_accepted(credentials.site_uuid, batch.events)
            if check.found:
                held.extend(check.held_back(batch.rows, send_again=send_again,
                                            resend_unknown=resend_unknown))
                keep = check.keep(send_again=send_again, resend_unknown=resend_unknown)
                batch = Batch(
                    batch.number,
                    tuple(r for r, k in zip(batch.rows, keep, strict=True) if k),
                    tuple(e for e, k in zip(batch.events, keep, strict=True) if k),
                )
                if not batch.events:
                    continue
            ledger.add_batches(run, [batch])
            yield batch

    report = _send_claimed(guarded(), credentials, on_batch, client, ledger, run, of)
    report.held_back = merge_held_back(held)
    return report


def merge_held_back(held: Sequence[HeldBack]) -> list[HeldBack]:
    """One entry per reason, as if the whole file had been checked at once."""
    merged: list[HeldBack] = []
    for reason in dict.fromkeys(h.reason for h in held):
        same = [h for h in held if h.reason == reason]
        merged.append(
            HeldBack(
                reason=reason,
                rows=tuple(r for h in same for r in h.rows),
                runs=tuple(dict.fromkeys(run for h in same for run in h.runs)),
                first_date=min(h.first_date for h in same),
                last_date=max(h.last_date for h in same),
            )
        )
    return merged


def _send(
    batches: Iterable[Batch],
    credentials: Credentials,
    dry_run: bool,
    on_batch: Callable[[BatchResult], None] | None,
    client: BentoClient | None,
    ledger: Ledger | None,
    run: str | None,
    of: int,
) -> SendReport:
    """The one send loop, for batches planned up front and for batches read as a stream."""
    report = SendReport(run_id=run)
    own_client = client is None and not dry_run
    if own_client:
        client = make_client(credentials)
    try:
        for batch in batches:
            if dry_run:
                result = BatchResult(batch, of, SKIPPED, message="dry run: not sent")
            elif report.stopped:
                result = BatchResult(
                    batch,
                    of,
                    SKIPPED,
                    message=f"not sent: the run stopped. {report.stopped}",
                )
            else:
                assert client is not None
                if ledger is not None and run is not None:
                    ledger.mark_sending(run, batch)  # before the request: a crash leaves it
                outcome = client.send_batch(list(batch.events))
                result = _result(batch, of, outcome)
                if outcome.stop_run:
                    report.stopped = outcome.message
            if ledger is not None and run is not None:
                ledger.record(run, result)  # before anything that may interrupt the run
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
