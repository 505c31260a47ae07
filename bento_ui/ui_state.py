"""The app's logic that needs no Streamlit, so it can be tested as plain Python.

- the Compose form: turn form values into a one-row event table (`compose_event_table`)
  and say which input each problem belongs to (`place_of`);
- the outbox: the events added so far as an event table and as a readable table;
- the Upload page: the column-mapping editor's rows, fixes typed over the original
  sheet (`apply_edits`, `merge_edits`), the rows still to fix, paging long tables;
- sending: a `SendJob` remembers the planned batches and each batch's latest outcome,
  so a rerun of the page (a double click, a widget change) resumes instead of sending
  twice, and "retry" resends only what Bento did not record; its `run_id` is the run in
  the send ledger, where every batch is recorded as well;
- the send history: a run's file read again with the run's options (`rebuild_valid`),
  and a resume turned into a `SendJob` (`SendJob.for_resume`);
- showing people's data safely: `escape_markdown` for text that goes into markdown,
  `csv_bytes` (formula-safe) for every download.

The pages lay out widgets and call these functions; this module never imports streamlit.
"""

from __future__ import annotations

import functools
import io
import itertools
import json
import math
import os
import re
import threading
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from bento_ui import events as ev
from bento_ui.batching import MAX_BATCH_SIZE, Batch, describe_rows, plan_batches
from bento_ui.client import STOP_STATUSES
from bento_ui.config import Credentials
from bento_ui.errors import LedgerError, ReadError
from bento_ui.export import safe_csv
from bento_ui.ledger import SENT_BEFORE, DuplicateCheck, HeldBack, RunRecord
from bento_ui.mapping import IGNORE, ColumnMapping, apply_mapping, snake_case
from bento_ui.money import (
    MAJOR,
    MINOR,
    MoneyError,
    Unit,
    exponent_of,
    format_major,
    has_decimals,
    minor_units,
)
from bento_ui.payloads import Event, build_events
from bento_ui.resume import ResumePlan, read_source, source_options, stored_amounts
from bento_ui.sending import (
    PARTIAL,
    REJECTED,
    REPORT_COLUMNS,
    RETRYABLE_STATES,
    SKIPPED,
    UNKNOWN,
    BatchResult,
    SendReport,
)
from bento_ui.spreadsheet import read_table
from bento_ui.validation import ERROR, Validation, validate

# ---------------------------------------------------------------- shared helpers


def _text(value: Any) -> str:
    """A cell from a data editor as text: None, NaN and <NA> become ""."""
    if value is None or (not isinstance(value, str) and bool(pd.isna(value))):
        return ""
    return str(value)


def count(n: int, singular: str, plural: str | None = None) -> str:
    """`1 event`, `2 events`, `3 batches`: a number and its noun, agreed."""
    word = singular if n == 1 else (plural or singular + "s")
    return f"{n:,} {word}"


def page_count(rows: int, size: int) -> int:
    """How many pages `rows` rows fill, at least 1."""
    return max(1, math.ceil(rows / max(1, size)))


def page_of(frame: pd.DataFrame, page: int, size: int) -> pd.DataFrame:
    """Rows of page `page` (1-based, clamped to the pages that exist)."""
    page = min(max(1, int(page)), page_count(len(frame), size))
    start = (page - 1) * size
    return frame.iloc[start : start + size]


def csv_bytes(frame: pd.DataFrame, *, index: bool = False) -> bytes:
    """A table as UTF-8 CSV for a download button; cells a spreadsheet would run as
    formulas (`=`, `+`, `-`, `@`) are neutralised (see `bento_ui.export`)."""
    return safe_csv(frame, index=index).encode("utf-8")


# `_` inside a word (BENTO_SECRET_KEY, first_name) is never emphasis: left as it is.
_MARKDOWN_INLINE = re.compile(r"([\\`*\[\]<>~$|]|(?<![^\W_])_|_(?![^\W_]))")
_MARKDOWN_LINE_START = re.compile(r"^(\s*)([#>+\-=])|^(\s*\d+)([.)])", re.MULTILINE)


