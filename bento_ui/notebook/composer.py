"""The composer widget: `ComposerState` drawn with ipywidgets, top to bottom as a person
works: where events go, the file, where each column goes, what was found, one event by
hand, and the send. Every decision is the state's (and so the engine's); this module
only draws and passes clicks on."""

from __future__ import annotations

import base64
import html
import threading
import zoneinfo
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import ipywidgets as widgets
import pandas as pd

from bento_ui import events as ev
from bento_ui.batching import MAX_BATCH_SIZE
from bento_ui.config import Credentials
from bento_ui.emulator import Emulator
from bento_ui.errors import BentoUIError
from bento_ui.guard import Resend
from bento_ui.ledger import Ledger
from bento_ui.mapping import GOES_TO
from bento_ui.messages import failure_lines
from bento_ui.notebook.state import (
    AMOUNT_UNITS,
    COMPOSED,
    PROBLEMS_PAGE_SIZE,
    ComposerState,
    SendJob,
    describe_totals,
    live_warning,
)
from bento_ui.sending import SendReport
from bento_ui.validation import Validation

FILE_TYPES = ".csv,.tsv,.txt,.xlsx,.xls,.ods,.jsonl,.ndjson"
SHOWN_BATCHES = 200  # rows of the per-batch table drawn; the report has them all
SANDBOX, LIVE = "Sandbox", "Bento (live)"
DATE_ORDERS = {"day-first": "Day first (31/12/2024)", "month-first": "Month first (12/31/2024)"}
_STYLE = """<style>
.bento-table table {border-collapse: collapse; font-size: 12px;}
.bento-table th, .bento-table td {border: 1px solid #ddd; padding: 2px 6px; text-align: left;
  vertical-align: top;}
.bento-note {color: #555;}
.bento-warn {color: #8a5300;}
.bento-error {color: #b00020;}
.bento-composer .widget-checkbox, .bento-composer .widget-checkbox label,
.bento-composer .widget-checkbox span {white-space: normal !important; overflow: visible
  !important; height: auto !important; max-width: 900px;}
</style>"""


@lru_cache(maxsize=1)
def time_zones() -> tuple[str, ...]:
    """UTC first, then every IANA zone name in alphabetical order."""
    zones = sorted(
        z for z in zoneinfo.available_timezones() if "/" in z and not z.startswith("Etc/")
    )
    return ("UTC", *zones)


def _p(text: str, kind: str = "note") -> str:
    return f'<p class="bento-{kind}">{html.escape(text)}</p>'


def _table(frame: pd.DataFrame) -> str:
    return f'<div class="bento-table">{frame.to_html(index=False, escape=True, na_rep="")}</div>'


def _heading(text: str) -> widgets.HTML:
    return widgets.HTML(f"<h3>{html.escape(text)}</h3>")


