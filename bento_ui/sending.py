"""The send engine: the one way events go to Bento, for the CLI, the app, notebooks and
resume alike. They ask it what to send and show what it reports.

    plan = plan_send(valid, credentials, ledger=ledger, origin=Origin("attendees.csv"))
    plan.held_back, plan.batches          # what the duplicate guard holds back, what goes
    report = plan.send(on_batch=print)    # claims, records every batch, sends: the report
    report.table, report.totals, report.failures

`bento_ui.resume.plan_resume` gives the same `SendPlan` for a run that did not finish.

What `send` does, in an order that keeps the ledger true whenever the process dies:

1. hold a new run (an operating-system lock), then check the events against the ledger
   and claim the ones that go in one transaction (`Ledger.claim`), so two processes
   sending the same file at once never both send an event;
2. per batch: check the ledger file is still there, write the batch `sending`, post it,
   write its outcome and Bento's named failures, then tell `on_batch`;
3. stop before the next request when the keys or the address are refused (401/403/404)
   or the ledger cannot be written (a full disk, a deleted file): every batch after that
   is `skipped`, and the report says which batches the ledger does not know.

The guard's choices (`guard.Resend`) say what events the site may have are sent again.
Progress reaches the caller through `on_batch`, so the same loop drives a Streamlit
progress bar, a terminal progress bar and a notebook. The report's totals always add up
to the events that went in: recorded + failed + unknown + not sent.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from bento_ui.batching import MAX_BATCH_SIZE, Batch, describe_rows, plan_batches
from bento_ui.client import BentoClient
from bento_ui.config import Credentials
from bento_ui.errors import LedgerError
from bento_ui.event_texts import TableEvents, select
from bento_ui.guard import (
    DuplicateCheck,
    Held,
    HeldBack,
    Resend,
    SourceRows,
    batches_held,
    merge_held_back,
)
from bento_ui.ledger import Ledger
from bento_ui.outcomes import (
    Answered,
    BatchState,
    EventFailure,
    Outcome,
    add_up,
    describe_batch,
)
from bento_ui.payloads import Event

REPORT_COLUMNS = [
    "batch", "rows", "events", "results", "failed", "state", "status", "attempts", "seconds",
    "message",
]  # fmt: skip
# Against Bento itself, stay under its documented rate limit; the sandbox needs none.
BENTO_REQUESTS_PER_MINUTE = 60
NO_RESEND = Resend()


@dataclass(frozen=True)
class Origin:
    """Where a send's events came from, stored with its run so a resume can rebuild them."""

    name: str = ""  # the file's name, or "Compose outbox"
    path: str | Path | None = None  # the file on this machine, when there is one
    file_hash: str | None = None  # SHA-256 of the file's bytes (`ledger.file_hash`)
    options: Mapping[str, Any] = field(default_factory=dict)  # see resume.source_options
    target: str | None = None  # "sandbox", or None: decided from the credentials


@dataclass(frozen=True)
class BatchResult(Answered):
    """What happened to one batch: the batch, and the outcome Bento's answer came to."""

    batch: Batch
    of: int  # how many batches the run has (its highest number)
    outcome: Outcome
    named: tuple[EventFailure, ...] | None = None  # the failures, once the events are let go

    @classmethod
    def skipped(cls, batch: Batch, of: int, message: str) -> BatchResult:
        return cls(batch, of, Outcome(BatchState.SKIPPED, message=message))

    @property
    def state(self) -> BatchState:  # type: ignore[override]  # read off the outcome
        return self.outcome.state

    @property
    def number(self) -> int:
        return self.batch.number

    @property
    def events(self) -> int:  # type: ignore[override]
        return self.batch.size

    @property
    def seconds(self) -> float:
        return self.outcome.seconds

    @property
    def failures(self) -> list[EventFailure]:
        """The events Bento refused by name: their spreadsheet row, email, type, reason."""
        if self.named is not None:
            return list(self.named)
        found = []
        for error in self.outcome.errors:
            if 0 <= error.index < self.batch.size:
                event = self.batch.events[error.index]
                found.append(EventFailure(
                    self.batch.rows[error.index], str(event.get("email", "")),
                    str(event.get("type", "")), error.error,
                ))  # fmt: skip
        return found

    def settled(self) -> BatchResult:
        """This result without its batch's events (its failures named once and kept)."""
        return replace(self, batch=self.batch.sent(), named=tuple(self.failures))

    def as_row(self) -> dict[str, object]:
        return {
            "batch": self.number, "rows": self.batch.row_ranges, "events": self.events,
            "results": self.results, "failed": self.failed, "state": str(self.state),
            "status": self.status, "attempts": self.attempts,
            "seconds": round(self.seconds, 3), "message": self.message,
        }  # fmt: skip

    def __str__(self) -> str:
        return describe_batch(
            self.number, self.of, self.batch.row_ranges, self.events, self.state, self.outcome
        )