def escape_markdown(text: object) -> str:
    """`text` shown as itself where Streamlit renders markdown (st.markdown, st.error,
    st.caption, labels...): the characters that make emphasis, code, links, images,
    HTML, LaTeX, tables and directives are backslash-escaped everywhere, and those that
    start headings, quotes and lists at the start of a line; so a file name, a cell or
    an error body from a server cannot become a link, an image or markup."""
    escaped = _MARKDOWN_INLINE.sub(r"\\\1", str(text))
    return _MARKDOWN_LINE_START.sub(
        lambda m: (m.group(1) or m.group(3) or "") + "\\" + (m.group(2) or m.group(4)), escaped
    )


@functools.lru_cache(maxsize=1)
def time_zones() -> tuple[str, ...]:
    """UTC first, then every IANA zone name in alphabetical order."""
    zones = sorted(
        z for z in zoneinfo.available_timezones() if "/" in z and not z.startswith("Etc/")
    )
    return ("UTC", *zones)


# ---------------------------------------------------------------- the Compose form

CUSTOM_KIND = "custom"
KIND_DETAILS: dict[str, list[str]] = {
    ev.PURCHASE: [ev.PURCHASE_KEY, ev.PURCHASE_AMOUNT, ev.PURCHASE_CURRENCY],
    ev.TAG: [ev.TAG_NAME],
    ev.REMOVE_TAG: [ev.TAG_NAME],
}


@dataclass(frozen=True)
class FormProblem:
    """A problem with the form's structure (not the event), and where it belongs."""

    place: str
    message: str
    severity: str = ERROR
    blank: bool = False  # about an input still empty


def pairs_from_frame(frame: pd.DataFrame | None) -> list[tuple[str, str]]:
    """(key, value) pairs from a two-column key/value editor; blank rows dropped."""
    if frame is None or frame.empty:
        return []
    pairs = []
    for key, value in zip(frame.iloc[:, 0], frame.iloc[:, 1], strict=False):
        key_text, value_text = _text(key).strip(), _text(value)
        if key_text or value_text.strip():
            pairs.append((key_text, value_text))
    return pairs


def pairs_frame(pairs: Iterable[tuple[str, str]] = ()) -> pd.DataFrame:
    """A key/value table for a data editor."""
    rows = list(pairs)
    return pd.DataFrame(
        {"key": [k for k, _ in rows], "value": [v for _, v in rows]}, dtype="str"
    )


def compose_event_table(
    event_type: str,
    email: str,
    *,
    fields: Sequence[tuple[str, str]] = (),
    details: Sequence[tuple[str, str]] = (),
    details_json: str = "",
    kind_details: Mapping[str, str] | None = None,
    date: str = "",
    row: int = 1,
) -> tuple[pd.DataFrame, list[FormProblem]]:
    """The one-row event table the form describes, and problems with the form itself.

    `details` are (dotted path, value) pairs; `kind_details` maps full column names
    (`details.tag`) to what the kind-specific inputs hold. Checking the event itself is
    `validate`'s job: this only refuses what cannot become columns (a field without a
    name, a field name with a dot, the same key twice, a path that is both a value and
    an object).
    """
    problems: list[FormProblem] = []
    columns: dict[str, str] = {ev.TYPE: event_type, ev.EMAIL: email, ev.DATE: date}

    seen_fields: set[str] = set()
    for key, value in fields:
        if not key:
            problems.append(FormProblem("fields", f"A field has the value '{value[:40]}' but "
                                                  "no name: name it, or delete the row."))
            continue
        if "." in key:
            problems.append(FormProblem(
                "fields", f"Field names cannot contain dots ('{key}'): fields are flat. "
                f"Use {snake_case(key)}, or put it under details."))
            continue
        if key in seen_fields:
            problems.append(FormProblem("fields", f"The field '{key}' is there twice: keep one."))
            continue
        seen_fields.add(key)
        columns[ev.FIELDS_PREFIX + key] = value

    kind_columns = {c: v for c, v in (kind_details or {}).items()}
    paths: dict[str, str] = dict(kind_columns)
    for key, value in details:
        if not key:
            problems.append(FormProblem("details", f"A detail has the value '{value[:40]}' but "
                                                   "no key: name it, or delete the row."))
            continue
        if any(part.strip() == "" for part in key.split(".")):
            problems.append(FormProblem(
                "details", f"The detail key '{key}' has an empty part: write keys like "
                "plan or order.id (dots make nested data)."))
            continue
        column = ev.DETAILS_PREFIX + key
        if column in kind_columns:
            problems.append(FormProblem(
                "details", f"'{key}' is already set by the input above: remove it here."))
            continue
        if column in paths:
            problems.append(FormProblem("details", f"The detail '{key}' is there twice: "
                                                   "keep one."))
            continue
        paths[column] = value
    ordered = sorted(p for p, v in paths.items() if v.strip())
    for shorter, longer in itertools.pairwise(ordered):
        if longer.startswith(shorter + "."):
            short, long = shorter[len(ev.DETAILS_PREFIX):], longer[len(ev.DETAILS_PREFIX):]
            problems.append(FormProblem(
                "details", f"'{short}' and '{long}' cannot both be set: {short} would be a "
                "value and an object at once. Rename one of them."))
    columns.update(paths)
    if details_json.strip():
        columns[ev.DETAILS] = details_json
    table = pd.DataFrame([columns], index=pd.Index([row], name="row"), dtype="str")
    return table, problems


