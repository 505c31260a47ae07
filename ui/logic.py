"""The app's logic that needs no Streamlit, so it can be tested as plain Python.

- the Compose form: turn form values into a one-row event table (`compose_event_table`)
  and say which input each problem belongs to (`place_of`);
- the outbox: the events added so far as an event table and as a readable table;
- the Upload page: the column-mapping editor's rows, fixes typed over the original
  sheet (operations in `bento_ui.fixes`), the rows still to fix, the problems in the
  person's own headers and the files given back in their layout, paging long tables;
- sending: a `SendJob` remembers, across reruns, the run the send engine started and
  each batch's latest outcome, so a rerun (a double click, a widget change) resumes
  the run instead of sending twice, and "retry" resends only what Bento did not record;
  what goes is always the engine's (`bento_ui.sending`) to decide;
- the send history: how a run is named and described;
- showing people's data safely: `escape_markdown` for text that goes into markdown,
  `csv_bytes` (formula-safe) for every download.

The pages lay out widgets and call these functions; this module never imports streamlit,
and the library never imports it: it is the app's vocabulary, on top of `bento_ui`.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import os
import re
import threading
import zoneinfo
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

# At start, not at the first upload: pandas' Styler (and jinja2) take a few tenths of a
# second to import, and the fix grid's marks need it on every upload with problems.
from pandas.io.formats.style import Styler

from bento_ui import events as ev
from bento_ui.batching import Batch, describe_rows
from bento_ui.config import Credentials
from bento_ui.export import safe_csv
from bento_ui.guard import HeldBack, Resend
from bento_ui.ledger import RunRecord
from bento_ui.mapping import GOES_TO as GOES_TO  # the Upload page's editor offers these
from bento_ui.mapping import (
    IGNORE,
    PROBLEMS_COLUMN,
    ColumnMapping,
    join_target,
    snake_case,
    split_target,
)
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
from bento_ui.outcomes import NOT_RECORDED, BatchState
from bento_ui.payloads import Event, build_events
from bento_ui.resume import source_options
from bento_ui.sending import REPORT_COLUMNS, BatchResult, SendPlan, SendReport
from bento_ui.validation import ERROR, WARNING, Validation

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


def row_preview(validation: Validation, row: int, rows: Sequence[int]) -> tuple[list[Event], str]:
    """The events spreadsheet row `row` becomes, built as the send builds them, or why it
    has none (`rows`: the sheet's row numbers). Plain text: escape it for markdown."""
    valid = validation.valid
    events = build_events(valid[valid.index == row])
    if events:
        return events, ""
    if row in validation.error_rows:
        return [], f"Row {row:,} has errors, so it is not sent: see the problems above."
    if row in validation.empty_rows:
        return [], f"Row {row:,} is empty, so it is skipped."
    if row in set(rows):
        return [], f"Row {row:,} is not sent."
    first, last = (min(rows), max(rows)) if len(rows) else (2, 1)
    return [], f"There is no row {row:,} in this sheet: its rows are {first:,} to {last:,}."


# ---------------------------------------------------------------- the column mapping

# The editor's "goes to" cells read as a choice (a grid cell shows no arrow of its own
# until clicked): each option carries the mark, and reading the editor drops it.
CHOICE_MARK = " ▼"
GOES_TO_SHOWN = tuple(kind + CHOICE_MARK for kind in GOES_TO)


def goes_to_kind(shown: str) -> str:
    """"email ▼" -> "email" (a value typed without the mark is taken as it is)."""
    return shown.strip().removesuffix(CHOICE_MARK.strip()).strip()


GOES_TO_HELP = (
    "email: the subscriber's address. type: the event name. date: when it happened. "
    "field: written to the subscriber's profile (name it in 'name'). detail: event data "
    "(name it in 'name'; dots nest, like value.amount). details JSON: a column holding a "
    "JSON object. tags: a list of tags (vip, newsletter), sent as one $tag event per tag "
    "(choose field to keep it as one text instead). ignore: not sent."
)


def mapping_editor_frame(mapping: ColumnMapping, sheet: pd.DataFrame) -> pd.DataFrame:
    """One row per sheet column: the header, an example value, where it goes, a name."""
    headers = [str(h) for h in sheet.columns]
    examples = []
    for position in range(len(headers)):
        example = first_filled(sheet.iloc[:, position])
        examples.append(example if len(example) <= 40 else example[:40] + "...")
    goes, names = [], []
    for header in headers:
        kind, name = split_target(mapping.columns.get(header, IGNORE))
        goes.append(kind + CHOICE_MARK)
        names.append(name)
    unplaced = set(mapping.unplaced)
    notes = [NOT_RECOGNISED if h in unplaced else "" for h in headers]
    return pd.DataFrame(
        {"column": headers, "example": examples, "goes to": goes, "name": names,
         "note": notes}, dtype="str",
    )


def first_filled(column: pd.Series, head: int = 100) -> str:
    """The first cell of `column` that is not blank, as text ("" if every one is): looked
    for in the first `head` rows, then in ten times as many, and so on (the mapping
    editor shows one per column: no pass over a 100k-row column for it)."""
    for part in growing_parts(column, head):
        text = part.astype("str")
        filled = text[text.str.strip() != ""]
        if len(filled):
            return str(filled.iloc[0])
    return ""


def growing_parts(column: pd.Series, head: int) -> Iterator[pd.Series]:
    """`column` in consecutive parts of `head` rows, then ten times as many, and so on:
    a search that usually ends in the first part never reads the whole column, and one
    that does not costs about one pass more than reading it at once."""
    start, size = 0, head
    while start < len(column):
        yield column.iloc[start : start + size]
        start, size = start + size, size * 10


NOT_RECOGNISED = "not recognised"  # the note on a column the tool could not place
EDITOR_ROW_PX = 35  # Streamlit's data grid row height, header included
EDITOR_MAX_ROWS = 30  # up to this many columns, the mapping editor shows them all


def editor_height(rows: int) -> int:
    """The mapping editor's height: every row without an inner scroll, up to 30."""
    return (min(rows, EDITOR_MAX_ROWS) + 1) * EDITOR_ROW_PX + 3


def first_rows(sheet: pd.DataFrame, rows: int = 8) -> pd.DataFrame:
    """The top of the sheet as the spreadsheet shows it: the row read as the header,
    then the rows below, numbered as the file numbers them, columns by letter."""
    top = int(sheet.index[0]) - 1 if len(sheet) else 1
    letters = [column_letter(i) for i in range(len(sheet.columns))]
    # A blank header cell was named after its letter: show it blank, as the file has it.
    header = ["" if str(h) == f"Column {letter}" else str(h)
              for h, letter in zip(sheet.columns, letters, strict=True)]
    body = [header,
            *([str(v) for v in r] for r in sheet.head(rows - 1).itertuples(index=False))]
    index = pd.Index([top, *(int(r) for r in sheet.index[: rows - 1])], name="row")
    return pd.DataFrame(body, columns=letters, index=index, dtype="str")


def column_letter(index: int) -> str:
    letters, index = "", index + 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def mapping_from_editor(frame: pd.DataFrame, default_type: str = "") -> ColumnMapping:
    """The mapping an editor frame (see `mapping_editor_frame`) describes.

    A field or detail without a name is named after its column (`First Name` ->
    `first_name`); a name typed with its prefix (`fields.plan`) is accepted as well.
    """
    columns: dict[str, str] = {}
    for header, kind, name in zip(frame["column"], frame["goes to"], frame["name"], strict=True):
        columns[_text(header)] = join_target(_text(header), goes_to_kind(_text(kind)),
                                             _text(name))
    unplaced = ([_text(h) for h, note in zip(frame["column"], frame["note"], strict=True)
                 if _text(note)] if "note" in frame else [])  # fmt: skip
    return ColumnMapping(columns=columns, default_type=default_type.strip(), unplaced=unplaced)


# ---------------------------------------------------------------- money in the app

AMOUNT_UNITS = {
    MAJOR: "Currency units (49.99)",
    MINOR: "Cents, or the currency's minor units (4999)",
}


def suggest_amounts(amounts: pd.Series, head: int = 100) -> Unit:
    """Currency units when the amount column holds decimals (32.00), else minor units.
    Looked for in growing parts (see `growing_parts`): the first amounts usually say."""
    return MAJOR if any(has_decimals(part) for part in growing_parts(amounts, head)) else MINOR


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


# Problems as the person sees them: their own headers, a kind to filter by, and files
# in their own layout that they can fix in their spreadsheet and upload again.

_QUOTED = re.compile(r" \(?'.*?'\)?(?=[ :,.]|$)")


def problem_kind(message: str) -> str:
    """What a problem is, without the cell's value: `email 'x@' has no domain: use ...`
    -> `email has no domain`; every row with the same kind of problem shares it."""
    head = _QUOTED.sub("", str(message)).split(":", 1)[0].strip()
    return head or str(message)


def header_of(mapping: ColumnMapping) -> dict[str, str]:
    """Event column (`email`, `fields.first_name`) -> the person's header for it."""
    return {t: h for h, t in mapping.columns.items() if t != IGNORE}


def person_problems(problems: pd.DataFrame, mapping: ColumnMapping) -> pd.DataFrame:
    """The problems table with the person's headers in `column` and a `kind` column."""
    headers = header_of(mapping)
    out = problems.copy()
    out["column"] = [headers.get(str(c), str(c)) for c in problems["column"]]
    out["kind"] = [problem_kind(m) for m in problems["message"]]
    return out


def filter_problems(problems: pd.DataFrame, *, column: str | None = None,
                    kind: str | None = None, errors_only: bool = False) -> pd.DataFrame:
    """The problems of one column and/or one kind (None: all)."""
    keep = pd.Series(True, index=problems.index)
    if errors_only:
        keep &= problems["severity"] == ERROR
    if column:
        keep &= problems["column"] == column
    if kind:
        keep &= problems["kind"] == kind
    return problems[keep]


def download_name(uploaded: str, what: str) -> str:
    """`attendees.xlsx`, `problems` -> `attendees-problems.csv`."""
    stem = os.path.splitext(os.path.basename(uploaded))[0].strip() or "upload"
    return f"{stem}-{what}.csv"


def columns_with_problems_first(columns: Sequence[str], problems: pd.DataFrame) -> list[str]:
    """`columns`, those named in `problems` (person's headers) first, in sheet order."""
    bad = set(problems["column"])
    return [c for c in columns if c in bad] + [c for c in columns if c not in bad]


MARK = "\u26a0 "  # a marker column's header: "⚠ Email Address"
_MARK_STYLE = {ERROR: "background-color: #fde7e7; color: #a61b1b",
               WARNING: "background-color: #fff4d6; color: #7a5200"}


def mark_bad_cells(frame: pd.DataFrame, problems: pd.DataFrame) -> tuple[pd.DataFrame, dict[
        str, pd.Series]]:
    """`frame` (a page of the fix grid) with a read-only marker column in front of each
    column that has a problem on the page: the kind of problem on the row of each bad
    cell, empty elsewhere. Returns the frame and, per marker column, each row's severity
    (for `marked`); the full notes in `problems` move to the end. `problems`: the
    person's (see `person_problems`)."""
    page = problems[problems["row"].isin(frame.index)]
    # A page has a few dozen problems: plain Python, not a groupby per column (which
    # costs a tenth of a second on every rerun).
    kinds: dict[Any, dict[int, list[str]]] = {}
    worst: dict[Any, dict[int, str]] = {}
    for row, column, kind, severity in zip(page["row"].tolist(), page["column"].tolist(),
                                           page["kind"].tolist(), page["severity"].tolist(),
                                           strict=True):
        kinds.setdefault(column, {}).setdefault(row, []).append(str(kind))
        cell = worst.setdefault(column, {})
        cell[row] = ERROR if severity == ERROR or cell.get(row) == ERROR else WARNING
    out = frame.copy()
    severities: dict[str, pd.Series] = {}
    rows = [int(r) for r in out.index]
    for header in [c for c in frame.columns if c in kinds]:
        name = MARK + str(header)
        out.insert(list(out.columns).index(header), name,
                   ["; ".join(kinds[header].get(r, ())) for r in rows])
        severities[name] = pd.Series([worst[header].get(r) for r in rows], index=out.index,
                                     dtype="object")
    if PROBLEMS_COLUMN in out.columns and severities:  # the marks say where: notes go last
        out = out[[c for c in out.columns if c != PROBLEMS_COLUMN] + [PROBLEMS_COLUMN]]
    return out, severities


def marked(frame: pd.DataFrame, severities: Mapping[str, pd.Series]) -> Styler:
    """A Styler that paints the marker cells (errors red, warnings amber); a data editor
    shows the styles of its read-only columns."""
    def paint(column: pd.Series) -> list[str]:
        found = severities[str(column.name)]
        return [_MARK_STYLE.get(str(found.get(row)), "") for row in column.index]

    return Styler(frame).apply(paint, subset=list(severities))


def _notes(problems: pd.DataFrame) -> pd.Series:
    errors = problems[problems["severity"] == ERROR]
    return (errors["column"].astype("str") + ": " + errors["message"].astype("str")
            ).groupby(errors["row"]).agg(" | ".join)


def rows_to_fix_file(fixed: pd.DataFrame, problems: pd.DataFrame,
                     folded: Mapping[int, int] | None = None) -> pd.DataFrame:
    """The rows with errors in the person's layout (their headers, in their order, their
    fixes applied) plus a `problems` column; upload it again once fixed (the app and
    the CLI ignore that column). `problems`: the person's (see `person_problems`).
    `folded` (`line_items.continuations`): an order's line-item rows go with it."""
    notes = _notes(problems)
    out = fixed.loc[_with_line_items(fixed, set(notes.index), folded)].copy()
    out[PROBLEMS_COLUMN] = notes.reindex(out.index).fillna("").to_numpy()
    return out


def ready_rows_file(fixed: pd.DataFrame, validation: Validation,
                    folded: Mapping[int, int] | None = None) -> pd.DataFrame:
    """The rows that would be sent, in the person's layout, their fixes applied (an
    order with the rows of its line items, `folded`)."""
    return fixed.loc[_with_line_items(fixed, {int(r) for r in validation.valid.index}, folded)]


def failed_rows_file(fixed: pd.DataFrame, failures: pd.DataFrame,
                     folded: Mapping[int, int] | None = None) -> pd.DataFrame:
    """After a send, the rows Bento refused, in the person's layout, with Bento's reasons
    in a `problems` column (`failures`: a report's `failures_table`)."""
    if failures.empty:
        return fixed.iloc[0:0].assign(**{PROBLEMS_COLUMN: ""})
    reasons = failures.assign(note="Bento: " + failures["error"].astype("str")).groupby(
        "row")["note"].agg(" | ".join)
    out = fixed.loc[_with_line_items(fixed, set(reasons.index), folded)].copy()
    out[PROBLEMS_COLUMN] = reasons.reindex(out.index).fillna("").to_numpy()
    return out


def _with_line_items(fixed: pd.DataFrame, rows: set[int],
                     folded: Mapping[int, int] | None) -> list[int]:
    """`rows` in the sheet's order, each order with the rows that continue it (its line
    items: without them, the file uploaded again would lose them)."""
    if folded:
        rows = rows | {row for row, first in folded.items() if first in rows}
    return [r for r in fixed.index if r in rows]


# ---------------------------------------------------------------- sending

VIEW_COLUMNS = ["batch", "rows", "events", "results", "failed", "state", "message"]


@dataclass(eq=False)
class SendJob:
    """One send of a page, across reruns and retries: what the page shows of it, and
    what to ask the send engine next.

    The engine decides what goes (`bento_ui.sending`); the job only remembers, between
    script runs, the run it started (`run_id`), the latest outcome of each batch, and
    what the person asked for next. `plan` is the first send, until it starts; after
    that every continuation and retry is a resume of the same run, planned from the
    ledger as it is then, so a batch that has an answer is never sent again by a rerun.
    `lock` is held while a script run sends, so two never send at once.
    """

    source: str
    table: pd.DataFrame = field(repr=False)  # the valid rows the run's events come from
    plan: SendPlan | None = field(default=None, repr=False)
    credentials: Credentials | None = field(default=None, repr=False)
    target: str = ""
    run_id: str | None = None
    batches: dict[int, Batch] = field(default_factory=dict)
    results: dict[int, BatchResult] = field(default_factory=dict)
    held_back: list[HeldBack] = field(default_factory=list)
    stopped: str = ""
    sending: bool = False
    resend: Resend = field(default_factory=Resend)  # for the next continuation or retry
    continuing: bool = True  # the next send only finishes what has no answer yet
    rate: float | None = None  # requests a minute the person chose (None: the default)
    # A canary: the first few events of a live send, sent alone so the person sees
    # Bento's answer before the rest; `rest_stopped` once they chose not to send the rest.
    canary: bool = False
    rest_stopped: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def start(cls, plan: SendPlan, *, source: str, table: pd.DataFrame, target: str) -> SendJob:
        """A job that sends `plan` at the next script run."""
        job = cls(source=source, table=table, plan=plan, credentials=plan.credentials,
                  target=target, held_back=list(plan.held_back), sending=True,
                  resend=plan.resend, run_id=plan.run_id)  # fmt: skip
        job.batches = {b.number: b for b in plan.batches}
        for result in plan.earlier:
            job.batches[result.number] = result.batch
            job.results[result.number] = result
        return job

    def record(self, result: BatchResult) -> None:
        """Keep a batch's outcome; call it before anything that may interrupt the run."""
        self.batches[result.number] = result.batch
        self.results[result.number] = result

    def finish(self, report: SendReport) -> None:
        for result in report.results:
            self.record(result)
        self.held_back = report.held_back or self.held_back
        self.stopped = report.stopped
        self.sending = False
        self.plan = None

    def retry(self, *, include_unknown: bool) -> None:
        """Ask for the batches Bento recorded nothing of (and with `include_unknown`, those
        it may have recorded) to be sent again, in the same run, at the next script run."""
        self.resend = Resend(send_again=self.resend.send_again, resend_unknown=include_unknown)
        self.continuing = False
        self.stopped = ""
        self.sending = True

    @property
    def pending(self) -> list[int]:
        """Batches planned but without an answer yet."""
        return [n for n in sorted(self.batches) if n not in self.results]

    @property
    def events(self) -> int:
        return sum(b.size for b in self.batches.values())

    @property
    def rows(self) -> set[int]:
        """Every row this job planned to send or held back, whatever became of it."""
        rows = {row for b in self.batches.values() for row in b.rows}
        return rows | {row for group in self.held_back for row in group.rows}

    @property
    def refused_rows(self) -> set[int]:
        """Rows with an event Bento refused by name: it was not recorded."""
        return {f.row for r in self.results.values() for f in r.failures}

    @property
    def settled_rows(self) -> set[int]:
        """The rows a later send of the same source leaves alone: all of `rows` but the
        refused ones, which the person may fix and send again."""
        return self.rows - self.refused_rows

    @property
    def held_back_events(self) -> int:
        return sum(group.events for group in self.held_back)

    @property
    def done(self) -> bool:
        return bool(self.results) and not self.sending

    @property
    def of(self) -> int:
        return max(self.batches, default=0)

    def batch(self, number: int) -> Batch:
        return self.batches[number]

    def retryable(self) -> list[int]:
        """Batches Bento recorded nothing of: sending them again is safe."""
        return [n for n, r in sorted(self.results.items())
                if r.state in NOT_RECORDED and not r.outcome.counted
                and "another run" not in r.message]  # fmt: skip

    def unknown(self) -> list[int]:
        """Batches Bento may have recorded, in full or in part."""
        return [n for n, r in sorted(self.results.items()) if r.uncertain_events]

    def report(self) -> SendReport:
        """The latest outcome of every batch; batches never sent count as not sent."""
        results = [
            self.results.get(n) or BatchResult.skipped(self.batches[n], self.of, "not sent yet")
            for n in sorted(self.batches)
        ]
        return SendReport(results=results, stopped=self.stopped, run_id=self.run_id,
                          held_back=list(self.held_back))  # fmt: skip

    @property
    def totals(self) -> dict[str, int]:
        return self.report().totals

    def table_view(self, *, full: bool = False) -> pd.DataFrame:
        """One row per batch: its rows, events, Bento's counts, state and message."""
        rows = []
        first_pending = self.pending[:1] if self.sending else []
        for number in sorted(self.batches):
            result = self.results.get(number)
            if result is None:
                batch = self.batches[number]
                rows.append({
                    "batch": number, "rows": describe_rows(batch.rows), "events": batch.size,
                    "results": None, "failed": None,
                    "state": BatchState.SENDING if number in first_pending else BatchState.WAITING,
                    "status": None, "attempts": 0, "seconds": 0.0, "message": "",
                })  # fmt: skip
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
            parts.append(f"{held:,} held back by the duplicate guard")
        return ", ".join(parts) + "."


def progress_text(job: SendJob, last: BatchResult | None = None) -> tuple[float, str]:
    """The progress bar's share and sentence, counted from the same table the page shows
    (`job.table_view()`), so the two always agree."""
    states = job.table_view()["state"].tolist()
    numbers = job.table_view()["batch"].tolist()
    total = len(states)
    waiting = {BatchState.WAITING, BatchState.SENDING}
    answered = sum(state not in waiting for state in states)
    share = answered / total if total else 1.0
    if job.sending:
        now = [n for n, state in zip(numbers, states, strict=True) if state in waiting]
        text = (f"{answered:,} of {count(total, 'batch', 'batches')} answered"
                + (f"; sending batch {now[0]:,}..." if now else "; sending..."))
        if last is not None:
            text = f"Batch {last.number:,}: {last.state}. " + text[0].upper() + text[1:]
        return share, text
    by_state: dict[str, int] = {}
    for state in states:
        by_state[str(state)] = by_state.get(str(state), 0) + 1
    parts = ", ".join(f"{n:,} {state}" for state, n in by_state.items())
    return share, f"Done: {count(total, 'batch', 'batches')}: {parts}."


NOT_YET = "-"  # a count Bento has not given yet


def with_dashes(frame: pd.DataFrame, columns: Sequence[str] = ("results", "failed")
                ) -> pd.DataFrame:
    """A batch table for the screen: counts Bento has not given yet read `-`, not None."""
    shown = frame.copy()
    for column in columns:
        if column in shown:
            shown[column] = [NOT_YET if pd.isna(v) else f"{int(v):,}" for v in shown[column]]
    return shown


BACKFILL_DAYS = 3  # events dated this recently may start automations in Bento


def backfill_warning(dates: pd.Series, now: pd.Timestamp, *, days: int = BACKFILL_DAYS) -> str:
    """A warning when some events are dated in the last `days` days (or later): Bento
    may take them as happening now and start automations and emails for them. Empty
    when none is (undated events are dated by Bento when they arrive: the live warning
    covers those). `dates`: the valid table's date column (UTC)."""
    when = pd.to_datetime(dates, utc=True, errors="coerce").dropna()
    if when.empty:
        return ""
    since = (now.tz_convert("UTC") if now.tzinfo else now.tz_localize("UTC")) - pd.Timedelta(
        days=days)
    recent = when[when >= since]
    if recent.empty:
        return ""
    first, last = recent.min(), recent.max()
    span = first.strftime("%d %b %Y") if first.date() == last.date() else (
        f"{first.strftime('%d %b %Y')} to {last.strftime('%d %b %Y')}")
    what = (count(len(recent), "event") if len(recent) == len(dates)
            else f"{len(recent):,} of the {len(dates):,} events")
    return (f"{what} {'is' if len(recent) == 1 else 'are'} dated "
            f"in the last {days} days ({span}): Bento may treat "
            f"{'it' if len(recent) == 1 else 'them'} as happening now and start automations "
            "and emails. Older events are recorded as history.")


def canary_rows(plan: SendPlan, size: int) -> list[int]:
    """The rows of the first `size` events a plan sends (what the guard keeps, in
    order): the canary of a live send."""
    rows: list[int] = []
    for batch in plan.batches:
        for row in batch.rows:
            if len(rows) >= size:
                return rows
            if not rows or rows[-1] != row:  # a row of several events counts once
                rows.append(row)
    return rows


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


def upload_options(
    mapping: ColumnMapping,
    *,
    sheet: str | None,
    timezone: str,
    date_order: str | None,
    edits: Mapping[int, Mapping[str, str]] | None = None,
    amounts: Unit = MINOR,
    header_row: int | None = None,
) -> dict[str, Any]:
    """What the Upload page stores with a run, so the file can be read again the same way
    (the send panel adds the batch size and the duplicate-guard choices).

    Cells fixed in the app (`edits`) are part of it: without them the fixed rows could
    not be rebuilt. They are the few cells the person typed, not the file.
    """
    options = source_options(mapping, sheet=sheet, timezone=timezone, date_order=date_order,
                             skip_invalid=True, origin="app upload", amounts=amounts)
    if header_row is not None:  # the row the person picked as the column names
        options["header_row"] = header_row
    if edits:
        options["edits"] = {str(row): dict(cells) for row, cells in sorted(edits.items())}
    return options


# ---------------------------------------------------------------- the send history

def run_sheet_and_type(options: Mapping[str, Any]) -> tuple[str, str]:
    """The sheet a run read and where its event type came from, from the run's options:
    (`Orders`, `webinar_attended`), (``, `column Event, else signup`). Empty when the
    options do not say (a CSV has no sheet; Compose's events each have their own type)."""
    sheet = options.get("sheet")
    mapping = options.get("mapping")
    mapping = mapping if isinstance(mapping, Mapping) else {}
    columns = mapping.get("columns")
    columns = columns if isinstance(columns, Mapping) else {}
    typed = [str(header) for header, target in columns.items() if target == ev.TYPE]
    default = str(mapping.get("default_type") or "")
    kind = f"column {typed[0]}" if typed else ""
    if default:
        kind = f"{kind}, else {default}" if kind else default
    return ("" if sheet is None else str(sheet)), kind


def numbers_text(numbers: Sequence[int]) -> str:
    """`batch 3` or `batches 1-2, 5`."""
    if len(numbers) == 1:
        return f"batch {numbers[0]}"
    return f"batches {describe_rows(numbers)}"


def uncertain_note(run: RunRecord, number: int) -> str:
    """Why a batch may have been recorded, in a sentence (plain text)."""
    record = run.batch(number)
    what = f"Batch {number} (rows {record.rows}, {count(record.events, 'event')})"
    if record.state == BatchState.PARTIAL:
        return (f"{what}: Bento recorded {record.results or 0:,} and refused "
                f"{record.failed or 0:,}, naming only {len(record.failures):,} of them.")
    return f"{what} got no answer: Bento may have recorded it, in part or in full."