@dataclass
class SendReport:
    """Every batch's outcome, as a table and as totals."""

    results: list[BatchResult] = field(default_factory=list)
    stopped: str = ""  # why the run stopped early, if it did
    run_id: str | None = None  # the run in the send ledger, when there is one
    # Events not sent because the ledger shows this site may have them (see guard).
    held_back: list[HeldBack] = field(default_factory=list)
    # Batches that were answered but whose outcome the ledger could not be told.
    unwritten: list[int] = field(default_factory=list)

    @property
    def table(self) -> pd.DataFrame:
        frame = pd.DataFrame([r.as_row() for r in self.results], columns=REPORT_COLUMNS)
        for column in ("results", "failed", "status"):
            frame[column] = frame[column].astype("Int64")
        return frame

    @property
    def failures(self) -> list[EventFailure]:
        """Every event Bento refused by name, in batch order."""
        return [f for r in self.results for f in r.failures]

    @property
    def failures_table(self) -> pd.DataFrame:
        return pd.DataFrame(
            [f.as_dict() for f in self.failures], columns=["row", "email", "type", "error"]
        )

    @property
    def held_back_events(self) -> int:
        return sum(h.events for h in self.held_back)

    @property
    def totals(self) -> dict[str, int]:
        """Events in = recorded + failed + unknown + not sent (held back counts as not sent)."""
        totals = add_up((r.events, r.outcome, r.state) for r in self.results)
        totals["events"] += self.held_back_events
        totals["not sent"] += self.held_back_events
        return totals

    @property
    def ok(self) -> bool:
        """True when every batch was accepted in full and nothing was held back but
        events the site had accepted before."""
        return (
            bool(self.results or self.held_back)
            and all(r.state == BatchState.ACCEPTED for r in self.results)
            and all(h.reason == Held.SENT_BEFORE for h in self.held_back)
        )

    def batches_in(self, *states: str) -> list[Batch]:
        return [r.batch for r in self.results if r.state in states]

    def numbers_in(self, *states: str) -> list[int]:
        return [r.number for r in self.results if r.state in states]

    def __repr__(self) -> str:
        counts = ", ".join(f"{v:,} {k}" for k, v in self.totals.items())
        held = f" ({self.held_back_events:,} held back)" if self.held_back else ""
        run = f", run {self.run_id}" if self.run_id else ""
        return f"<SendReport: {counts}{held}{run}>"

    def _repr_html_(self) -> str:
        counts = ", ".join(f"{v:,} {k}" for k, v in self.totals.items())
        held = "".join(f"<p>{html.escape(h.message)}: not sent.</p>" for h in self.held_back)
        return f"<p>{counts}</p>{held}" + str(self.table.to_html(index=False))


OnBatch = Callable[[BatchResult], None]
OnStart = Callable[["SendReport"], None]  # after the claim, before the first request
OnWait = Callable[[float, str], None]  # seconds, and why, before a retry waits