def place_of(column: str) -> str:
    """The form input a problem about `column` belongs to."""
    if column in (ev.TYPE, ev.EMAIL, ev.DATE):
        return column
    if ev.is_fields_column(column):
        return "fields"
    if column in (ev.PURCHASE_KEY, ev.PURCHASE_AMOUNT, ev.PURCHASE_CURRENCY, ev.TAG_NAME):
        return column
    if column == ev.DETAILS or ev.is_details_column(column):
        return "details"
    return "event"


def problems_by_place(
    validation: Validation,
    form_problems: Iterable[FormProblem] = (),
    *,
    hide_blank: bool = False,
) -> dict[str, list[FormProblem]]:
    """Every problem of a one-row validation and of the form, grouped by input.

    `hide_blank` leaves out problems about inputs that are still empty ("email is
    missing"), so a fresh form is not covered in red before the person typed anything.
    """
    grouped: dict[str, list[FormProblem]] = {}
    found = list(form_problems)
    if validation.empty_rows:  # validate skips an empty row: say what it needs
        found += [FormProblem(ev.TYPE, "Type is missing: choose a type, or name your event.",
                              blank=True),
                  FormProblem(ev.EMAIL, "Email is missing: add the subscriber's address.",
                              blank=True)]
    for item in found:
        if not (hide_blank and item.blank):
            grouped.setdefault(item.place, []).append(item)
    for column, value, severity, message in zip(
        validation.problems["column"], validation.problems["value"],
        validation.problems["severity"], validation.problems["message"], strict=True,
    ):
        if hide_blank and not str(value).strip():
            continue
        place = place_of(str(column))
        grouped.setdefault(place, []).append(
            FormProblem(place, _sentence(str(message)), str(severity))
        )
    return grouped


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")


def has_errors(grouped: Mapping[str, Sequence[FormProblem]]) -> bool:
    return any(p.severity == ERROR for items in grouped.values() for p in items)


def date_text(day: Any, time: Any) -> str:
    """`2024-01-05 13:45:00` from a date and an optional time; "" without a date."""
    if day is None:
        return ""
    text = day.isoformat()
    if time is not None:
        text += " " + time.strftime("%H:%M:%S")
    return str(text)


# ---------------------------------------------------------------- the outbox


def outbox_table(rows: Sequence[Mapping[str, str]]) -> pd.DataFrame:
    """The outbox as one event table: entry numbers 1, 2, ... as the index."""
    columns: list[str] = list(ev.CORE_COLUMNS)
    for row in rows:
        columns.extend(c for c in row if c not in columns)
    order = (
        [c for c in columns if c in ev.CORE_COLUMNS]
        + [c for c in columns if ev.is_fields_column(c)]
        + [c for c in columns if ev.is_details_column(c)]
        + [c for c in columns if c == ev.DETAILS]
    )
    frame = pd.DataFrame(
        [{c: str(row.get(c, "")) for c in order} for row in rows],
        columns=order,
        index=pd.RangeIndex(1, len(rows) + 1, name="row"),
        dtype="str",
    )
    return frame


def events_view(events: Sequence[Event], start: int = 1) -> pd.DataFrame:
    """Events as a table people can read: fields and details as compact JSON."""
    def compact(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False) if value else ""

    return pd.DataFrame(
        {
            "type": [e.get("type", "") for e in events],
            "email": [e.get("email", "") for e in events],
            "date": [e.get("date", "") for e in events],
            "fields": [compact(e.get("fields")) for e in events],
            "details": [compact(e.get("details")) for e in events],
        },
        index=pd.RangeIndex(start, start + len(events), name="#"),
    )


