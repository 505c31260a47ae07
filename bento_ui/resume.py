"""Resume a run that did not finish: send only what Bento has not recorded.

A run remembers its source file's absolute path and SHA-256 and the options that turned
the file into events (`source_options`). Resuming reads the file again, refuses when it
changed since, rebuilds every batch from the rows the ledger lists for it, checks that
each batch's payload hash is the one the ledger has, then:

- never resends an `accepted` batch, nor a `partial` one whose failures Bento named
  (its other events were recorded; sending the file again sends the named failures);
- resends batches of which Bento recorded nothing (`waiting`, `failed`, `rejected`,
  `skipped`);
- resends batches of uncertain fate (`unknown`, or `partial` with failures Bento did not
  name) only as `guard.Resend` says: `resend_unknown`, `--resend-unknown` in the CLI;
- holds back a batch with events another run got accepted, or is sending right now;
- looks batches up by their number (a streamed run's numbers may have gaps), and reads
  on past the last batch of a streamed run that stopped before its file's end, planning
  the rest (each event once: the guard checks it as it is claimed).

    plan = plan_resume(run_id, credentials, ledger=ledger)   # reads the run's own file
    plan.batches, plan.earlier, plan.uncertain               # what goes, what stays
    report = plan.send(on_batch=print)                       # the whole run's report
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from bento_ui.batching import MAX_BATCH_SIZE, Batch
from bento_ui.config import Credentials
from bento_ui.errors import LedgerError, ReadError
from bento_ui.event_texts import TableEvents, chained
from bento_ui.guard import Resend, batches_held
from bento_ui.ledger import BatchRecord, Ledger, RunRecord, file_hash, payload_hash
from bento_ui.mapping import ColumnMapping, apply_mapping
from bento_ui.money import MINOR, UNITS, Unit
from bento_ui.outcomes import BatchState
from bento_ui.sending import NO_RESEND, BatchResult, Origin, SendPlan
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
    """Read, map and validate a file's bytes with stored options (see `source_options`),
    with the cells the person fixed in the app (`options["edits"]`) typed over it."""
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
    header_row = options.get("header_row")  # a title above the column names
    sheet = read_table(data, sheet=options.get("sheet"), name=name or None,
                       header_row=int(header_row) if header_row else None)
    raw = options.get("edits") or {}
    edits = (
        {int(row): {str(k): str(v) for k, v in cells.items()} for row, cells in raw.items()}
        if isinstance(raw, Mapping) else {}
    )  # fmt: skip
    table = apply_mapping(apply_edits(sheet, edits), mapping)
    return validate(
        table,
        timezone=str(options.get("timezone") or "UTC"),
        date_order=options.get("date_order"),
        amounts=stored_amounts(options),
    )


def apply_edits(sheet: pd.DataFrame, edits: Mapping[int, Mapping[str, str]]) -> pd.DataFrame:
    """The sheet with the person's fixes typed over it (row -> column -> text), as the
    app stores them with a run; the original is left as it was."""
    if not edits:
        return sheet
    fixed = sheet.copy()
    for row, changes in edits.items():
        if row not in fixed.index:
            continue
        for column, value in changes.items():
            if column in fixed.columns:
                fixed.at[row, column] = value
    return fixed


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


def plan_resume(
    run_id: str,
    credentials: Credentials,
    *,
    ledger: Ledger,
    table: pd.DataFrame | None = None,
    source: bytes | str | os.PathLike[str] | None = None,
    resend: Resend = NO_RESEND,
) -> SendPlan:
    """The send that finishes a run (see the module docstring), as a `SendPlan`.

    The events come from `table` (a valid event table indexed by spreadsheet row, as the
    app holds it), else from `source` (the file's bytes or path), else from the file at
    the run's stored path. Raises LedgerError when the run went elsewhere, the file
    changed, a batch's events are not the ones planned, or the run is being sent now.
    """
    run = ledger.run(run_id)
    check_target(run, credentials)
    if run.options.get("send_again") is True:  # it was meant to send whatever others did
        resend = Resend(send_again=True)
    if ledger.is_running(run.id):
        raise LedgerError(
            f"Run {run.id} is being sent right now by another window or process: wait for "
            f"it to finish, then look at `bento-ui history {run.id}`."
        )
    if table is None:
        table = rebuild_table(run, source)
    # A row can make several events (a row of tags): its events in order, taken batch by
    # batch, as many as each batch's count says (a batch can end inside a row's events).
    # Events are the table's rows by position, written as JSON only as they are needed
    # (`TableEvents`), as for a first send: no dict is made for a batch that goes.
    by_row: dict[int, list[int]] = {}
    for position, row in enumerate(int(r) for r in table.index):
        by_row.setdefault(row, []).append(position)
    taken: dict[int, int] = {}
    size = int(run.options.get("batch_size") or MAX_BATCH_SIZE)
    plan = SendPlan(
        credentials, ledger, Origin(run.source_name), resend, size, run_id=run.id, of=run.of
    )
    planned = [_planned(run, record, by_row, taken) for record in run.batches]
    events = TableEvents.at(table, [p for _, positions in planned for p in positions])
    start = 0
    for record, (rows, positions) in zip(run.batches, planned, strict=True):
        batch = Batch(record.number, rows, events[start : start + len(positions)])
        start += len(positions)
        _check_hash(run, record, batch)
        uncertain = record.uncertain_events > 0
        settled = record.state in (BatchState.ACCEPTED, BatchState.PARTIAL) and not uncertain
        if settled or (uncertain and not (resend.resend_unknown or resend.send_again)):
            plan.earlier.append(BatchResult(batch, run.of, record.outcome))
        else:
            plan.batches.append(batch)
        if uncertain:
            plan.uncertain.append(record.number)
    if not run.planning_done:  # a streamed run that stopped early: read on past its end
        last = max((r for b in run.batches for r in b.row_numbers), default=0)
        rest = [r for r in by_row if r > last]
        plan.extra = (
            TableEvents.at(table, [p for r in rest for p in by_row[r]]),
            [r for r in rest for _ in by_row[r]],
        )
    if plan.batches:
        events_going = chained([b.events for b in plan.batches])
        check = ledger.check(run.site_uuid, events_going, exclude_run=run.id)
        plan.elsewhere = batches_held(check, plan.batches, resend)
    return plan


def _planned(
    run: RunRecord, record: BatchRecord, by_row: Mapping[int, list[int]], taken: dict[int, int]
) -> tuple[tuple[int, ...], list[int]]:
    """A batch of the run made again from the file: its rows, and the table positions of
    the next events of each of its rows, up to its event count (`taken` says how many of
    each row's events earlier batches took)."""
    rows: list[int] = []
    positions: list[int] = []
    for row in record.row_numbers:
        if row not in by_row:
            raise LedgerError(
                f"Cannot resume run {run.id}: batch {record.number} was rows {record.rows}, "
                f"but row {row} is not a valid row of the file now. The file or the "
                "options differ from the ones the run was sent with."
            )
        start = taken.get(row, 0)
        count = min(len(by_row[row]) - start, record.events - len(positions))
        positions.extend(by_row[row][start : start + count])
        rows.extend([row] * count)
        taken[row] = start + count
    return tuple(rows), positions


def _check_hash(run: RunRecord, record: BatchRecord, batch: Batch) -> None:
    """Refuse a batch made again that does not hold the events the ledger planned."""
    if payload_hash(batch.events) != record.payload_hash:
        raise LedgerError(
            f"Cannot resume run {run.id}: batch {record.number} (rows {record.rows}) "
            "does not hold the same events as when it was sent. The file was read "
            "differently (another version of bento-ui, other options): send it as a new "
            "run instead; events this site already accepted are skipped."
        )