class Composer(widgets.VBox):  # type: ignore[misc]
    """Compose, check and send Bento events in a notebook. Display it in a cell:

        from bento_ui.notebook import Composer
        composer = Composer()
        composer

    Events go to the sandbox (a local Bento) unless you choose Bento and tick the
    confirmation; keys come from BENTO_SITE_UUID, BENTO_PUBLISHABLE_KEY and
    BENTO_SECRET_KEY, or `Composer(credentials=...)`. After the GUI, code can use
    `.summary`, `.problems`, `.valid`, `.report` and `.emulator`.
    """

    def __init__(
        self,
        credentials: Credentials | None = None,
        *,
        emulator: Emulator | None = None,
        ledger: Ledger | None = None,
        batch_size: int = MAX_BATCH_SIZE,
    ) -> None:
        self.state = ComposerState(credentials=credentials, emulator=emulator, ledger=ledger)
        self._lock = threading.RLock()  # the send thread redraws too
        self._quiet = False  # set while the widgets are given values from the state
        self._page = 0
        self._ready = 0  # events the Send button would send now
        self._make_target()
        self._make_file()
        self._make_mapping()
        self._make_found()
        self._make_form()
        self._make_send(batch_size)
        super().__init__([
            widgets.HTML(_STYLE + "<h2>Bento event composer</h2>"),
            self.target_box, _heading("1. Your file"), self.file_box,
            _heading("2. Where each column goes"), self.mapping_box,
            _heading("3. What was found"), self.found_box,
            self.form, _heading("4. Send"), self.send_box,
        ])  # fmt: skip
        self.add_class("bento-composer")
        self._refresh()

    # --- for code after the GUI

    @property
    def summary(self) -> dict[str, int] | None:
        validation = self.state.validation
        return None if validation is None else validation.summary

    @property
    def problems(self) -> pd.DataFrame | None:
        return self.state.problems

    @property
    def valid(self) -> pd.DataFrame | None:
        validation = self.state.validation
        return None if validation is None else validation.valid

    @property
    def validation(self) -> Validation | None:
        return self.state.validation

    @property
    def report(self) -> SendReport | None:
        """The engine's report of the last send."""
        return self.state.report

    @property
    def job(self) -> SendJob | None:
        """The last send (`.wait(timeout)` blocks until it ends)."""
        return self.state.job

    @property
    def emulator(self) -> Emulator | None:
        """The sandbox events go to; None when sending to Bento."""
        return self.state.emulator

    def load(self, source: Any, name: str | None = None) -> None:
        """Load a file: a path, or its bytes (`name` then tells the format)."""
        self.state.load(source, name)
        self._new_sheet()

    # --- 0. where events go

    def _make_target(self) -> None:
        self.target_info = widgets.HTML()
        live_ok = self.state.live_credentials is not None
        self.target = widgets.ToggleButtons(
            options=[SANDBOX, LIVE] if live_ok else [SANDBOX], value=SANDBOX,
            description="Send to", tooltips=["A local Bento: nothing leaves this computer",
                                             "Your Bento site, for real"],
        )  # fmt: skip
        self.target.observe(self._on_target, "value")
        note = ""
        if not live_ok:
            note = _p(self.state.live_problem or (
                "To send to Bento itself, set BENTO_SITE_UUID, BENTO_PUBLISHABLE_KEY and "
                "BENTO_SECRET_KEY before starting Jupyter, or pass Composer(credentials=...)."
            ))  # fmt: skip
        self.target_box = widgets.VBox([self.target, self.target_info, widgets.HTML(note)])

    def _on_target(self, change: dict[str, Any]) -> None:
        try:
            self.state.go_live(change["new"] == LIVE)
        except BentoUIError as exc:
            self.status.value = _p(str(exc), "error")
        self.confirm.value = False  # a tick for one target never carries over
        self._refresh()

    def _draw_target(self) -> None:
        label = html.escape(self.state.target_label)
        if self.state.live:
            self.target_info.value = f"<b>Events go to {label}.</b> They are real events."
        else:
            inbox = self.state.inbox_count or 0
            self.target_info.value = (
                f"<b>Events go to {label}.</b> Its inbox holds {inbox:,} "
                f"event{'s' if inbox != 1 else ''}."
            )

    # --- 1. the file

    def _make_file(self) -> None:
        self.upload = widgets.FileUpload(accept=FILE_TYPES, multiple=False,
                                         description="Upload a file")  # fmt: skip
        self.upload.observe(self._on_upload, "value")
        self.sheet_picker = widgets.Dropdown(description="Sheet", options=[])
        self.sheet_picker.observe(self._on_sheet, "value")
        self.sheet_picker.layout.display = "none"  # shown for a workbook of several sheets
        self.file_info = widgets.HTML(_p(
            "CSV, TSV, TXT, XLSX, XLS, ODS, JSONL or NDJSON; the first row holds the "
            "headers. Or call composer.load(path)."))  # fmt: skip
        self.file_box = widgets.VBox([self.upload, self.sheet_picker, self.file_info])

    def _on_upload(self, change: dict[str, Any]) -> None:
        files = change["new"]
        if not files:
            return
        chosen = files[-1]
        self.state.load(bytes(chosen["content"]), str(chosen["name"]))
        self._new_sheet()

    def _on_sheet(self, change: dict[str, Any]) -> None:
        if self._quiet or change["new"] is None or self.state.file is None:
            return
        self.state.choose_sheet(str(change["new"]))
        self._new_sheet(keep_sheets=True)

    def _new_sheet(self, keep_sheets: bool = False) -> None:
        """A file or sheet was chosen: the mapping rows are made afresh for its columns."""
        file = self.state.file
        if not keep_sheets:
            with self._silent():
                self.sheet_picker.options = file.sheets if file else []
                self.sheet_picker.value = self.state.sheet_name if file and file.sheets else None
        self.sheet_picker.layout.display = "" if file and len(file.sheets) > 1 else "none"
        self._page = 0
        self._make_mapping_rows()
        self._refresh()

    # --- 2. the mapping

    def _make_mapping(self) -> None:
        self.mapping_rows = widgets.VBox()
        self.column_choices: dict[str, tuple[widgets.Dropdown, widgets.Text]] = {}
        self.default_type = widgets.Text(description="Type", placeholder="webinar_attended",
                                         style={"description_width": "initial"},
                                         layout=widgets.Layout(width="460px"))  # fmt: skip
        self.default_type.observe(self._on_default_type, "value")
        self.timezone = widgets.Dropdown(options=time_zones(), value="UTC",
                                         description="Time zone of dates without one",
                                         style={"description_width": "initial"})  # fmt: skip
        self.timezone.observe(lambda c: self._change(self.state.set_timezone, c["new"]), "value")
        self.amounts = widgets.RadioButtons(options=[(v, k) for k, v in AMOUNT_UNITS.items()],
                                            description="Amounts are in",
                                            style={"description_width": "initial"})  # fmt: skip
        self.amounts.observe(lambda c: self._change(self.state.set_amounts, c["new"]), "value")
        self.date_order = widgets.RadioButtons(
            options=[(v, k) for k, v in DATE_ORDERS.items()], value=None,
            description="Dates like 05/01/2024 are written", style={"description_width": "initial"},
        )  # fmt: skip
        self.date_order.observe(lambda c: self._change(self.state.set_date_order, c["new"]),
                                "value")  # fmt: skip
        self.mapping_info = widgets.HTML()
        self.mapping_box = widgets.VBox([self.mapping_rows, self.default_type, self.timezone,
                                         self.amounts, self.date_order, self.mapping_info])

    def _make_mapping_rows(self) -> None:
        rows: list[widgets.Widget] = []
        self.column_choices = {}
        choices = self.state.choices()
        if choices:
            rows.append(widgets.HTML(
                "<b>column in your file → goes to (name)</b>: suggested from the headers; "
                "change any choice."))  # fmt: skip
        for header, example, kind, name in choices:
            goes = widgets.Dropdown(options=GOES_TO, value=kind,
                                    layout=widgets.Layout(width="130px"))  # fmt: skip
            named = widgets.Text(value=name, placeholder="name",
                                 layout=widgets.Layout(width="180px"))  # fmt: skip
            named.disabled = kind not in ("field", "detail")
            goes.observe(self._column_changed(header), "value")
            named.observe(self._column_changed(header), "value")
            label = widgets.HTML(
                f"<b>{html.escape(header)}</b> <span class='bento-note'>"
                f"{html.escape(example)}</span>", layout=widgets.Layout(width="320px"))  # fmt: skip
            self.column_choices[header] = (goes, named)
            rows.append(widgets.HBox([label, goes, named]))
        self.mapping_rows.children = rows
        with self._silent():
            self.default_type.value = self.state.mapping.default_type
            self.amounts.value = self.state.amounts
            self.date_order.value = self.state.date_order

    def _column_changed(self, header: str) -> Callable[[dict[str, Any]], None]:
        def changed(change: dict[str, Any]) -> None:
            if self._quiet:
                return
            goes, named = self.column_choices[header]
            # A new place starts with its own name: a detail's path is no field name.
            name = "" if change["owner"] is goes else named.value
            self.state.set_column(header, str(goes.value), name)
            with self._silent():  # show the name the state chose (First Name -> first_name)
                kind, name = next((k, n) for h, _e, k, n in self.state.choices() if h == header)
                named.value, named.disabled = name, kind not in ("field", "detail")
                self.amounts.value = self.state.amounts
            self._refresh()

        return changed

    def _on_default_type(self, change: dict[str, Any]) -> None:
        self._change(self.state.set_default_type, change["new"])

    def _change(self, setter: Callable[[Any], None], value: Any) -> None:
        if self._quiet:
            return
        setter(value)
        self._refresh()

    def _silent(self) -> _Quiet:
        return _Quiet(self)

    # --- 3. what was found

    def _make_found(self) -> None:
        self.counts = widgets.HTML()
        self.problems_table = widgets.HTML()
        self.previous_page = widgets.Button(description="◀ Previous", disabled=True)
        self.next_page = widgets.Button(description="Next ▶", disabled=True)
        self.page_info = widgets.Label()
        self.previous_page.on_click(lambda _: self._turn(-1))
        self.next_page.on_click(lambda _: self._turn(1))
        self.pager = widgets.HBox([self.previous_page, self.page_info, self.next_page])
        self.download = widgets.HTML()
        self.preview = widgets.HTML()
        self.found_box = widgets.VBox([self.counts, self.problems_table, self.pager,
                                       self.download, self.preview])  # fmt: skip

    def _turn(self, by: int) -> None:
        self._page = max(0, min(self._page + by, self.state.problem_pages() - 1))
        self._draw_found()

    def _draw_found(self) -> None:
        state, validation = self.state, self.state.validation
        self.pager.layout.display = "none"
        self.problems_table.value = self.download.value = self.preview.value = ""
        if validation is None:
            self.counts.value = ""
            return
        summary = validation.summary
        self.counts.value = _table(pd.DataFrame([{
            "rows": summary["rows"], "ready to send": summary["valid"],
            "with errors": summary["with errors"], "with warnings": summary["with warnings"],
            "empty, skipped": summary["empty skipped"], "events": validation.events,
        }]))  # fmt: skip
        if state.folded_note:
            self.counts.value += _p(state.folded_note)
        if validation.problems.empty:
            self.problems_table.value = _p("No problems: every row can be sent.")
        else:
            pages = state.problem_pages()
            self._page = min(self._page, pages - 1)
            page = state.problems_page(self._page)
            self.problems_table.value = (
                _p("Rows with errors are not sent; warnings do not block a row. "
                   "'row' is the row number in your spreadsheet (the headers are row 1).")
                + _table(page)
            )  # fmt: skip
            self.pager.layout.display = "" if pages > 1 else "none"
            self.page_info.value = f"page {self._page + 1} of {pages} ({len(validation.problems):,} problems, {PROBLEMS_PAGE_SIZE} a page)"  # noqa: E501
            self.previous_page.disabled = self._page == 0
            self.next_page.disabled = self._page >= pages - 1
            data = base64.b64encode(state.problems_csv().encode("utf-8")).decode("ascii")
            self.download.value = (
                f'<a download="problems.csv" href="data:text/csv;charset=utf-8;base64,{data}">'
                "Download the problems (CSV)</a>"
            )
        preview = state.preview_json()
        if preview:
            self.preview.value = (
                _p("The first events exactly as Bento receives them:")
                + f"<pre>{html.escape(preview)}</pre>"
            )

    # --- one event by hand

    def _make_form(self) -> None:
        wide = widgets.Layout(width="480px")
        self.form_type = widgets.Text(description="Type", placeholder="$purchase, webinar_attended")
        self.form_email = widgets.Text(description="Email", placeholder="jane@example.com")
        self.form_date = widgets.Text(description="Date", layout=wide,
                                      placeholder="empty: now; UTC unless it names its zone")
        self.form_fields = widgets.Textarea(description="Fields", layout=wide,
                                            placeholder="first_name: Jane\nplan: pro")
        self.form_details = widgets.Textarea(
            description="Details", layout=wide,
            placeholder='{"value": {"amount": 4999, "currency": "USD"}, "unique": {"key": "A1"}}')
        self.form_check = widgets.Button(description="Check this event", button_style="info")
        self.form_back = widgets.Button(description="Back to the file")
        self.form_info = widgets.HTML()
        self.form_check.on_click(lambda _: self._on_compose())
        self.form_back.on_click(lambda _: self._on_back())
        box = widgets.VBox([
            widgets.HTML(_p("One event, checked exactly like a file's rows; it shows in "
                            "'What was found' and is sent with Send below. Amounts in details "
                            "are in cents (4999 is 49.99 USD).")),
            self.form_type, self.form_email, self.form_date, self.form_fields,
            self.form_details, widgets.HBox([self.form_check, self.form_back]), self.form_info,
        ])  # fmt: skip
        self.form = widgets.Accordion(children=[box], titles=("Or compose one event by hand",))
        self.form.selected_index = None

    def _on_compose(self) -> None:
        problems = self.state.compose(self.form_type.value, self.form_email.value,
                                      self.form_fields.value, self.form_details.value,
                                      self.form_date.value)  # fmt: skip
        self.form_info.value = "".join(_p(p, "error") for p in problems)
        self._page = 0
        self._refresh()

    def _on_back(self) -> None:
        self.state.use_file()
        self.form_info.value = ""
        self._refresh()

    # --- 4. send

    def _make_send(self, batch_size: int) -> None:
        self.send_info = widgets.HTML()
        self.batch_size = widgets.BoundedIntText(
            value=batch_size, min=1, max=MAX_BATCH_SIZE, description="Batch size",
            tooltip="Events per request: Bento takes up to 1000.")  # fmt: skip
        self.batch_size.observe(lambda _: self._draw_send(), "value")
        self.send_again = widgets.Checkbox(description="", indent=False,
                                           layout=widgets.Layout(width="auto"))  # fmt: skip
        self.resend_unknown = widgets.Checkbox(description="", indent=False,
                                               layout=widgets.Layout(width="auto"))  # fmt: skip
        for box in (self.send_again, self.resend_unknown):
            box.observe(lambda _: self._draw_send(), "value")
        self.confirm = widgets.Checkbox(description="", indent=False,
                                        layout=widgets.Layout(width="auto"))  # fmt: skip
        self.confirm.observe(lambda _: self._draw_buttons(), "value")
        self.send_button = widgets.Button(description="Send", button_style="primary",
                                          disabled=True, icon="paper-plane")  # fmt: skip
        self.send_button.on_click(lambda _: self._on_send())
        self.cancel_button = widgets.Button(
            description="Cancel", disabled=True, button_style="warning",
            tooltip="Stops after the batch being sent; the ledger marks the run interrupted.")
        self.cancel_button.on_click(lambda _: self._on_cancel())
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="Batches")
        self.progress.layout.display = "none"
        self.status = widgets.HTML()
        self.batches = widgets.HTML()
        self.failures = widgets.HTML()
        self.send_box = widgets.VBox([
            self.send_info, self.batch_size, self.send_again, self.resend_unknown,
            self.confirm, widgets.HBox([self.send_button, self.cancel_button]),
            widgets.HTML(_p("Cancel stops after the batch being sent: that batch's answer is "
                            "recorded, the rest is not sent, and the send ledger shows the run "
                            "as interrupted. Send again sends only what is left.")),
            self.progress, self.status, self.batches, self.failures,
        ])  # fmt: skip

    def _resend(self) -> Resend:
        return Resend(send_again=self.send_again.value, resend_unknown=self.resend_unknown.value)

    def _draw_send(self) -> None:
        state = self.state
        self._ready = 0
        self.send_again.layout.display = self.resend_unknown.layout.display = "none"
        if state.sending:
            self._draw_buttons()
            return
        if state.validation is None or state.validation.valid.empty:
            self.send_info.value = _p("Nothing can be sent yet: load a file (or compose an "
                                      "event) and fix the choices above.")  # fmt: skip
            self._draw_buttons()
            return
        preview = state.preview(self.batch_size.value, self._resend())
        if preview.error:
            self.send_info.value = _p(f"Nothing can be sent: {preview.error}", "error")
            self._draw_buttons()
            return
        notes = "".join(_p(n, "warn") for n in preview.notes)
        if preview.accepted_before:
            n = preview.accepted_before
            self.send_again.description = (
                f"Send {'it' if n == 1 else f'these {n:,} events'} again anyway: "
                f"{state.target_name} will record {'it' if n == 1 else 'them'} a second time.")
            self.send_again.layout.display = ""
        if preview.uncertain_before and not self.send_again.value:
            n = preview.uncertain_before
            self.resend_unknown.description = (
                f"I checked: send the {n:,} event{'s' if n != 1 else ''} that may have been "
                "recorded again, even if that records some of them twice.")
            self.resend_unknown.layout.display = ""
        errors = len(state.validation.error_rows)
        skipped = (_p(f"{errors:,} row{'s' if errors != 1 else ''} with errors will not be "
                      "sent: only the valid rows go.", "warn") if errors else "")  # fmt: skip
        self._ready = preview.events
        what = "this event" if preview.events == 1 else f"these {preview.events:,} events"
        if preview.events:
            self.send_info.value = skipped + notes + _p(
                f"{state.source_name}: {preview.events:,} event"
                f"{'s' if preview.events != 1 else ''} in {preview.batches:,} "
                f"batch{'es' if preview.batches != 1 else ''} of up to "
                f"{self.batch_size.value:,}.")  # fmt: skip
        else:
            self.send_info.value = skipped + notes + _p(
                f"Nothing to send: every one of these events was sent to "
                f"{state.target_name} before.")  # fmt: skip
        self.confirm.description = (
            live_warning(preview.events, state.target_label) if state.live
            else f"Send {what} to the sandbox (nothing leaves this computer)."
            if preview.events else "Nothing to confirm: nothing is left to send."
        )  # fmt: skip
        self._draw_buttons()

    def _draw_buttons(self) -> None:
        sending = self.state.sending
        ready = self._ready
        self.confirm.disabled = sending or not ready
        self.send_button.disabled = sending or not ready or not self.confirm.value
        self.send_button.description = (f"Send {ready:,} event{'s' if ready != 1 else ''}"
                                        if ready else "Send")  # fmt: skip
        self.cancel_button.disabled = not sending

    def _on_send(self) -> None:
        with self._lock:
            started = self.state.send(confirmed=self.confirm.value,
                                      batch_size=self.batch_size.value, resend=self._resend(),
                                      on_change=self._on_progress)  # fmt: skip
            if isinstance(started, str):
                self.status.value = _p(started, "warn")
                return
            with self._silent():
                self.confirm.value = self.send_again.value = self.resend_unknown.value = False
            self.progress.max = started.total_batches
            self.progress.value = 0
            self.progress.layout.display = ""
            self.status.value = _p(f"Sending to {started.target}…")
            self._draw_buttons()

    def _on_cancel(self) -> None:
        job = self.state.job
        if job is not None and job.running:
            job.cancel()
            self.cancel_button.disabled = True
            self.status.value = _p("Cancelling: the batch being sent ends first…", "warn")

    def _on_progress(self, job: SendJob) -> None:
        """From the send thread: each batch's answer as it comes, then the outcome."""
        with self._lock:
            self.progress.max = max(job.total_batches, len(job.results), 1)
            self.progress.value = len(job.results)
            results = sorted(job.results, key=lambda r: r.number)
            if results:
                frame = pd.DataFrame([r.as_row() for r in results[:SHOWN_BATCHES]])
                frame = frame.drop(columns=["status", "attempts", "seconds"])
                more = (_p(f"… and {len(results) - SHOWN_BATCHES:,} more batches in "
                           "composer.report.table") if len(results) > SHOWN_BATCHES else "")
                self.batches.value = _table(frame) + more
            failures = [f for r in results for f in r.failures]
            if failures:
                self.failures.value = (
                    "<b>Refused by Bento</b>" + "".join(_p(x) for x in failure_lines(failures))
                    + _table(pd.DataFrame([f.as_dict() for f in failures[:SHOWN_BATCHES]]))
                )  # fmt: skip
            if job.finished:
                self._finished(job)

    def _finished(self, job: SendJob) -> None:
        report = job.report
        lines = []
        if job.error:
            lines.append(_p(job.error, "error"))
        if report is not None:
            lines.append(_p(describe_totals(report)))
            if report.stopped:
                lines.append(_p(report.stopped, "warn"))
            if report.run_id:
                lines.append(_p(f"Run {report.run_id} in the send ledger "
                                "(bento-ui history shows it)."))  # fmt: skip
        self.status.value = "".join(lines)
        self._refresh()

    # --- redraw

    def _refresh(self) -> None:
        with self._lock:
            state = self.state
            self._draw_target()
            if state.error:
                self.file_info.value = _p(state.error, "error")
            elif state.composed is not None:
                self.file_info.value = _p(f"Showing the {COMPOSED.lower()} from the form below "
                                          "('Back to the file' returns to the file).")
            elif state.sheet is not None and state.file is not None:
                self.file_info.value = _p(f"{state.file.name}: {len(state.sheet):,} rows, "
                                          f"{len(state.sheet.columns)} columns.")  # fmt: skip
            has_sheet = state.sheet is not None and state.composed is None
            self.mapping_box.layout.display = "" if has_sheet else "none"
            has_type = ev.TYPE in state.mapping.columns.values()
            self.default_type.description = ("Type where the type cell is empty" if has_type
                                             else "Type for every row")  # fmt: skip
            self.timezone.layout.display = "" if state.has_dates else "none"
            self.amounts.layout.display = "" if state.has_amounts else "none"
            header = state.mapping.target_of(ev.PURCHASE_AMOUNT)
            self.amounts.description = f"Amounts in '{header}' are in" if header else ""
            ambiguous = state.validation is not None and state.validation.dates_ambiguous
            self.date_order.layout.display = ("" if state.has_dates and (ambiguous or
                                              state.date_order) else "none")  # fmt: skip
            self.mapping_info.value = "".join(_p(m, "error") for m in state.mapping_problems)
            self._draw_found()
            self._draw_send()


class _Quiet:
    """Within it, observers ignore changes: the state is giving the widgets values."""

    def __init__(self, composer: Composer) -> None:
        self.composer = composer

    def __enter__(self) -> None:
        self.before = self.composer._quiet
        self.composer._quiet = True

    def __exit__(self, *_: object) -> None:
        self.composer._quiet = self.before
