"""Resume a run that did not finish: send only what Bento has not recorded.

A run remembers its source file's absolute path and SHA-256 and the options that turned
the file into events (`source_options`). Resuming reads the file again, refuses when it
changed since, rebuilds every batch from the rows the ledger lists for it, checks that
each batch's payload hash is the one the ledger has, then:

- never resends an `accepted` batch;
- resends batches of which Bento recorded nothing (`waiting`, `failed`, `rejected`,
  `skipped`);
- resends `unknown` and `partial` batches (Bento may have recorded them, or some of
  them) only when asked: `resend_unknown=True`, `--resend-unknown` in the CLI;
- holds back a batch with events that another run already got accepted by this site,
  unless `send_again=True`.

    plan = plan_resume(run_id, ledger=ledger)             # reads the run's own file
    plan.batches, plan.earlier, plan.uncertain            # what goes, what stays, and why
    report = resume(run_id, credentials, ledger=ledger)   # plan + send + the whole run
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from bento_ui.batching import Batch
from bento_ui.client import BentoClient
from bento_ui.config import Credentials
from bento_ui.errors import LedgerError, ReadError
from bento_ui.ledger import (
    ACCEPTED,
    NOT_RECORDED_STATES,
    SENDING,
    UNCERTAIN_STATES,
    UNKNOWN,
    BatchRecord,
    Ledger,
    RunRecord,
    file_hash,
    payload_hash,
)
from bento_ui.mapping import ColumnMapping, apply_mapping
from bento_ui.money import MINOR, UNITS, Unit
from bento_ui.payloads import Event, build_events
from bento_ui.sending import SKIPPED, BatchResult, SendReport, send_batches
from bento_ui.spreadsheet import read_table
from bento_ui.validation import Validation, validate


def source_options(
    mapping: ColumnMapping,
    *,
    sheet: str | int | None = None,
    timezone: str = "UTC",
    date_order: str | None = None,
    batch_size: int | None = None,
    skip_invalid: bool = False,
    amounts: Unit = MINOR,
    **more: Any,
) -> dict[str, Any]:
    """The options to store with a run so that `rebuild_table` can read the file again."""
    return {
        "amounts": amounts,
        "sheet": sheet,
        "mapping": {"columns": dict(mapping.columns), "default_type": mapping.default_type},
        "timezone": timezone,
        "date_order": date_order,
        "batch_size": batch_size,
        "skip_invalid": skip_invalid,
        **more,
    }


def validate_source(data: bytes, name: str, options: Mapping[str, Any]) -> Validation:
    """Read, map and validate a file's bytes with stored options (see `source_options`)."""
    stored = options.get("mapping")
    if not isinstance(stored, Mapping) or not isinstance(stored.get("columns"), Mapping):
        raise LedgerError(
            "This run's options do not say how its file was mapped, so it cannot be rebuilt "
            "from the file: resume it from the app that sent it, or pass its event table."
        )
    mapping = ColumnMapping(
        columns={str(k): str(v) for k, v in stored["columns"].items()},
        default_type=str(stored.get("default_type") or ""),
    )
    sheet = read_table(data, sheet=options.get("sheet"), name=name or None)
    table = apply_mapping(sheet, mapping)
    return validate(
        table,
        timezone=str(options.get("timezone") or "UTC"),
        date_order=options.get("date_order"),
        amounts=stored_amounts(options),
    )


def stored_amounts(options: Mapping[str, Any]) -> Unit:
    """The unit a run's amounts were read in (runs from before the choice: minor units)."""
    amounts = options.get("amounts")
    return amounts if amounts in UNITS else MINOR


def read_source(run: RunRecord, source: bytes | str | os.PathLike[str] | None = None) -> bytes:
    """The run's source file bytes (from `source`, else from its stored path), unchanged.

    Raises LedgerError when the file is gone or differs from the one the run sent.
    """
    if source is None:
        if not run.source_path:
            raise LedgerError(
                f"Run {run.id} did not come from a file on this machine, so it cannot be "
                "resumed from one: pass the file, or resume it where it was sent from."
            )
        source = run.source_path
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        where = "the given file"
    else:
        where = str(source)
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            raise LedgerError(
                f"Cannot resume run {run.id}: its file {where} cannot be read "
                f"({exc.strerror or exc}). Put the file back where it was, or pass it to "
                "resume from another place; it must be exactly the file that was sent."
            ) from exc
    if run.source_hash and file_hash(data) != run.source_hash:
        raise LedgerError(
            f"Cannot resume run {run.id}: {where} has changed since it was sent "
            f"(its SHA-256 was {run.source_hash[:12]}…, now {file_hash(data)[:12]}…). "
            "Resuming would send rows that are not the ones planned. Put the original file "
            "back, or send the new file as a new run: events this site already accepted "
            "are skipped."
        )
    return data