# ---------------------------------------------------------------- the column mapping

GOES_TO = ("email", "type", "date", "field", "detail", "details JSON", "tags", "ignore")
GOES_TO_HELP = (
    "email: the subscriber's address. type: the event name. date: when it happened. "
    "field: written to the subscriber's profile (name it in 'name'). detail: event data "
    "(name it in 'name'; dots nest, like value.amount). details JSON: a column holding a "
    "JSON object. tags: a list of tags (vip, newsletter), sent as one $tag event per tag "
    "(choose field to keep it as one text instead). ignore: not sent."
)


def _split_target(target: str) -> tuple[str, str]:
    if target in (ev.EMAIL, ev.TYPE, ev.DATE):
        return target, ""
    if target == ev.DETAILS:
        return "details JSON", ""
    if target == ev.TAGS:
        return "tags", ""
    if ev.is_fields_column(target):
        return "field", target[len(ev.FIELDS_PREFIX):]
    if ev.is_details_column(target):
        return "detail", target[len(ev.DETAILS_PREFIX):]
    return "ignore", ""


def mapping_editor_frame(mapping: ColumnMapping, sheet: pd.DataFrame) -> pd.DataFrame:
    """One row per sheet column: the header, an example value, where it goes, a name."""
    headers = [str(h) for h in sheet.columns]
    examples = []
    for header in headers:
        column = sheet[header].astype("str")
        filled = column[column.str.strip() != ""]
        example = filled.iloc[0] if len(filled) else ""
        examples.append(example if len(example) <= 40 else example[:40] + "...")
    goes, names = [], []
    for header in headers:
        kind, name = _split_target(mapping.columns.get(header, IGNORE))
        goes.append(kind)
        names.append(name)
    return pd.DataFrame(
        {"column": headers, "example": examples, "goes to": goes, "name": names}, dtype="str"
    )


def mapping_from_editor(frame: pd.DataFrame, default_type: str = "") -> ColumnMapping:
    """The mapping an editor frame (see `mapping_editor_frame`) describes.

    A field or detail without a name is named after its column (`First Name` ->
    `first_name`); a name typed with its prefix (`fields.plan`) is accepted as well.
    """
    columns: dict[str, str] = {}
    for header, kind, name in zip(frame["column"], frame["goes to"], frame["name"], strict=True):
        header_text, kind_text, name_text = _text(header), _text(kind), _text(name).strip()
        if kind_text == "field":
            name_text = name_text.removeprefix(ev.FIELDS_PREFIX) or snake_case(header_text)
            columns[header_text] = ev.FIELDS_PREFIX + name_text
        elif kind_text == "detail":
            name_text = name_text.removeprefix(ev.DETAILS_PREFIX) or snake_case(header_text)
            columns[header_text] = ev.DETAILS_PREFIX + name_text
        elif kind_text == "details JSON":
            columns[header_text] = ev.DETAILS
        elif kind_text == "tags":
            columns[header_text] = ev.TAGS
        elif kind_text in (ev.EMAIL, ev.TYPE, ev.DATE):
            columns[header_text] = kind_text
        else:
            columns[header_text] = IGNORE
    return ColumnMapping(columns=columns, default_type=default_type.strip())


# ---------------------------------------------------------------- money in the app

AMOUNT_UNITS = {
    MAJOR: "Currency units (49.99)",
    MINOR: "Cents, or the currency's minor units (4999)",
}


def suggest_amounts(amounts: pd.Series) -> Unit:
    """Currency units when the amount column holds decimals (32.00), else minor units."""
    return MAJOR if has_decimals(amounts) else MINOR


def amount_both_ways(amount: str | None, currency: str, unit: Unit) -> str | None:
    """`49.99 USD = 4999 cents`, for a typed amount in either unit; None when the amount
    or currency cannot be read (validation says why)."""
    text = (amount or "").strip()
    if not text:
        return None
    try:
        minor = minor_units(text, currency, unit=unit)
    except MoneyError:
        return None
    code = currency.strip().upper()
    places = exponent_of(code)
    name = "cents" if places == 2 else f"minor units ({code} has {places} decimals)"
    return f"{format_major(minor, code)} {code} = {minor} {name}"


def headers_key(headers: Iterable[Any]) -> tuple[str, ...]:
    """What a remembered mapping is keyed by: the sheet's headers, in order."""
    return tuple(str(h) for h in headers)


