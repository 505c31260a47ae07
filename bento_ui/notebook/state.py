"""What the notebook composer knows and does, without a single widget.

`ComposerState` holds the file (or the one composed event), the person's choices (sheet,
mapping, type for every row, time zone, money unit, date order), the validation those
choices give, where events go (the sandbox, or Bento with keys) and the sends. The
widget (`bento_ui.notebook.composer`) only draws it and passes clicks on, so this module
imports no ipywidgets and is tested directly.

Sending asks the one engine (`bento_ui.sending.plan_send`, then `SendPlan.send`) and
shows its answer: the duplicate guard, the ledger and the per-batch outcomes are the
ones the app and the CLI have. A send runs in a thread (`SendJob`) so the notebook stays
usable. The engine has no cancel hook: Cancel makes the next `on_batch` call raise, so
the batch being sent ends and is recorded, and the engine ends the run `interrupted` in
the ledger. Pressing Send again plans afresh: what Bento recorded is held back by the
guard, and the rest goes.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from bento_ui import events as ev
from bento_ui import line_items
from bento_ui.batching import MAX_BATCH_SIZE
from bento_ui.config import Credentials
from bento_ui.emulator import Emulator, sandbox
from bento_ui.errors import BentoUIError, ConfigError
from bento_ui.export import safe_csv
from bento_ui.guard import Resend
from bento_ui.ledger import Ledger, file_hash
from bento_ui.mapping import (
    IGNORE,
    ColumnMapping,
    apply_mapping,
    check_mapping,
    folded_rows,
    join_target,
    split_target,
    suggest_mapping,
)
from bento_ui.messages import held_back_note
from bento_ui.money import MAJOR, MINOR, Unit, has_decimals
from bento_ui.payloads import build_events, to_json
from bento_ui.resume import source_options
from bento_ui.sending import BatchResult, Origin, SendPlan, SendReport, plan_send
from bento_ui.spreadsheet import list_sheets, read_table
from bento_ui.validation import Validation, validate

PREVIEW_EVENTS = 3  # events shown as JSON before sending
PROBLEMS_PAGE_SIZE = 20
COMPOSED = "Composed event"  # the source name of the form's one event
CANCELLED = (
    "Cancelled after batch {batch}: the batches after it were not sent. The send ledger "
    "shows the run as interrupted. Press Send again to send the rest: what Bento "
    "recorded is held back by the duplicate guard."
)
AMOUNT_UNITS = {
    MAJOR: "Currency units (49.99)",
    MINOR: "Cents, or the currency's minor units (4999)",
}


@dataclass(frozen=True)
class LoadedFile:
    name: str
    data: bytes
    file_hash: str  # SHA-256, stored with the run so a resume can check the file
    sheets: list[str]  # [] for CSV, TSV and JSON lines


class _Cancelled(Exception):
    """Raised from on_batch when the person pressed Cancel (see the module docstring)."""


@dataclass
class SendJob:
    """One send in a background thread, and what it has come to so far."""

    plan: SendPlan
    target: str
    results: list[BatchResult] = field(default_factory=list)
    report: SendReport | None = None
    error: str = ""  # why the send ended with an error, if it did
    cancelled: bool = False
    finished: bool = False  # the send ended (report or error set)
    on_change: Callable[[SendJob], None] | None = None
    _cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def total_batches(self) -> int:
        return max(self.plan.of, len(self.plan.batches), 1)

    @property
    def running(self) -> bool:
        return self._thread is not None and not self.finished

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="bento-notebook-send",
                                        daemon=True)  # fmt: skip
        self._thread.start()

    def cancel(self) -> None:
        """Stop after the batch being sent (its outcome is recorded first)."""
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the send ends (or `timeout` seconds); True when it has ended."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running

    def _run(self) -> None:
        started: list[SendReport] = []

        def on_start(report: SendReport) -> None:
            started.append(report)
            self._changed()

        def on_batch(result: BatchResult) -> None:
            self.results.append(result)
            self._changed()
            if self._cancel.is_set():
                raise _Cancelled()

        try:
            self.report = self.plan.send(on_batch=on_batch, on_start=on_start)
        except _Cancelled:
            # The engine ended the run `interrupted`; the report it was filling is the
            # one on_start saw, holding every batch answered so far.
            self.cancelled = True
            report = started[0] if started else SendReport()
            report.results.sort(key=lambda r: r.number)
            report.stopped = CANCELLED.format(batch=self.results[-1].number)
            self.report = report
        except (BentoUIError, OSError, ValueError) as exc:
            self.error = f"The send stopped: {exc}"
            if started:
                self.report = started[0]
        self.finished = True
        self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self)


@dataclass(frozen=True)
class SendPreview:
    """What pressing Send would do now, as the engine plans it."""

    events: int
    batches: int
    notes: list[str]  # what the duplicate guard holds back, and what to do about it
    accepted_before: int  # events this site accepted before (sent again only if asked)
    uncertain_before: int  # events this site may have (sent again only if asked)
    error: str = ""


class ComposerState:
    """The composer's state and actions; see the module docstring."""

    def __init__(
        self,
        *,
        credentials: Credentials | None = None,
        emulator: Emulator | None = None,
        ledger: Ledger | None = None,
        environ: dict[str, str] | None = None,
    ) -> None:
        self.live_problem = ""  # why live sending is not offered, when keys are half set
        if credentials is None:
            try:
                credentials = Credentials.from_env(environ)
            except ConfigError as exc:
                self.live_problem = str(exc)
        self.live_credentials = credentials
        self.live = False  # the sandbox by default, always
        self._emulator = emulator
        self._ledger = ledger
        self.file: LoadedFile | None = None
        self.sheet_name: str | None = None
        self.sheet: pd.DataFrame | None = None
        self.mapping = ColumnMapping()
        self.timezone = "UTC"
        self.amounts: Unit = MINOR
        self.date_order: str | None = None
        self.composed: pd.DataFrame | None = None  # the form's one event, when in use
        self.error = ""  # why there is nothing to check (a file that cannot be read)
        self.mapping_problems: list[str] = []
        self.folded_note = ""  # the rows that continue an order (see bento_ui.line_items)
        self.validation: Validation | None = None
        self.jobs: list[SendJob] = []

    # --- where events go

    @property
    def emulator(self) -> Emulator | None:
        """The sandbox events go to, started on first use; None when sending live."""
        if self.live:
            return None
        if self._emulator is None:
            self._emulator = sandbox()
        elif not self._emulator.is_running:
            self._emulator.start()
        return self._emulator

    @property
    def credentials(self) -> Credentials:
        if self.live:
            assert self.live_credentials is not None
            return self.live_credentials
        emulator = self.emulator
        assert emulator is not None
        return emulator.credentials

    def go_live(self, live: bool) -> None:
        if live and self.live_credentials is None:
            raise ConfigError(
                self.live_problem or "No Bento keys: set BENTO_SITE_UUID, "
                "BENTO_PUBLISHABLE_KEY and BENTO_SECRET_KEY before starting Jupyter, or pass "
                "Composer(credentials=Credentials(...)). Until then events go to the sandbox."
            )
        self.live = live

    @property
    def target_label(self) -> str:
        if self.live:
            c = self.credentials
            where = "" if c.is_bento else f" at {c.base_url}"
            return f"Bento{where}, site {c.site_uuid}"
        return "the sandbox (a local Bento on this computer: nothing leaves it)"

    @property
    def target_name(self) -> str:
        return "Bento" if self.live else "the sandbox"

    @property
    def inbox_count(self) -> int | None:
        emulator = self.emulator
        return None if emulator is None else len(emulator.events())

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            self._ledger = Ledger()
        return self._ledger

    # --- the file and the choices

    def load(self, source: str | os.PathLike[str] | bytes, name: str | None = None) -> None:
        """A file on disk (a path) or its bytes; `name` tells the format of bytes."""
        if isinstance(source, bytes | bytearray):
            data, name = bytes(source), name or "upload"
        else:
            path = Path(source)
            try:
                data = path.read_bytes()
            except OSError as exc:
                self._fail(f"'{path}' cannot be read ({exc.strerror or exc}): check the path.")
                return
            name = name or path.name
        self.composed = None
        try:
            sheets = list_sheets(data, name=name)
        except BentoUIError as exc:
            self._fail(str(exc))
            return
        self.file = LoadedFile(name, data, file_hash(data), sheets)
        self.choose_sheet(sheets[0] if sheets else None)

    def _fail(self, message: str) -> None:
        self.file = self.sheet = self.validation = None
        self.mapping_problems = []
        self.error = message

    def choose_sheet(self, sheet: str | None) -> None:
        assert self.file is not None
        try:
            frame = read_table(self.file.data, sheet=sheet, name=self.file.name)
        except BentoUIError as exc:
            self.sheet, self.validation, self.error = None, None, str(exc)
            return
        self.error = ""
        self.sheet_name, self.sheet = sheet, frame
        self.mapping = suggest_mapping(frame.columns, default_type=self.mapping.default_type)
        self.date_order = None
        self.amounts = self.suggested_amounts()
        self.recheck()

    def suggested_amounts(self) -> Unit:
        """Currency units when the $purchase amount column holds decimals, else cents."""
        header = self.mapping.target_of(ev.PURCHASE_AMOUNT)
        if self.sheet is None or header is None:
            return MINOR
        return MAJOR if has_decimals(self.sheet[header]) else MINOR

    def choices(self) -> list[tuple[str, str, str, str]]:
        """One row per column: header, an example value, where it goes, its name."""
        if self.sheet is None:
            return []
        rows = []
        for header in self.sheet.columns:
            column = self.sheet[header].astype("str")
            filled = column[column.str.strip() != ""]
            example = str(filled.iloc[0]) if len(filled) else ""
            example = example if len(example) <= 40 else example[:40] + "..."
            kind, name = split_target(self.mapping.columns.get(str(header), IGNORE))
            rows.append((str(header), example, kind, name))
        return rows

    def set_column(self, header: str, kind: str, name: str = "") -> None:
        had_amount = self.mapping.target_of(ev.PURCHASE_AMOUNT)
        columns = dict(self.mapping.columns)
        columns[header] = join_target(header, kind, name)
        self.mapping = ColumnMapping(columns, self.mapping.default_type)
        if self.mapping.target_of(ev.PURCHASE_AMOUNT) != had_amount:
            self.amounts = self.suggested_amounts()
        self.recheck()

    def set_default_type(self, event_type: str) -> None:
        self.mapping = ColumnMapping(dict(self.mapping.columns), event_type.strip())
        self.recheck()

    def set_timezone(self, zone: str) -> None:
        self.timezone = zone
        self.recheck()

    def set_amounts(self, unit: Unit) -> None:
        self.amounts = unit
        self.recheck()

    def set_date_order(self, order: str | None) -> None:
        self.date_order = order
        self.recheck()

    @property
    def has_amounts(self) -> bool:
        return self.composed is None and self.mapping.target_of(ev.PURCHASE_AMOUNT) is not None

    @property
    def has_dates(self) -> bool:
        return self.composed is None and self.mapping.target_of(ev.DATE) is not None

    def recheck(self) -> None:
        """Validate the current source with the current choices."""
        self.validation = None
        self.mapping_problems = []
        self.folded_note = ""
        try:
            if self.composed is not None:
                table = self.composed
            else:
                if self.sheet is None:
                    return
                self.mapping_problems = check_mapping(self.sheet.columns, self.mapping)
                if self.mapping_problems:
                    return
                table = apply_mapping(self.sheet, self.mapping)
                self.folded_note = line_items.describe(folded_rows(table), self.mapping.columns)
            if self.composed is not None:  # the form: amounts in cents, dates in UTC
                self.validation = validate(table)
            else:
                self.validation = validate(
                    table, timezone=self.timezone, amounts=self.amounts,
                    date_order=self.date_order,  # type: ignore[arg-type]
                )  # fmt: skip
            self.error = ""
        except BentoUIError as exc:
            self.error = str(exc)

    # --- one event from the form

    def compose(self, event_type: str, email: str, fields: str = "", details: str = "",
                date: str = "") -> list[str]:
        """Check one event (fields as `name: value` lines, details as a JSON object with
        amounts in cents, a date in UTC unless it names its zone) the same way a file's
        rows are checked; the form's own problems, [] when there are none."""
        columns = {ev.TYPE: event_type, ev.EMAIL: email, ev.DATE: date}
        problems = []
        for number, line in enumerate(fields.splitlines(), start=1):
            if not line.strip():
                continue
            key, colon, value = line.partition(":")
            key = key.strip()
            if not colon or not key:
                problems.append(f"Fields, line {number}: write it as name: value.")
            elif "." in key:
                problems.append(f"Fields, line {number}: field names cannot contain dots "
                                f"('{key}'): fields are flat. Put it under details instead.")
            elif ev.FIELDS_PREFIX + key in columns:
                problems.append(f"Fields, line {number}: the field '{key}' is there twice.")
            else:
                columns[ev.FIELDS_PREFIX + key] = value.strip()
        if details.strip():
            columns[ev.DETAILS] = details
        if problems:
            return problems
        self.composed = pd.DataFrame([columns], index=pd.Index([1], name="row"), dtype="str")
        self.recheck()
        return []

    def use_file(self) -> None:
        """Back from the form's event to the loaded file."""
        self.composed = None
        self.recheck()

    @property
    def source_name(self) -> str:
        if self.composed is not None:
            return COMPOSED
        return self.file.name if self.file is not None else ""

    # --- what was found

    @property
    def problems(self) -> pd.DataFrame | None:
        return None if self.validation is None else self.validation.problems

    def problem_pages(self, size: int = PROBLEMS_PAGE_SIZE) -> int:
        problems = self.problems
        return 0 if problems is None else -(-len(problems) // size)

    def problems_page(self, page: int, size: int = PROBLEMS_PAGE_SIZE) -> pd.DataFrame:
        """Page `page` (from 0) of the problems: errors first, then by spreadsheet row."""
        problems = self.problems
        if problems is None:
            return pd.DataFrame()
        ordered = problems.assign(_e=problems["severity"] != "error").sort_values(
            ["_e", "row"], kind="stable").drop(columns="_e")
        return ordered.iloc[page * size : (page + 1) * size]

    def problems_csv(self) -> str:
        """The problems as CSV that is safe to open in a spreadsheet (`bento_ui.export`)."""
        problems = self.problems
        return "" if problems is None else safe_csv(problems)

    def preview_json(self, n: int = PREVIEW_EVENTS) -> str:
        """The first events exactly as Bento receives them."""
        if self.validation is None or self.validation.valid.empty:
            return ""
        return to_json(build_events(self.validation.valid.iloc[:n]))

    # --- sending

    @property
    def job(self) -> SendJob | None:
        return self.jobs[-1] if self.jobs else None

    @property
    def sending(self) -> bool:
        return self.job is not None and self.job.running

    def origin(self, batch_size: int, resend: Resend) -> Origin:
        if self.composed is not None or self.file is None:
            return Origin(name=COMPOSED, options={"origin": "notebook compose"},
                          target=None if self.live else "sandbox")  # fmt: skip
        options = source_options(
            self.mapping, sheet=self.sheet_name, timezone=self.timezone,
            date_order=self.date_order, batch_size=batch_size, skip_invalid=True,
            amounts=self.amounts, origin="notebook", send_again=resend.send_again,
            resend_unknown=resend.resend_unknown,
        )  # fmt: skip
        return Origin(name=self.file.name, file_hash=self.file.file_hash, options=options,
                      target=None if self.live else "sandbox")  # fmt: skip

    def plan(self, batch_size: int = MAX_BATCH_SIZE, resend: Resend | None = None) -> SendPlan:
        """The engine's plan for the valid events now (raises BentoUIError)."""
        resend = resend or Resend()
        if self.validation is None:
            raise BentoUIError("Nothing to send yet: load a file or compose an event.")
        return plan_send(self.validation.valid, self.credentials, ledger=self.ledger,
                         origin=self.origin(batch_size, resend), resend=resend,
                         batch_size=batch_size)  # fmt: skip

    def preview(self, batch_size: int = MAX_BATCH_SIZE, resend: Resend | None = None
                ) -> SendPreview:  # fmt: skip
        try:
            plan = self.plan(batch_size, resend)
        except (BentoUIError, ValueError) as exc:
            return SendPreview(0, 0, [], 0, 0, str(exc))
        check = plan.check
        notes = [held_back_note(h, voice="app", sandbox=not self.live) for h in plan.held_back]
        return SendPreview(
            plan.events, len(plan.batches), notes,
            len(check.accepted) if check else 0, len(check.uncertain) if check else 0,
        )  # fmt: skip

    def send(
        self,
        *,
        confirmed: bool,
        batch_size: int = MAX_BATCH_SIZE,
        resend: Resend | None = None,
        on_change: Callable[[SendJob], None] | None = None,
    ) -> SendJob | str:
        """Start a send in the background; a sentence instead when nothing starts."""
        if self.sending:
            return "A send is running: wait for it to end, or cancel it."
        if not confirmed:
            return "Tick the confirmation first."
        try:
            plan = self.plan(batch_size, resend)
        except (BentoUIError, ValueError) as exc:
            return f"Nothing was sent: {exc}"
        if not plan.events:
            notes = " ".join(held_back_note(h, voice="app", sandbox=not self.live)
                             for h in plan.held_back)  # fmt: skip
            return f"Nothing to send. {notes}".strip()
        job = SendJob(plan, self.target_label, on_change=on_change)
        self.jobs.append(job)
        job.start()
        return job

    @property
    def report(self) -> SendReport | None:
        """The engine's report of the last send (None before one ended)."""
        return self.job.report if self.job is not None else None

    def close(self) -> None:
        if self._ledger is not None:
            self._ledger.close()


def live_warning(events: int, target: str) -> str:
    """The confirmation people tick before sending to Bento itself (as in the app)."""
    these = "this event goes" if events == 1 else f"these {events:,} events go"
    return (
        f"I understand that {these} to {target} for real: they can start automations "
        "and send emails to real people."
    )


def describe_totals(report: SendReport) -> str:
    totals = report.totals
    parts = [f"{totals['recorded']:,} recorded", f"{totals['failed']:,} refused by Bento"]
    if totals["unknown"]:
        parts.append(f"{totals['unknown']:,} of unknown fate")
    if totals["not sent"]:
        parts.append(f"{totals['not sent']:,} not sent")
    return f"{totals['events']:,} events: " + ", ".join(parts) + "."