def rebuild_table(
    run: RunRecord, source: bytes | str | os.PathLike[str] | None = None
) -> pd.DataFrame:
    """The valid event table of a run's file, read again with the run's options."""
    data = read_source(run, source)
    try:
        return validate_source(data, run.source_name, run.options).valid
    except ReadError as exc:
        raise LedgerError(f"Cannot resume run {run.id}: {exc}") from exc


def check_target(run: RunRecord, credentials: Credentials) -> None:
    """Refuse to resume a run with keys for another site or another API address."""
    same_site = run.site_uuid == credentials.site_uuid
    same_url = run.base_url.rstrip("/") == credentials.base_url.rstrip("/")
    if same_site and same_url:
        return
    if run.target == "sandbox":
        raise LedgerError(
            f"Run {run.id} went to a sandbox: a local emulator that forgot its events when "
            "the program that started it ended. There is nothing to resume: send the file "
            "again."
        )
    raise LedgerError(
        f"Run {run.id} went to site {run.site_uuid} at {run.base_url}, but the keys now set "
        f"are for site {credentials.site_uuid} at {credentials.base_url}: set the keys of "
        "the run's site to resume it."
    )


@dataclass
class ResumePlan:
    """What a resume sends, and what it leaves as it is."""

    run: RunRecord
    batches: list[Batch] = field(default_factory=list)  # to send now, in order
    # Batches not sent now, as they stand in the ledger (accepted, and uncertain ones
    # not resent), so that a report over the whole run adds up.
    earlier: list[BatchResult] = field(default_factory=list)
    uncertain: list[int] = field(default_factory=list)  # unknown or partial batch numbers
    resend_unknown: bool = False
    # Batches held back because another run got some of their events accepted.
    accepted_elsewhere: dict[int, tuple[str, ...]] = field(default_factory=dict)

    @property
    def accepted(self) -> list[int]:
        return [r.number for r in self.earlier if r.state == ACCEPTED]

    @property
    def events(self) -> int:
        return sum(b.size for b in self.batches)

    def report(self, sent: SendReport | None = None) -> SendReport:
        """The whole run: the earlier outcomes with what was sent now, by batch number."""
        results = [*self.earlier, *(sent.results if sent else [])]
        results.sort(key=lambda r: r.number)
        return SendReport(results=results, stopped=sent.stopped if sent else "", run_id=self.run.id)