# ---------------------------------------------------------------- fixing rows in place

Edits = dict[int, dict[str, str]]


def apply_edits(sheet: pd.DataFrame, edits: Mapping[int, Mapping[str, str]]) -> pd.DataFrame:
    """The sheet with the person's fixes typed over it; the original is left as it was."""
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


def merge_edits(
    edits: Mapping[int, Mapping[str, str]],
    shown: pd.DataFrame,
    edited_rows: Mapping[Any, Mapping[str, Any]],
    original: pd.DataFrame,
) -> Edits:
    """Fold a data editor's `edited_rows` (positions in `shown`) into `edits`.

    `shown` is the page the editor displayed, indexed by spreadsheet row. A value set
    back to the original cell removes the edit, so `edits` only holds real changes.
    """
    merged: Edits = {int(r): dict(c) for r, c in edits.items()}
    for position, changes in edited_rows.items():
        index = int(position)
        if not 0 <= index < len(shown):
            continue
        row = int(shown.index[index])
        for column, value in changes.items():
            if column not in original.columns:
                continue
            text = _text(value)
            if text == original.at[row, column]:
                merged.get(row, {}).pop(column, None)
            else:
                merged.setdefault(row, {})[column] = text
        if row in merged and not merged[row]:
            del merged[row]
    return merged


def rows_to_fix(validation: Validation, *, include_warnings: bool = False) -> list[int]:
    """The spreadsheet rows with errors (and warnings when asked), in order."""
    rows = set(validation.error_rows)
    if include_warnings:
        rows |= set(validation.warning_rows)
    return sorted(rows)


def fix_frame(
    sheet: pd.DataFrame, rows: Sequence[int], problems: pd.DataFrame, columns: Sequence[str]
) -> pd.DataFrame:
    """The rows to fix as the person's own columns, with their problems in front."""
    frame = sheet.loc[list(rows), list(columns)].copy()
    selected = problems[problems["row"].isin(rows)]
    notes = (
        selected.assign(note=selected["severity"].str.upper() + ": " + selected["message"])
        .groupby("row")["note"]
        .agg(" | ".join)
    )
    frame.insert(0, "problems", notes.reindex(frame.index).fillna("").to_numpy())
    return frame


def problems_view(problems: pd.DataFrame, *, errors_only: bool = False) -> pd.DataFrame:
    """The problems table, errors only when asked."""
    if errors_only:
        return problems[problems["severity"] == ERROR]
    return problems


# ---------------------------------------------------------------- sending

WAITING = "waiting"
VIEW_COLUMNS = ["batch", "rows", "events", "results", "failed", "state", "message"]