@dataclass
class SendPlan:
    """What a send will do; `send` does it. Made by `plan_send` or `resume.plan_resume`.

    `batches` and `held_back` are what the guard says now (a preview for the person to
    see); `send` asks the ledger again as it claims the events, so events another
    process claimed meanwhile are held back too (and `report.held_back` says so).
    For a streamed source `batches` is empty until sent: `events` is then the count of
    valid rows.
    """

    credentials: Credentials
    ledger: Ledger | None
    origin: Origin
    resend: Resend
    batch_size: int
    batches: list[Batch] = field(default_factory=list)
    held_back: list[HeldBack] = field(default_factory=list)
    check: DuplicateCheck | None = None
    # A whole table's events and rows, before the guard (None for a stream or a resume).
    candidates: tuple[Sequence[Event], list[int]] | None = None
    stream: Callable[[], Iterator[Batch]] | None = None
    stream_events: int = 0
    # A resume: the run, its earlier outcomes kept as they are, and rows still to plan.
    run_id: str | None = None
    earlier: list[BatchResult] = field(default_factory=list)
    uncertain: list[int] = field(default_factory=list)  # batches left as they are: maybe sent
    elsewhere: dict[int, tuple[str, ...]] = field(default_factory=dict)  # held: other runs
    extra: tuple[Sequence[Event], list[int]] | None = None
    of: int = 0
    _sent: bool = field(default=False, repr=False)

    @property
    def events(self) -> int:
        """Events that go (as far as the guard knows now)."""
        if self.stream is not None:
            return self.stream_events
        extra = len(self.extra[0]) if self.extra else 0
        return sum(b.size for b in self.batches if b.number not in self.elsewhere) + extra

    def send(
        self,
        *,
        on_batch: OnBatch | None = None,
        on_start: OnStart | None = None,
        on_wait: OnWait | None = None,
        dry_run: bool = False,
        rate: float | None = None,
        client: BentoClient | None = None,
    ) -> SendReport:
        """Claim, record and send (see the module docstring); a dry run writes nothing
        and reports every batch `skipped`. `on_start` sees the report before the first
        request: its `run_id` and what the guard held back. `on_wait(seconds, why)` is
        told before the send waits a second or more to try a batch again (a 429, a 5xx).
        `rate` is the most requests a minute (default: 60 against Bento, none else)."""
        if client is None and not dry_run:
            options: dict[str, Any] = {"on_wait": on_wait}
            if rate is not None:
                options["requests_per_minute"] = rate
            with make_client(self.credentials, **options) as own:
                return self.send(on_batch=on_batch, on_start=on_start, client=own)
        if self._sent:
            raise LedgerError(
                "This plan was sent already: plan again (plan_send, or plan_resume for its "
                "run) to see what is left."
            )
        self._sent = not dry_run
        report = SendReport(run_id=self.run_id, held_back=list(self.held_back))
        report.results.extend(self.earlier)
        if self.candidates is not None and not self.batches:
            dry_run = True  # the guard holds back every event: nothing to claim or record
        if dry_run or self.ledger is None:
            batches = self._dry_batches() if dry_run else self._unguarded()
            if on_start is not None:
                on_start(report)
            return _loop(batches, self, report, None, on_batch, client, dry_run)
        if self.run_id is None:
            report.run_id = self.run_id = self.ledger.create_run(
                self.credentials, source_name=self.origin.name, source_path=self.origin.path,
                source_hash=self.origin.file_hash, options=self.origin.options,
                target=self.origin.target, planning_done=self.stream is None,
            )  # fmt: skip
        else:
            self.ledger.hold(self.run_id, self.credentials)
        run_id = self.run_id
        try:
            batches = self._claimed(run_id, report)
            if on_start is not None:
                on_start(report)
            report = _loop(batches, self, report, run_id, on_batch, client, False)
        except BaseException:
            with suppress(LedgerError):  # the original error says more
                self.ledger.end_run(run_id, interrupted=True)
            raise
        try:
            self.ledger.end_run(run_id, stopped=report.stopped)
        except LedgerError as exc:
            report.stopped = report.stopped or str(exc)
        return report

    # --- where the batches come from

    def _unguarded(self) -> Iterable[Batch]:
        if self.stream is not None:
            return self.stream()
        if self.candidates is not None:
            return plan_batches(*self.candidates, self.batch_size)
        return self.batches

    def _dry_batches(self) -> Iterable[Batch]:
        if self.stream is not None:
            return self.stream()
        extra = plan_batches(*self.extra, self.batch_size) if self.extra else []
        first = max((b.number for b in self.batches), default=self.of)
        return [*self.batches, *(Batch(b.number + first, b.rows, b.events) for b in extra)]

    def _claimed(self, run_id: str, report: SendReport) -> Iterable[Batch]:
        """The batches to send, claimed in the ledger; report.held_back as it claims."""
        assert self.ledger is not None
        ledger = self.ledger
        if self.stream is not None:
            return self._claim_stream(run_id, report)
        if self.candidates is not None:
            events, rows = self.candidates
            claimed = ledger.claim(run_id, events, rows, resend=self.resend,
                                   batch_size=self.batch_size, source=self._rows(rows))  # fmt: skip
            report.held_back = claimed.check.held_back(rows, self.resend)
            self.batches = claimed.batches
            return claimed.batches
        # A resume: the run's own batches, minus those whose events went elsewhere since.
        held = batches_held(ledger.reclaim(run_id, self.batches), self.batches, self.resend)
        going = []
        for batch in self.batches:
            if batch.number not in held:
                going.append(batch)
                continue
            reason = held_elsewhere(held[batch.number])
            report.results.append(BatchResult.skipped(batch, self.of, reason))
        if self.extra is not None:
            events, rows = self.extra
            first = max(self.of, max((b.number for b in self.batches), default=0)) + 1
            claimed = ledger.claim(run_id, events, rows, resend=self.resend,
                                   batch_size=self.batch_size, first_number=first)  # fmt: skip
            report.held_back = merge_held_back(
                [*report.held_back, *claimed.check.held_back(rows, self.resend)]
            )
            going.extend(claimed.batches)
            ledger.finish_planning(run_id)
        return going

    def _rows(self, rows: Sequence[int]) -> SourceRows | None:
        """What the same-row check needs: the file's hash, its sheet, the events' rows."""
        if not self.origin.file_hash:
            return None
        return SourceRows(self.origin.file_hash, self.origin.options.get("sheet"), rows)

    def _claim_stream(self, run_id: str, report: SendReport) -> Iterator[Batch]:
        assert self.ledger is not None and self.stream is not None
        held: list[HeldBack] = []
        for batch in self.stream():
            claimed = self.ledger.claim(
                run_id, batch.events, batch.rows, resend=self.resend,
                batch_size=max(1, batch.size), first_number=batch.number,
                source=self._rows(batch.rows),
            )  # fmt: skip
            held.extend(claimed.check.held_back(batch.rows, self.resend))
            report.held_back = merge_held_back(held)
            yield from claimed.batches
        self.ledger.finish_planning(run_id)