def plan_resume(
    run_id: str,
    *,
    ledger: Ledger,
    table: pd.DataFrame | None = None,
    source: bytes | str | os.PathLike[str] | None = None,
    resend_unknown: bool = False,
    send_again: bool = False,
) -> ResumePlan:
    """Which batches of a run to send again (see the module docstring).

    The events come from `table` (a valid event table indexed by spreadsheet row, as the
    app holds it), else from `source` (the file's bytes or path), else from the file at
    the run's stored path. Raises LedgerError when the file changed, a batch's events are
    not the ones planned, or the run is being sent right now.
    """
    run = ledger.run(run_id)
    # A run planned with "send again" was meant to send its events whatever other runs did.
    send_again = send_again or run.options.get("send_again") is True
    if ledger.is_running(run.id):
        raise LedgerError(
            f"Run {run.id} is being sent right now by another window or process: wait for "
            f"it to finish, then look at `bento-ui history {run.id}`."
        )
    if table is None:
        table = rebuild_table(run, source)
    # A row can make several events (a row of tags): its events in order, taken batch by
    # batch, as many as each batch's count says (a batch can end inside a row's events).
    by_row: dict[int, list[Event]] = {}
    for row, event in zip((int(r) for r in table.index), build_events(table), strict=True):
        by_row.setdefault(row, []).append(event)
    taken: dict[int, int] = {}
    of = len(run.batches)
    plan = ResumePlan(run=run, resend_unknown=resend_unknown)
    candidates: list[tuple[BatchRecord, Batch]] = []
    for record in run.batches:
        rows = record.row_numbers
        missing = [r for r in rows if r not in by_row]
        if missing:
            raise LedgerError(
                f"Cannot resume run {run.id}: batch {record.number} was rows {record.rows}, "
                f"but row {missing[0]} is not a valid row of the file now. The file or the "
                "options differ from the ones the run was sent with."
            )
        batch = _take_events(record, by_row, taken)
        if payload_hash(batch.events) != record.payload_hash:
            raise LedgerError(
                f"Cannot resume run {run.id}: batch {record.number} (rows {record.rows}) "
                "does not hold the same events as when it was sent. The file was read "
                "differently (another version of bento-ui, other options): send it as a new "
                "run instead; events this site already accepted are skipped."
            )
        state = UNKNOWN if record.state == SENDING else record.state
        if state == ACCEPTED or (state in UNCERTAIN_STATES and not resend_unknown):
            plan.earlier.append(_as_result(batch, of, record, state))
            if state != ACCEPTED:
                plan.uncertain.append(record.number)
        else:
            if state in UNCERTAIN_STATES:
                plan.uncertain.append(record.number)
            candidates.append((record, batch))
    if candidates and not send_again:
        events = [e for _, batch in candidates for e in batch.events]
        check = ledger.already_accepted(run.site_uuid, events, exclude_run=run.id)
        if check.accepted:
            accepted = set(check.accepted)
            start = 0
            kept = []
            for record, batch in candidates:
                span = range(start, start + batch.size)
                start += batch.size
                if accepted.intersection(span):
                    plan.accepted_elsewhere[batch.number] = check.accepted_runs
                    plan.earlier.append(
                        _as_result(
                            batch,
                            of,
                            record,
                            record.state,
                            "not sent: some of its events were accepted by this site in another "
                            f"run ({', '.join(check.accepted_runs)})",
                        )
                    )
                else:
                    kept.append((record, batch))
            candidates = kept
    plan.batches = [batch for _, batch in candidates]
    return plan


def _take_events(
    record: BatchRecord, by_row: Mapping[int, list[Event]], taken: dict[int, int]
) -> Batch:
    """The batch's events: the next ones of each of its rows, up to its event count."""
    rows: list[int] = []
    events: list[Event] = []
    for row in record.row_numbers:
        start = taken.get(row, 0)
        count = min(len(by_row[row]) - start, record.events - len(events))
        events.extend(by_row[row][start : start + count])
        rows.extend([row] * count)
        taken[row] = start + count
    return Batch(record.number, tuple(rows), tuple(events))


def _as_result(
    batch: Batch, of: int, record: BatchRecord, state: str, message: str | None = None
) -> BatchResult:
    if state in NOT_RECORDED_STATES and message is not None:
        state = SKIPPED
    return BatchResult(
        batch=batch,
        of=of,
        state=state,
        results=record.results,
        failed=record.failed,
        status=record.status,
        attempts=record.attempts,
        message=message or record.message,
    )


def resume(
    run_id: str,
    credentials: Credentials,
    *,
    ledger: Ledger | Literal["default"] = "default",
    table: pd.DataFrame | None = None,
    source: bytes | str | os.PathLike[str] | None = None,
    resend_unknown: bool = False,
    send_again: bool = False,
    on_batch: Callable[[BatchResult], None] | None = None,
    client: BentoClient | None = None,
) -> SendReport:
    """Plan and send a resume; the report covers the whole run (earlier batches too)."""
    book = Ledger() if ledger == "default" else ledger
    try:
        run = book.run(run_id)
        check_target(run, credentials)
        plan = plan_resume(
            run.id, ledger=book, table=table, source=source, resend_unknown=resend_unknown,
            send_again=send_again,
        )  # fmt: skip
        sent = send_batches(
            plan.batches, credentials, on_batch=on_batch, client=client, ledger=book, run=run.id
        )
        report = plan.report(sent)
        return report
    finally:
        if ledger == "default":
            book.close()