@dataclass(eq=False)
class SendJob:
    """The batches of one send and what happened to each, across reruns and retries.

    `pending` lists the batches still to send in the run in progress; a page that is
    rerun in the middle of a run sends only those, so nothing goes twice. `lock` is
    held while a run sends, so two script runs never send the same batch at once.
    `run_id` is the job's run in the send ledger (its first send and every retry);
    `held_back` lists events of the source left out because the ledger showed this site
    received them before; `no_retry` are batches "retry" must not resend (their events
    were accepted by another run).
    """

    source: str
    batches: list[Batch]
    results: dict[int, BatchResult] = field(default_factory=dict)
    pending: list[int] = field(default_factory=list)
    credentials: Credentials | None = field(default=None, repr=False)
    target: str = ""
    stopped: str = ""
    runs: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    run_id: str | None = None
    held_back: list[HeldBack] = field(default_factory=list)
    no_retry: set[int] = field(default_factory=set)
    # The ledger state of batches planned by a resume, for those without a result here.
    ledger_states: dict[int, str] = field(default_factory=dict)

    def expected_state(self, number: int) -> str:
        """The state the ledger should have for a batch, as far as this job knows."""
        result = self.results.get(number)
        return result.state if result is not None else self.ledger_states.get(number, WAITING)

    @classmethod
    def plan(cls, table: pd.DataFrame, *, source: str, size: int = MAX_BATCH_SIZE) -> SendJob:
        """Batches for the valid rows of an event table, remembering their row numbers."""
        events = build_events(table)
        batches = plan_batches(events, [int(r) for r in table.index], size)
        return cls(source=source, batches=batches)

    @property
    def events(self) -> int:
        return sum(b.size for b in self.batches)

    @property
    def rows(self) -> set[int]:
        """Every row this job planned to send or held back, whatever became of it."""
        return {row for b in self.batches for row in b.rows} | {
            row for group in self.held_back for row in group.rows
        }

    @property
    def held_back_events(self) -> int:
        return sum(group.events for group in self.held_back)

    @property
    def sending(self) -> bool:
        return bool(self.pending)

    @property
    def done(self) -> bool:
        return bool(self.results) and not self.pending

    def batch(self, number: int) -> Batch:
        if 1 <= number <= len(self.batches) and self.batches[number - 1].number == number:
            return self.batches[number - 1]
        for batch in self.batches:  # a resumed run whose numbers have gaps
            if batch.number == number:
                return batch
        raise KeyError(f"no batch {number}")

    @property
    def numbers(self) -> list[int]:
        return [b.number for b in self.batches]

    @property
    def of(self) -> int:
        """How many batches the run has (the highest number: a resume may skip some)."""
        return max(self.numbers, default=0)

    def begin(self, numbers: Sequence[int], credentials: Credentials, target: str) -> None:
        """Start a run over the batches `numbers` (all of them for the first run)."""
        if self.pending:
            return  # a run is in progress: never start a second one
        known = set(self.numbers)
        self.pending = [n for n in numbers if n in known]
        self.credentials = credentials
        self.target = target
        self.stopped = ""
        self.runs += 1

    def record(self, result: BatchResult) -> None:
        """Keep a batch's outcome; call it before anything that may interrupt the run."""
        self.results[result.number] = result
        if result.number in self.pending:
            self.pending.remove(result.number)
        if result.state == REJECTED and result.status in STOP_STATUSES:
            self.stopped = result.message  # every later batch would fail the same way

    def skip_pending(self) -> None:
        """Mark what is left of a stopped run as not sent."""
        for number in list(self.pending):
            self.record(BatchResult(self.batch(number), self.of, SKIPPED,
                                    message=f"not sent: the run stopped. {self.stopped}"))

    def retryable(self, *, include_unknown: bool = False) -> list[int]:
        """Batches worth sending again: nothing of them was recorded; with
        `include_unknown`, also those Bento may have recorded (unknown, partial)."""
        states = (*RETRYABLE_STATES, UNKNOWN, PARTIAL) if include_unknown else RETRYABLE_STATES
        return [n for n, r in sorted(self.results.items())
                if r.state in states and n not in self.no_retry]

    def unknown(self) -> list[int]:
        """Batches Bento may have recorded, in full or in part: unknown and partial ones."""
        return [n for n, r in sorted(self.results.items()) if r.state in (UNKNOWN, PARTIAL)]

    def report(self) -> SendReport:
        """The latest outcome of every batch; batches never sent count as not sent."""
        results = [
            self.results.get(b.number)
            or BatchResult(b, self.of, SKIPPED, message="not sent yet")
            for b in self.batches
        ]
        return SendReport(results=results, stopped=self.stopped, run_id=self.run_id,
                          held_back=list(self.held_back))

    @property
    def totals(self) -> dict[str, int]:
        return self.report().totals

    def table(self, *, full: bool = False) -> pd.DataFrame:
        """One row per batch: its rows, events, Bento's counts, state and message."""
        rows = []
        for batch in self.batches:
            result = self.results.get(batch.number)
            if result is None:
                rows.append({
                    "batch": batch.number, "rows": describe_rows(batch.rows),
                    "events": batch.size, "results": None, "failed": None,
                    "state": "sending" if batch.number in self.pending[:1] else WAITING,
                    "status": None, "attempts": 0, "seconds": 0.0,
                    "message": "",
                })
            else:
                rows.append(result.as_row())
        frame = pd.DataFrame(rows, columns=REPORT_COLUMNS)
        for column in ("results", "failed", "status"):
            frame[column] = frame[column].astype("Int64")
        return frame if full else frame[VIEW_COLUMNS]

    def summary(self) -> str:
        """One sentence on how the send went, for the top of the report."""
        totals = self.totals
        parts = [f"{totals['recorded']:,} of {count(totals['events'], 'event')} recorded"]
        if totals["failed"]:
            parts.append(f"{totals['failed']:,} refused by Bento")
        if totals["unknown"]:
            parts.append(f"{totals['unknown']:,} unknown (Bento may have recorded them)")
        held = self.held_back_events
        if totals["not sent"] - held:
            parts.append(f"{totals['not sent'] - held:,} not sent")
        if held:
            parts.append(f"{held:,} held back (sent to this site before)")
        return ", ".join(parts) + "."

    @classmethod
    def for_resume(
        cls, plan: ResumePlan, *, source: str, credentials: Credentials, target: str
    ) -> SendJob:
        """A job over a whole ledger run: its earlier outcomes kept, the plan's batches
        pending, sent in the same run (`run_id`)."""
        earlier = {r.number: r for r in plan.earlier}
        batches = sorted([*plan.batches, *(r.batch for r in plan.earlier)],
                         key=lambda b: b.number)
        sending = {b.number for b in plan.batches}
        states = {b.number: UNKNOWN if b.state == "sending" else b.state
                  for b in plan.run.batches if b.number in sending}
        job = cls(source=source, batches=batches, results=earlier, run_id=plan.run.id,
                  no_retry=set(plan.accepted_elsewhere), ledger_states=states)
        job.begin([b.number for b in plan.batches], credentials, target)
        return job