def held_elsewhere(runs: Sequence[str]) -> str:
    return (
        "not sent: some of its events were accepted by this site, or are being sent to it, "
        f"in another run ({', '.join(runs)}); pass --send-again to send it anyway"
    )


def plan_send(
    source: pd.DataFrame | Any,
    credentials: Credentials,
    *,
    ledger: Ledger | None,
    origin: Origin | None = None,
    resend: Resend = NO_RESEND,
    batch_size: int = MAX_BATCH_SIZE,
) -> SendPlan:
    """Plan the send of a valid event table (`validate(...).valid`, indexed by spreadsheet
    row) or of a file checked in chunks (`pipeline.PreparedFile`).

    Runs the duplicate guard once against `ledger` (None checks and records nothing) and
    knows what it holds back and why; `SendPlan.send` then sends.
    """
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ValueError(f"batch size must be between 1 and {MAX_BATCH_SIZE}, not {batch_size}")
    origin = origin or Origin()
    plan = SendPlan(credentials, ledger, origin, resend, batch_size)
    if not isinstance(source, pd.DataFrame):  # a PreparedFile: batches as it is read again
        from bento_ui.pipeline import stream_batches

        plan.stream = lambda: stream_batches(source, batch_size)
        plan.stream_events = int(source.valid_rows)
        plan.of = -(-plan.stream_events // batch_size)
        return plan
    # The events are written batch by batch as they are sent (and their fingerprints
    # straight from the table): no dict is made for a row that goes as planned.
    events: Sequence[Event] = TableEvents.of(source)
    rows = _row_numbers(source.index)
    plan.candidates = (events, rows)
    if ledger is not None:
        plan.check = ledger.check(credentials.site_uuid, events, source=plan._rows(rows))
        plan.held_back = plan.check.held_back(rows, resend)
        keep = plan.check.keep(resend)
        events = select(events, keep)
        rows = [r for r, k in zip(rows, keep, strict=True) if k]
    plan.batches = plan_batches(events, rows, batch_size)
    plan.of = len(plan.batches)
    return plan


def _row_numbers(index: pd.Index) -> list[int]:
    """The table's spreadsheet rows as Python ints: an integer index's `tolist`, not one
    `int` call a row (a third of a second for a million rows)."""
    if pd.api.types.is_integer_dtype(index.dtype):
        numbers: list[int] = index.tolist()
        return numbers
    return [int(r) for r in index]


def send(
    table: pd.DataFrame,
    credentials: Credentials,
    *,
    ledger: Ledger | None = None,
    origin: Origin | None = None,
    resend: Resend = NO_RESEND,
    batch_size: int = MAX_BATCH_SIZE,
    dry_run: bool = False,
    on_batch: OnBatch | None = None,
    client: BentoClient | None = None,
) -> SendReport:
    """`plan_send(...).send(...)` in one call, with the default ledger unless one is given.

    For a notebook: `send(validate(table).valid, credentials)`.
    """
    book = ledger if ledger is not None else Ledger()
    try:
        plan = plan_send(table, credentials, ledger=book, origin=origin, resend=resend,
                         batch_size=batch_size)  # fmt: skip
        return plan.send(on_batch=on_batch, dry_run=dry_run, client=client)
    finally:
        if ledger is None:
            book.close()


def make_client(credentials: Credentials, **options: object) -> BentoClient:
    """A client paced for Bento, unpaced for a local server such as the sandbox."""
    pace = BENTO_REQUESTS_PER_MINUTE if credentials.is_bento else None
    options.setdefault("requests_per_minute", pace)
    return BentoClient(credentials, **options)  # type: ignore[arg-type]


# --- the one loop ------------------------------------------------------------------------


def _loop(
    batches: Iterable[Batch],
    plan: SendPlan,
    report: SendReport,
    run_id: str | None,
    on_batch: OnBatch | None,
    client: BentoClient | None,
    dry_run: bool,
) -> SendReport:
    ledger = plan.ledger if run_id is not None else None
    of = plan.of
    unwritten: list[tuple[Batch, Outcome]] = []
    source = iter(batches)
    while True:
        try:
            batch = next(source)
        except StopIteration:
            break
        except LedgerError as exc:  # a streamed claim could not be written
            report.stopped = report.stopped or str(exc)
            break
        of = max(of, batch.number)
        if dry_run:
            result = BatchResult.skipped(batch, of, "dry run: not sent")
        elif report.stopped:
            result = BatchResult.skipped(batch, of, f"not sent: the run stopped. "
                                                    f"{report.stopped}")  # fmt: skip
        else:
            result = _send_one(batch, of, plan, ledger, run_id, client, report, unwritten)
        if ledger is not None and run_id is not None and result.state == BatchState.SKIPPED:
            _write(ledger, run_id, batch, result.outcome, report, unwritten)
        result = result.settled()  # the report keeps outcomes, never a whole file's events
        report.results.append(result)
        if on_batch is not None:
            on_batch(result)
    if ledger is not None and run_id is not None and unwritten:
        _write_again(ledger, run_id, report, unwritten)
    report.results.sort(key=lambda r: r.number)
    return report


def _send_one(
    batch: Batch,
    of: int,
    plan: SendPlan,
    ledger: Ledger | None,
    run_id: str | None,
    client: BentoClient | None,
    report: SendReport,
    unwritten: list[tuple[Batch, Outcome]],
) -> BatchResult:
    """One batch: mark it sending, post it, record its outcome (in that order)."""
    assert client is not None
    if ledger is not None and run_id is not None:
        try:
            ledger.check_present()
            ledger.mark_sending(run_id, batch)  # before the request: a crash leaves it
        except LedgerError as exc:
            report.stopped = f"{exc} Batch {batch.number} and the ones after it were not sent."
            return BatchResult.skipped(batch, of, "not sent: the send ledger could not be "
                                                  "written")  # fmt: skip
    events = batch.events
    if isinstance(events, TableEvents):  # written now, straight from the table
        outcome = client.send_body(events.body(), batch.size)
    else:
        outcome = client.send_batch(list(events))
    if outcome.stop_run:
        report.stopped = outcome.message
    if ledger is not None and run_id is not None:
        _write(ledger, run_id, batch, outcome, report, unwritten)
    return BatchResult(batch, of, outcome)


def _write(
    ledger: Ledger,
    run_id: str,
    batch: Batch,
    outcome: Outcome,
    report: SendReport,
    unwritten: list[tuple[Batch, Outcome]],
) -> None:
    """Record an outcome; when the ledger refuses, stop the run before the next request."""
    if unwritten:  # the ledger failed before: do not pretend, keep it for the retry
        unwritten.append((batch, outcome))
        return
    try:
        ledger.record(run_id, batch, outcome.state, outcome)
    except LedgerError as exc:
        unwritten.append((batch, outcome))
        if not report.stopped:
            report.stopped = (
                f"{exc} The send stopped before the next batch: batch {batch.number} was "
                f"answered ({outcome.state}) but the ledger could not be told."
            )


def _write_again(
    ledger: Ledger, run_id: str, report: SendReport, unwritten: list[tuple[Batch, Outcome]]
) -> None:
    """Try once more to tell the ledger what it missed; say exactly what it does not know."""
    missed = []
    for batch, outcome in unwritten:
        try:
            ledger.record(run_id, batch, outcome.state, outcome)
        except LedgerError:
            missed.append(batch.number)
    report.unwritten = missed
    if missed:
        report.stopped += (
            f" The ledger does not know the outcome of batch(es) {describe_rows(missed)}: "
            "it shows them as sent with no answer (unknown). The report above is what Bento "
            "answered."
        )
