"""Files bigger than memory: read, check and send a spreadsheet chunk by chunk.

    headers = read_header("export.csv")
    mapping = suggest_mapping(headers, default_type="signup")
    prepared = prepare_in_chunks("export.csv", mapping)      # pass 1: every problem
    prepared.summary, prepared.problems                       # as `validate` gives them
    report = plan_send(prepared, credentials, ledger=ledger).send()  # pass 2, by batch

Memory stays flat as the file grows: a CSV or TSV file on disk is parsed by pyarrow's
streaming reader `chunk_rows` rows at a time (with the same text-exact options as
`read_table`), and each chunk is mapped, validated and turned into request bodies on its
own. What is kept between chunks is small: the problems found, and 12 bytes a row (and
an 8 MB filter) to find a row that repeats one of an earlier chunk (`validation.SeenRows`:
a 64-bit hash of every cell of the row, `row_hashes`, and its row number); a chunk's rows
are looked up there in a thread of their own while the next chunk is checked. Other sources
(workbooks, bytes, uploads, files that are not UTF-8) are read whole by `read_table` and
then handled in the same chunks, so everything downstream is the same.

What is decided for the whole file, as `validate` decides it for a whole table:

- Duplicates: a row that repeats any earlier row of the file is flagged, across chunks
  (in the first pass: sending, which reads the file again, needs only the valid rows).
- Orders written one line item a row (Shopify): a chunk ends on a whole order, so the
  rows that continue it are folded into it however the file is cut (`line_items`).
- Date order: the first chunk whose numeric dates decide it (a day over 12 first or
  second) decides it for the file; if an earlier chunk had only ambiguous dates, the
  file is checked again from the start in that order. A column that stays ambiguous to
  the end is flagged (`dates_ambiguous`) and still needs the person's choice. Where
  `validate` reports a column mixing both orders, the chunks read after the order was
  decided report the other dates as unreadable instead.

Where the chunked CSV reader differs from `read_table`: a row with more or fewer cells
than the header stops it with a `ReadError` (`read_table` pads or widens the table; read
such a file whole), and a column with neither a header nor values is kept, blank
(`read_table` drops it).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import os
import re
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from bento_ui import _arrow_text as arrow_text
from bento_ui import line_items, workbook_claims
from bento_ui import spreadsheet as sheet_io
from bento_ui.batching import Batch
from bento_ui.dates import DateOrder, check_timezone
from bento_ui.errors import ReadError
from bento_ui.event_texts import TableEvents
from bento_ui.mapping import ColumnMapping, apply_mapping, folded_rows
from bento_ui.money import MINOR, MarkSigns, Unit, mark_of
from bento_ui.payloads import build_events, encode_events
from bento_ui.validation import (
    ERROR,
    PROBLEM_COLUMNS,
    WARNING,
    SeenRows,
    Validation,
    repeat_problems,
    validate,
    with_repeats,
)

__all__ = [
    "Chunk",
    "PreparedFile",
    "iter_table",
    "prepare_in_chunks",
    "read_header",
    "stream_batches",
]

CHUNK_ROWS = 100_000
_HEAD_BYTES = 1 << 20  # enough to find the header, the delimiter and the encoding
_BLOCK_BYTES = 4 << 20  # what pyarrow reads at a time


# --- reading --------------------------------------------------------------------------


@dataclass(frozen=True)
class _CsvLayout:
    """Where the rows of a UTF-8 CSV file start and how to split them."""

    start: int  # byte offset of the header row
    delimiter: str
    header: list[str]
    header_row: int  # spreadsheet row number of the header


def _csv_layout(path: str) -> _CsvLayout | None:
    """The layout of a UTF-8 CSV/TSV file on disk, or None when it must be read whole
    (a workbook, another encoding, old Mac line endings)."""
    with open(path, "rb") as file:
        head = file.read(_HEAD_BYTES)
    name = os.path.basename(path)
    fmt = sheet_io.detect_format(head, name)
    if fmt not in ("csv", "tsv"):
        return None
    start = 3 if head.startswith(codecs.BOM_UTF8) else 0
    if sheet_io._utf16_codec(head[:4096]):
        return None
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head[start:], final=False)
    except UnicodeDecodeError:
        return None
    if b"\n" not in head and b"\r" in head:
        return None
    # The blank rows above the header, and Excel's "sep=;" line, as read_table skips them.
    blank_rows = 0
    delimiter = "\t" if fmt == "tsv" else None
    while True:
        newline = head.find(b"\n", start)
        if newline == -1:
            if len(head) == _HEAD_BYTES:
                return None  # a header longer than the head: read it whole
            line_end = len(head)
        else:
            line_end = newline
        line = head[start:line_end]
        hint = re.fullmatch(rb"\"?sep=(.)\"?,*\r?", line)
        if hint and delimiter is None:
            delimiter = hint.group(1).decode("latin-1")
        elif line.strip(sheet_io._BLANK_LINE_CHARS):
            break
        else:
            blank_rows += 1
        if newline == -1:
            return None  # no header: read_table says so
        start = newline + 1
    sample = head[start:].decode("utf-8", errors="replace")
    if len(head) == _HEAD_BYTES and "\n" in sample:
        sample = sample[: sample.rindex("\n")]
    if delimiter is None:
        delimiter = sheet_io._sniff_delimiter(sample[: sheet_io._SNIFF_BYTES])
    reader = csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter)
    header = next(reader, [])
    if len(header) > workbook_claims.MAX_COLUMNS:
        raise ReadError(sheet_io._too_many_columns(f"'{name}'", len(header)))
    return _CsvLayout(start, delimiter, header, blank_rows + 1)


def read_header(source: str | os.PathLike[str], *, sheet: str | int | None = None) -> list[str]:
    """The column names `iter_table` gives, read from the top of the file only."""
    path = os.fspath(source)
    layout = _csv_layout(path)
    if layout is not None:
        return sheet_io._column_names(layout.header)
    return [str(c) for c in sheet_io.read_table(path, sheet=sheet).columns]


def iter_table(
    source: str | os.PathLike[str],
    *,
    chunk_rows: int = CHUNK_ROWS,
    sheet: str | int | None = None,
) -> Iterator[pd.DataFrame]:
    """The table `read_table` gives, in chunks of `chunk_rows` rows (plus the blank rows
    that ended the chunk before, held back in case they end the file): every cell text,
    the index the spreadsheet row number, continuing from chunk to chunk. A CSV or TSV
    file is streamed; anything else is read whole first (see the module's docstring)."""
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be 1 or more, not {chunk_rows}")
    path = os.fspath(source)
    layout = _csv_layout(path)
    if layout is None:
        yield from _slices(path, chunk_rows, sheet)
        return
    yield from _read_ahead(_stream_csv(path, layout, chunk_rows))


def _parts(
    path: str, chunk_rows: int, sheet: str | int | None
) -> Generator[pd.DataFrame, None, None]:
    """`iter_table`, read in the caller's thread."""
    layout = _csv_layout(path)
    if layout is None:
        return _slices(path, chunk_rows, sheet)
    return _stream_csv(path, layout, chunk_rows)


def _slices(
    path: str, chunk_rows: int, sheet: str | int | None
) -> Generator[pd.DataFrame, None, None]:
    table = sheet_io.read_table(path, sheet=sheet)
    for start in range(0, len(table), chunk_rows):
        yield table.iloc[start : start + chunk_rows]


T = TypeVar("T")


def _read_ahead(chunks: Generator[T, None, None]) -> Iterator[T]:
    """`chunks`, the next one read in a thread while the caller checks this one: pyarrow
    parses without holding the GIL, so the parse takes another core instead of time."""
    with ThreadPoolExecutor(1, thread_name_prefix="bento-ui-read") as pool:
        pending = pool.submit(next, chunks, None)
        try:
            while (chunk := pending.result()) is not None:
                pending = pool.submit(next, chunks, None)
                yield chunk
        finally:
            # Stopped early (or by an error): let the read under way end, then close the
            # reader, which closes the file.
            pending.cancel()
            with contextlib.suppress(Exception):
                pending.result()
            chunks.close()


def _stream_csv(
    path: str, layout: _CsvLayout, chunk_rows: int
) -> Generator[pd.DataFrame, None, None]:
    names = sheet_io._column_names(layout.header)
    width = len(layout.header)
    columns = [f"c{i}" for i in range(width)]
    label = f"'{os.path.basename(path)}'"
    ragged: list[str] = []

    def on_invalid_row(row: Any) -> str:
        ragged.append(
            f"a row has {row.actual_columns} cells where the header has {row.expected_columns}"
            + (f" ({row.text[:80]!r})" if row.text else "")
        )
        return "error"

    source = pa.OSFile(path)
    source.seek(layout.start)
    try:
        reader = _open(
            label,
            ragged,
            source,
            read_options=pa_csv.ReadOptions(
                column_names=columns, skip_rows=1, block_size=_BLOCK_BYTES
            ),
            parse_options=sheet_io.csv_parse_options(
                layout.delimiter, newlines_in_values=True, invalid_row_handler=on_invalid_row
            ),
            convert_options=sheet_io.text_convert_options(columns),
        )
        next_row = layout.header_row + 1
        last: pd.DataFrame | None = None
        pending: list[pa.RecordBatch] = []
        pending_rows = 0
        held: pd.DataFrame | None = None  # blank rows that may turn out to end the file
        for batch in _batches(reader, label, ragged):
            pending.append(batch)
            pending_rows += batch.num_rows
            while pending_rows >= chunk_rows:
                table = pa.Table.from_batches(pending)
                chunk, rest = table.slice(0, chunk_rows), table.slice(chunk_rows)
                pending, pending_rows = rest.to_batches(), rest.num_rows
                frame = _frame(chunk, names, next_row)
                next_row += chunk.num_rows
                out, held = _hold_blank_tail(held, frame)
                if len(out):
                    last = out
                    yield out
        if pending_rows:
            frame = _frame(pa.Table.from_batches(pending), names, next_row)
            out, held = _hold_blank_tail(held, frame)
            if len(out):
                _check_unclosed_quote(out, label)
                yield out
        elif last is not None:
            _check_unclosed_quote(last, label)
        # What is still held is the blank rows after the last data row: read_table
        # drops them too.
    finally:
        source.close()


def _open(label: str, ragged: list[str], *args: Any, **kwargs: Any) -> Any:
    try:
        return pa_csv.open_csv(*args, **kwargs)
    except pa.ArrowInvalid as error:
        raise _read_error(error, label, ragged) from error


def _batches(reader: Any, label: str, ragged: list[str]) -> Iterator[pa.RecordBatch]:
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except pa.ArrowInvalid as error:
            raise _read_error(error, label, ragged) from error
        yield batch


def _read_error(error: Exception, label: str, ragged: list[str]) -> ReadError:
    if ragged:
        return ReadError(
            f"{label} cannot be read in chunks: {ragged[0]}. Fix that row, or read the file "
            "whole (it will need more memory)."
        )
    if "UTF8" in str(error) or "UTF-8" in str(error):
        return ReadError(
            f"{label} is not UTF-8 throughout: save it as CSV UTF-8 and try again, or read "
            "it whole."
        )
    return ReadError(f"{label} could not be read as CSV ({error}).")


def _frame(table: pa.Table, names: list[str], first_row: int) -> pd.DataFrame:
    frame = pd.DataFrame(
        {name: pd.Series(table.column(i), dtype="str") for i, name in enumerate(names)},
    )
    frame.index = pd.RangeIndex(first_row, first_row + table.num_rows, name=sheet_io.ROW)
    return frame


def _blank_rows(frame: pd.DataFrame) -> np.ndarray:
    """Rows whose every cell is blank once trimmed (`Series.str.strip() == ""`), in
    pyarrow: pandas' way costs milliseconds a column even for the one row looked at."""
    blank = np.ones(len(frame), dtype=bool)
    for _, column in frame.items():
        data = arrow_text.arrow(column)
        if data is None:
            blank &= (column.str.strip() == "").to_numpy()
        else:
            empty = pc.equal(pc.utf8_trim_whitespace(data), "")
            blank &= pc.fill_null(empty, False).to_numpy(zero_copy_only=False)
    return blank


def _hold_blank_tail(
    held: pd.DataFrame | None, frame: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """(rows to give now, blank rows at the end to hold until more rows come)."""
    if held is not None:
        frame = pd.concat([held, frame])
    if len(frame) and not _blank_rows(frame.iloc[-1:])[0]:
        return frame, None  # the common case: the chunk ends with data
    blank = _blank_rows(frame)
    if blank.all():
        return frame.iloc[:0], frame
    last = len(frame) - int(np.argmin(blank[::-1]))  # one past the last row with data
    return frame.iloc[:last], (frame.iloc[last:] if last < len(frame) else None)


def _check_unclosed_quote(frame: pd.DataFrame, label: str) -> None:
    """pyarrow reads a quote that is never closed as one cell running to the end of the
    file; read_table reports it, and so must the chunked reader."""
    if not len(frame):
        return
    last = frame.iloc[-1]
    if any("\n" in value or "\r" in value for value in last):
        raise ReadError(
            f'{label} has a quote (") that is never closed, in row {last.name} or before: '
            'fix that row (a quote inside a value is written twice: "") and try again.'
        )


# --- checking -------------------------------------------------------------------------


@dataclass
class Chunk:
    """One chunk of the file, checked: its sendable rows and their request payloads."""

    valid: pd.DataFrame  # as `validate(...).valid`
    validation: Validation
    folded: dict[int, int] = field(default_factory=dict)  # as `mapping.folded_rows`

    @property
    def texts(self) -> pa.Array:
        """The JSON text of each valid row's event (`payloads.encode_events`)."""
        return encode_events(self.valid)

    @property
    def events(self) -> list[dict[str, Any]]:
        """The events as dicts (`payloads.build_events`)."""
        return build_events(self.valid)


@dataclass
class PreparedFile:
    """A file checked chunk by chunk: what `validate` says about a whole table, without
    holding the table. `chunks()` reads it again, chunk by chunk, for sending."""

    source: str
    mapping: ColumnMapping
    chunk_rows: int
    timezone: str
    date_order: DateOrder | None
    sheet: str | int | None
    amounts: Unit = MINOR  # the unit of the $purchase amounts (see `bento_ui.money`)
    # Their decimal mark in currency units, decided for the whole file by the first pass.
    decimal_mark: str | None = None
    rows: int = 0
    valid_rows: int = 0  # events to send (a row with tags can make several)
    valid_source_rows: int = 0  # the source rows they come from
    empty_rows: list[int] = field(default_factory=list)
    # The rows that continue an order (a line item each), folded into its first row.
    folded: dict[int, int] = field(default_factory=dict)
    dates_ambiguous: bool = False
    problem_parts: list[pd.DataFrame] = field(default_factory=list)

    @property
    def problems(self) -> pd.DataFrame:
        """One row per problem, in spreadsheet order, as `Validation.problems`."""
        parts = [p for p in self.problem_parts if len(p)]
        if not parts:
            return pd.DataFrame({c: pd.Series(dtype="str") for c in PROBLEM_COLUMNS}).astype(
                {"row": "int64"}
            )
        return pd.concat(parts, ignore_index=True)

    @property
    def summary(self) -> dict[str, int]:
        problems = self.problems
        return {
            "rows": self.rows,
            "valid": self.valid_source_rows,
            "with errors": problems.loc[problems["severity"] == ERROR, "row"].nunique(),
            "with warnings": problems.loc[problems["severity"] == WARNING, "row"].nunique(),
            "empty skipped": len(self.empty_rows),
        }

    def chunks(self) -> Iterator[Chunk]:
        """The file again, chunk by chunk, checked as in the first pass."""
        for chunk, repeats in _check_chunks(self, SeenRows(), None):
            if repeats is not None:
                with_repeats(chunk.validation, repeats.result())
            yield chunk

    def __repr__(self) -> str:
        counts = ", ".join(f"{v:,} {k}" for k, v in self.summary.items())
        return f"<PreparedFile {os.path.basename(self.source)}: {counts}>"


def prepare_in_chunks(
    source: str | os.PathLike[str],
    mapping: ColumnMapping,
    *,
    chunk_rows: int = CHUNK_ROWS,
    timezone: str = "UTC",
    date_order: DateOrder | None = None,
    sheet: str | int | None = None,
    now: pd.Timestamp | None = None,
    on_chunk: Callable[[Chunk], None] | None = None,
    amounts: Unit = MINOR,
) -> PreparedFile:
    """Check every row of a file, chunk by chunk (the first pass): the summary and the
    problems `validate` would give for the whole table. `on_chunk` sees each chunk, in
    order, in a thread of its own while the next chunk is checked (so one chunk more is
    held while it runs); its error stops the pass."""
    timezone = check_timezone(timezone)  # before reading a byte of a big file
    decimal_mark: str | None = None
    while True:
        prepared = PreparedFile(
            os.fspath(source), mapping, chunk_rows, timezone, date_order, sheet, amounts,
            decimal_mark=decimal_mark,
        )  # fmt: skip
        outcome = _first_pass(prepared, now, on_chunk)
        if outcome is None:
            return prepared
        # An order decided after ambiguous chunks, or a decimal mark that a chunk
        # decided otherwise than the file: check again with the file's.
        date_order, decimal_mark = outcome


def _first_pass(
    prepared: PreparedFile, now: pd.Timestamp | None, on_chunk: Callable[[Chunk], None] | None
) -> tuple[DateOrder | None, str | None] | None:
    """Run the first pass; the date order and decimal mark to start again with, if the
    dates or the amounts need it."""
    with _in_order(on_chunk) as seen_by_caller:
        return _first_pass_chunks(prepared, now, seen_by_caller)


def _first_pass_chunks(
    prepared: PreparedFile, now: pd.Timestamp | None, on_chunk: Callable[[Chunk], None] | None
) -> tuple[DateOrder | None, str | None] | None:
    ambiguous_before = False
    marks: list[MarkSigns] = []  # what each chunk's amounts showed of their decimal mark
    # A chunk's repeats of earlier rows are looked for while the next chunk is checked:
    # its problems (and `on_chunk`) wait for them until then.
    waiting: tuple[Chunk, Future[pd.DataFrame] | None] | None = None

    def done(chunk: Chunk, repeats: Future[pd.DataFrame] | None) -> None:
        if repeats is not None:
            with_repeats(chunk.validation, repeats.result())
        prepared.problem_parts.append(chunk.validation.problems)
        if on_chunk is not None:
            on_chunk(chunk)

    for chunk, repeats in _check_chunks(prepared, SeenRows(), now):
        result = chunk.validation
        if prepared.date_order is None and result.date_order is not None:
            if ambiguous_before:
                return result.date_order, prepared.decimal_mark
            prepared.date_order = result.date_order
        if result.amount_marks is not None:
            marks.append(result.amount_marks)
        ambiguous_before |= result.dates_ambiguous
        prepared.rows += result.rows
        prepared.valid_rows += len(result.valid)
        prepared.valid_source_rows += result.valid_rows
        prepared.empty_rows.extend(result.empty_rows)
        prepared.folded.update(chunk.folded)
        if waiting is not None:
            done(*waiting)
        waiting = (chunk, repeats)
    if waiting is not None:
        done(*waiting)
    prepared.dates_ambiguous = ambiguous_before and prepared.date_order is None
    if prepared.decimal_mark is None and marks:
        # Like the date order, the decimal mark is the file's (1.299,00 in one chunk makes
        # 1,299 in another one thousand two hundred ninety-nine, not 1.299).
        mark = mark_of(marks)
        if any(mark_of([chunk]) != mark for chunk in marks):
            return prepared.date_order, mark
        prepared.decimal_mark = mark
    return None


@contextlib.contextmanager
def _in_order(
    on_chunk: Callable[[Chunk], None] | None,
) -> Iterator[Callable[[Chunk], None] | None]:
    """`on_chunk`, called in a thread of its own, chunk after chunk, while the next chunk
    is checked: what it does with a chunk (its payloads, mostly pyarrow, which lets go
    of the GIL) takes the other core instead of time. One chunk waits at most; an error
    of `on_chunk` stops the pass, as if it had been called in line."""
    if on_chunk is None:
        yield None
        return
    with ThreadPoolExecutor(1, thread_name_prefix="bento-ui-chunk") as pool:
        pending: Future[None] | None = None

        def hand_over(chunk: Chunk) -> None:
            nonlocal pending
            if pending is not None:
                pending.result()  # the chunk before is done (or its error raised here)
            pending = pool.submit(on_chunk, chunk)

        try:
            yield hand_over
        except BaseException:
            if pending is not None:  # stopped: the chunk under way ends, its outcome unasked
                pending.cancel()
                with contextlib.suppress(Exception):
                    pending.result()
            raise
        if pending is not None:
            pending.result()


def _check_chunks(
    prepared: PreparedFile, seen: SeenRows | None, now: pd.Timestamp | None
) -> Iterator[tuple[Chunk, Future[pd.DataFrame] | None]]:
    """Each chunk, checked but for the rows that repeat earlier ones: their warnings
    (`validation.repeat_problems`) come later, worked out in a thread of their own while
    the next chunk is checked (hashing rows is NumPy work, which lets go of the GIL).
    Without `seen`, repeats are not looked for at all (sending needs only the valid rows,
    and repeats are warnings)."""
    handed: list[pd.DataFrame] = []
    checking = SeenRows() if seen is None else seen
    checking.later = handed.append if seen is not None else lambda _rows: None
    with ThreadPoolExecutor(1, thread_name_prefix="bento-ui-repeats") as pool:
        repeats: Future[pd.DataFrame] | None = None
        try:
            for table, folded in _read_ahead(_event_tables(prepared)):
                result = validate(
                    table,
                    timezone=prepared.timezone,
                    date_order=prepared.date_order,
                    now=now,
                    seen=checking,
                    amounts=prepared.amounts,
                    decimal_mark=prepared.decimal_mark,
                )
                # One pool thread: chunk after chunk, in order, as `seen` needs them.
                repeats = pool.submit(repeat_problems, handed.pop(), checking) if handed else None
                yield Chunk(result.valid, result, folded), repeats
        except BaseException:
            if repeats is not None:  # stopped early: the look under way ends, unasked
                repeats.cancel()
            raise
        finally:
            checking.later = None


def _event_tables(
    prepared: PreparedFile,
) -> Generator[tuple[pd.DataFrame, dict[int, int]], None, None]:
    """Each chunk as an event table, with the rows folded into its orders: read, joined
    to whole orders and mapped in the reading thread (`_read_ahead`), so that the caller's
    thread only checks them."""
    parts = _parts(prepared.source, prepared.chunk_rows, prepared.sheet)
    try:
        # An order's line items may run past the end of a chunk: each chunk ends on an
        # order (and a chunk joined to the end of the one before is made one piece here).
        for part in line_items.whole_orders(parts, prepared.mapping.columns):
            table = arrow_text.one_chunk(apply_mapping(part, prepared.mapping))
            del part  # held no longer than the caller holds the table: memory stays flat
            yield table, folded_rows(table)
            del table
    finally:
        parts.close()  # stopped early: the file is closed now, not when collected


# --- sending --------------------------------------------------------------------------


def stream_batches(prepared: PreparedFile, size: int) -> Iterator[Batch]:
    """The valid rows of a prepared file (the second pass), in full batches across chunk
    boundaries, each event with its row: what `sending.plan_send` sends of a stream."""
    number = 0
    carry: pd.DataFrame | None = None
    for chunk, _repeats in _check_chunks(prepared, None, None):  # the valid rows only
        valid = chunk.valid if carry is None else pd.concat([carry, chunk.valid])
        # One chunk's events, written window by window as its batches are sent.
        events = TableEvents.of(valid)
        full = len(valid) - len(valid) % size
        for start in range(0, full, size):
            number += 1
            yield _batch(number, valid, events, start, start + size)
        carry = valid.iloc[full:] if full < len(valid) else None
    if carry is not None and len(carry):
        yield _batch(number + 1, carry, TableEvents.of(carry), 0, len(carry))


def _batch(number: int, valid: pd.DataFrame, events: TableEvents, start: int, stop: int) -> Batch:
    rows = tuple(int(r) for r in valid.index[start:stop])
    return Batch(number=number, rows=rows, events=events[start:stop])