def live_warning(events: int, target: str) -> str:
    """The confirmation people tick before sending to Bento itself."""
    these = "this event goes" if events == 1 else f"these {events:,} events go"
    return (
        f"I understand that {these} to {target} for real: they can start automations "
        "and send emails to real people."
    )



# ---------------------------------------------------------------- the send ledger


def ledger_version(path: str | os.PathLike[str]) -> tuple[int, ...]:
    """Changes whenever the ledger file is written (its and its WAL's mtime and size):
    what a page keys a remembered duplicate check by. Not a safety check: the send
    itself always asks the ledger again."""
    parts: list[int] = []
    for suffix in ("", "-wal"):
        try:
            stat = os.stat(f"{os.fspath(path)}{suffix}")
        except OSError:
            parts += [0, 0]
        else:
            parts += [stat.st_mtime_ns, stat.st_size]
    return tuple(parts)


@dataclass(frozen=True)
class Origin:
    """Where a send's rows came from, stored with its run in the send ledger."""

    name: str  # the file's name, or "Compose outbox"
    file_hash: str | None = None  # SHA-256 of the uploaded bytes (`ledger.file_hash`)
    options: Mapping[str, Any] = field(default_factory=dict)  # JSON-able: see source_options


def upload_options(
    mapping: ColumnMapping,
    *,
    sheet: str | None,
    timezone: str,
    date_order: str | None,
    edits: Mapping[int, Mapping[str, str]] | None = None,
    amounts: Unit = MINOR,
) -> dict[str, Any]:
    """What the Upload page stores with a run, so the file can be read again the same way
    (the send panel adds the batch size and the duplicate-guard choices).

    Cells fixed in the app (`edits`) are part of it: without them the fixed rows could
    not be rebuilt. They are the few cells the person typed, not the file.
    """
    options = source_options(mapping, sheet=sheet, timezone=timezone, date_order=date_order,
                             skip_invalid=True, origin="app upload", amounts=amounts)
    if edits:
        options["edits"] = {str(row): dict(cells) for row, cells in sorted(edits.items())}
    return options


def rebuild_valid(run: RunRecord, data: bytes) -> pd.DataFrame:
    """The valid event table of a run's file, read again with the run's options and the
    cells fixed in the app. LedgerError when the file is not the one the run sent, or
    cannot be read the way it was."""
    read_source(run, data)  # refuses a changed file, with the reason
    options = run.options
    stored = options.get("mapping")
    if not isinstance(stored, Mapping) or not isinstance(stored.get("columns"), Mapping):
        raise LedgerError(
            f"Run {run.id} does not say how its file was mapped, so it cannot be rebuilt "
            "from the file: send the file again as a new send (events this site already "
            "accepted are skipped)."
        )
    mapping = ColumnMapping(
        columns={str(k): str(v) for k, v in stored["columns"].items()},
        default_type=str(stored.get("default_type") or ""),
    )
    raw_edits = options.get("edits") or {}
    edits = {int(row): {str(k): str(v) for k, v in cells.items()}
             for row, cells in raw_edits.items()} if isinstance(raw_edits, Mapping) else {}
    try:
        sheet = read_table(io.BytesIO(data), sheet=options.get("sheet"),
                           name=run.source_name or None)
        table = apply_mapping(apply_edits(sheet, edits), mapping)
        validation = validate(table, timezone=str(options.get("timezone") or "UTC"),
                              date_order=options.get("date_order"),
                              amounts=stored_amounts(options))
    except ReadError as exc:
        raise LedgerError(f"Cannot resume run {run.id}: {exc}") from exc
    return validation.valid


def guard_mask(check: DuplicateCheck, *, send_again: bool, resend_unknown: bool) -> list[bool]:
    """Per event: send it? Events the site accepted before only with `send_again`, events
    of earlier unknown or partial batches only with `resend_unknown`."""
    mask = [True] * check.events
    if not send_again:
        for i in check.accepted:
            mask[i] = False
    if not resend_unknown:
        for i in check.uncertain:
            mask[i] = False
    return mask


def held_groups(
    check: DuplicateCheck, rows: Sequence[int], *, send_again: bool, resend_unknown: bool
) -> list[HeldBack]:
    """The groups of events `guard_mask` leaves out, with their spreadsheet rows."""
    return [
        group for group in check.held_back(rows)
        if not (send_again if group.reason == SENT_BEFORE else resend_unknown)
    ]


def held_back_note(group: HeldBack, *, sandbox: bool = False) -> str:
    """What the duplicate guard holds back, in a sentence (plain text: escape for markdown)."""
    if group.reason == SENT_BEFORE:
        return (f"{group.message[:1].upper()}{group.message[1:]}. They are skipped: "
                "sending them again would record them twice.")
    rows = group.row_ranges
    if len(rows) > 120:
        rows = rows[:117].rsplit(",", 1)[0] + ", ..."
    where = "the sandbox" if sandbox else "Bento"
    return (f"{group.message[:1].upper()}{group.message[1:]} (rows {rows}). They are not "
            f"sent unless you say so: check {where} first.")


# ---------------------------------------------------------------- the send history

RUN_STATES = {
    "planned": "Planned: nothing sent yet",
    "running": "Being sent right now",
    "interrupted": "Interrupted: some batches were never answered or never sent",
    "stopped": "Stopped early: Bento refused the keys or the address",
    "finished": "Finished: every batch has an answer",
}
HISTORY_RUN_COLUMNS = [
    "id", "created_at", "state", "where", "source_name", "events", "recorded", "failed",
    "unknown", "not sent", "batches",
]  # fmt: skip


def run_where(run: RunRecord) -> str:
    """Where a run went, in words: 'the sandbox', 'Bento site abc', 'site abc at URL'."""
    if run.target == "sandbox":
        return "the sandbox"
    where = "" if run.target == "bento" else f" at {run.base_url}"
    return f"Bento site {run.site_uuid}{where}"


def runs_frame(runs: Sequence[RunRecord]) -> pd.DataFrame:
    """One row per run, as the history page and its CSV show them."""
    rows = [
        {"id": run.id, "created_at": run.created_at, "state": run.state,
         "where": run_where(run), "source_name": run.source_name, **run.totals,
         "batches": len(run.batches)}
        for run in runs
    ]
    return pd.DataFrame(rows, columns=HISTORY_RUN_COLUMNS)


def batches_frame(run: RunRecord) -> pd.DataFrame:
    """One row per batch of a run: rows, events, Bento's counts, state, attempts, ..."""
    columns = ["batch", "rows", "events", "results", "failed", "state", "status", "attempts",
               "sends", "started_at", "finished_at", "message"]
    frame = pd.DataFrame([b.as_dict() for b in run.batches], columns=columns)
    for column in ("results", "failed", "status"):
        frame[column] = frame[column].astype("Int64")
    return frame


def numbers_text(numbers: Sequence[int]) -> str:
    """`batch 3` or `batches 1-2, 5`."""
    if len(numbers) == 1:
        return f"batch {numbers[0]}"
    return f"batches {describe_rows(numbers)}"


def uncertain_note(run: RunRecord, number: int) -> str:
    """Why a batch may have been recorded, in a sentence (plain text)."""
    record = next(b for b in run.batches if b.number == number)
    what = f"Batch {number} (rows {record.rows}, {count(record.events, 'event')})"
    if record.state == PARTIAL:
        return (f"{what}: Bento recorded {record.results or 0:,} and refused "
                f"{record.failed or 0:,} without saying which.")
    return f"{what} got no answer: Bento may have recorded it, in part or in full."
