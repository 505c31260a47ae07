"""Read a CSV, TSV, XLSX, XLS, ODS or JSON lines file into a table of text.

    read_table(source, sheet=None, name=None) -> DataFrame
    list_sheets(source, name=None)            -> sheet names ([] for CSV, TSV, JSON lines)

`source` is a path, raw bytes or a binary file-like object (Streamlit's UploadedFile, an
open file, BytesIO); `name` is the file name when the source has none. The format comes
from the file's first bytes, and from the extension only where the bytes cannot tell
(CSV against TSV against JSON lines): a workbook renamed to `.csv` is still read as a
workbook.

What comes back is what the person sees in their spreadsheet, as text:

- every cell is a `str`; an empty cell is `""`, never NaN, and `NA`, `null`, `007`,
  `12345678901234567890` or `+44 20 7946 0000` stay exactly as typed;
- the index, named `row`, is the spreadsheet row number: the header is row 1 and the
  first data row is row 2, counting the blank rows above the header that are skipped
  (for JSON lines it is the line number); blank rows inside the data are kept, so the
  numbers never shift, and only blank rows after the last data row are dropped;
- column names are the stripped header text; a blank header is named after its column
  letter (`Column C`) and a repeated one is numbered (`Email`, `Email (2)`), never
  pandas' `Email.1`, because a dot means a nested path in this project; a column with
  neither a header nor any value is dropped;
- workbook cells read as Excel shows them in General format: `42`, `0.1`,
  `12345678901234567`, `TRUE`, dates as `2024-01-05` or `2024-01-05T13:45:00`,
  formulas as their last calculated value.

A file that cannot be read raises `ReadError` with a message saying what to do.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import json
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, BinaryIO, Literal

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from bento_ui import _workbook_child, json_limits, workbook_claims
from bento_ui.errors import ReadError

__all__ = ["Format", "detect_format", "list_sheets", "read_table"]

Source = str | os.PathLike[str] | bytes | BinaryIO
Format = Literal["csv", "tsv", "jsonl", "xlsx", "xls", "ods"]

ROW = "row"
_SUPPORTED = "upload a CSV, TSV, XLSX, XLS, ODS or JSON lines file"
_EMPTY = "The file is empty: export it again with a header row and at least one event."

_CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # OLE2 compound file: .xls, encrypted .xlsx
# Excel saves a password-protected workbook as a compound file whose data sits in a
# stream named "EncryptedPackage"; directory entry names are UTF-16-LE.
_ENCRYPTED_STREAM = "EncryptedPackage".encode("utf-16-le")
_ODS_MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"
_BINARY_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"%PDF", b"\x1f\x8b", b"Rar!", b"7z\xbc\xaf")
_DELIMITERS = (",", "\t", ";", "|")
_SNIFF_BYTES = 64 * 1024
_BLANK_LINE_CHARS = b' \t\r\n",;|'
_TEXT_CHAR = re.compile(rb"[^\s\x00\xef\xbb\xbf\xff\xfe]")  # not blank, NUL or a BOM byte
_TEXT_CONTROL = frozenset(range(32)) - {9, 10, 12, 13}
# Comments and blanks before a web page's first tag (Excel's own HTML "xls" files
# start with a comment or a processing instruction).
_WEB_PAGE_STARTS = ("<html", "<table", "<?xml", "<!doctype html", "<head", "<body")
_LEADING_MARKUP = re.compile(r"\A(?:\s+|<!--.*?(?:-->|\Z)|<\?(?!xml\b).*?\?>)*", re.DOTALL)


def _latin1_fallback(error: UnicodeError) -> tuple[str, int]:
    # cp1252 leaves five bytes (0x81, 0x8D, 0x8F, 0x90, 0x9D) undefined; read them as
    # latin-1 so a stray byte never makes the whole file unreadable.
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return bytes(error.object[error.start : error.end]).decode("latin-1"), error.end


codecs.register_error("bento_ui.latin1", _latin1_fallback)


def _cp1252_fallback(error: UnicodeError) -> tuple[str, int]:
    # In a file that is mostly UTF-8, read the bytes that are not UTF-8 as Windows-1252.
    if not isinstance(error, UnicodeDecodeError):
        raise error
    chunk = bytes(error.object[error.start : error.end])
    return chunk.decode("cp1252", errors="bento_ui.latin1"), error.end


codecs.register_error("bento_ui.cp1252", _cp1252_fallback)
# A multi-byte UTF-8 sequence: Windows-1252 text almost never holds one by chance
# (it would read as "Ã©" and the like).
_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    rb"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}"
    rb"|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)


# --- public API -----------------------------------------------------------------------


def read_table(
    source: Source,
    *,
    sheet: str | int | None = None,
    name: str | None = None,
    header_row: int | None = None,
) -> pd.DataFrame:
    """Read a spreadsheet, CSV, TSV or JSON lines file as a table of text.

    `sheet` picks a workbook sheet by name or 0-based position (see `list_sheets`); by
    default the first visible sheet. It is ignored for CSV, TSV and JSON lines.
    `header_row` is the spreadsheet row number that holds the column names, when it is
    not the first row that has anything (a title above them): the rows above it are left
    out and the row numbers stay the spreadsheet's own.
    """
    data, name = _load(source, name)
    fmt = detect_format(data, name)
    label = f"'{name}'" if name else "The file"
    if fmt in ("csv", "tsv"):
        frame = _read_csv(data, label, tab=fmt == "tsv")
    elif fmt == "jsonl":
        if header_row is not None:
            raise ReadError(f"{label} is JSON lines: it has no header row to choose.")
        return _read_jsonl(data, label)
    else:
        frame = _read_workbook(data, fmt, sheet, label)
    return frame if header_row is None else rehead(frame, header_row, label)


def rehead(frame: pd.DataFrame, header_row: int, label: str = "The file") -> pd.DataFrame:
    """`frame` (as `read_table` gives it) with the column names taken from the spreadsheet
    row `header_row`; the rows above it are dropped, the row numbers kept."""
    first = int(frame.index[0]) - 1 if len(frame) else 1  # the row read as the header
    if header_row == first:
        return frame
    last = int(frame.index[-1]) if len(frame) else first
    if header_row < first:
        raise ReadError(
            f"Row {header_row} of {label} is blank: the first row with anything is row "
            f"{first}. Choose a row from {first} to {last}."
        )
    if header_row >= last or header_row not in frame.index:
        raise ReadError(
            f"{label} has no rows below row {header_row}: choose a header row from {first} "
            f"to {last - 1}."
        )
    header = [str(v) for v in frame.loc[header_row]]
    if not any(h.strip() for h in header):
        raise ReadError(f"Row {header_row} of {label} is blank: choose the row that holds "
                        "the column names.")
    body = frame.loc[frame.index > header_row].copy()
    body.columns = pd.Index(_column_names(header))
    body.attrs = {}
    return _tidy(body, header)


def list_sheets(source: Source, *, name: str | None = None) -> list[str]:
    """The worksheet names of a workbook, in workbook order; [] for CSV, TSV, JSON lines."""
    data, name = _load(source, name)
    fmt = detect_format(data, name)
    if fmt in ("csv", "tsv", "jsonl"):
        return []
    label = f"'{name}'" if name else "The file"
    return _workbook_sheets(data, label)


def detect_format(data: bytes, name: str | None = None) -> Format:
    """The format of a file from its first bytes, and its name where the bytes can't tell.

    Raises ReadError for an empty file, a password-protected workbook, a zip archive
    that is not a spreadsheet, a web page saved as .xls, and any other binary file.
    """
    label = f"'{name}'" if name else "The file"
    ext = os.path.splitext(name or "")[1].lower()
    head = data[:8192]
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _zip_format(data, ext, label)
    if head.startswith(_CFB_MAGIC):
        if _ENCRYPTED_STREAM in data:
            raise ReadError(
                f"{label} is protected with a password: open it, remove the password "
                "(File > Info > Protect Workbook), save and upload again."
            )
        return "xls"
    if not _TEXT_CHAR.search(data):
        raise ReadError(_EMPTY)
    if head.startswith(_BINARY_MAGIC) or _looks_binary(head):
        raise ReadError(f"{label} doesn't look like a CSV or spreadsheet: {_SUPPORTED}.")
    text_head = _decode_sample(head).lstrip("\ufeff \t\r\n")
    start = _LEADING_MARKUP.sub("", text_head)[:2048].lower()
    if (
        text_head.startswith("<!--")
        or start.startswith(_WEB_PAGE_STARTS)
        or (start.startswith("<") and ("<html" in start or "<table" in start))
    ):
        raise ReadError(
            f"{label} is a web page or XML file saved with a spreadsheet name, not a real "
            "workbook: open it in Excel, save it as XLSX or CSV, and upload that file."
        )
    if ext in (".tsv", ".tab"):
        return "tsv"
    if ext in (".jsonl", ".ndjson", ".json") or (ext != ".csv" and start.startswith("{")):
        return "jsonl"
    return "csv"


# --- loading and format detection -----------------------------------------------------


def _load(source: Source, name: str | None) -> tuple[bytes, str | None]:
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source), name
    if isinstance(source, str | os.PathLike):
        path = os.fspath(source)
        try:
            with open(path, "rb") as file:
                data = file.read()
        except OSError as error:
            raise ReadError(
                f"Cannot open '{path}': {error.strerror or error}. Check the path and try again."
            ) from error
        return data, name or os.path.basename(path)
    getvalue = getattr(source, "getvalue", None)
    raw: Any = getvalue() if callable(getvalue) else source.read()
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise ReadError(f"Cannot read {type(source).__name__}: pass a path, bytes or a file.")
    if name is None:
        source_name = getattr(source, "name", None)
        if isinstance(source_name, str):
            name = os.path.basename(source_name)
    return bytes(raw), name


def _zip_format(data: bytes, ext: str, label: str) -> Format:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            workbook_claims.check_claims(archive, label)
            names = archive.namelist()
            mimetype = b""
            if "mimetype" in names:
                with archive.open("mimetype") as part:
                    mimetype = part.read(len(_ODS_MIMETYPE) + 64)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError, EOFError):
        if _ODS_MIMETYPE in data[:200]:  # an ODS file starts with its uncompressed mimetype
            return "ods"
        # A cut-off download: let the workbook reader report it as damaged.
        return "ods" if ext == ".ods" else "xlsx"
    if mimetype.strip() == _ODS_MIMETYPE:
        return "ods"
    if any(entry.startswith("xl/") for entry in names):
        return "xlsx"
    raise ReadError(
        f"{label} is a zip archive, not a spreadsheet: if it holds a CSV or workbook, unzip "
        f"it and upload that file ({_SUPPORTED})."
    )


def _utf32_codec(head: bytes) -> str | None:
    """utf-32 when the bytes start with its BOM or are text with three NULs in four."""
    if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "utf-32"
    sample = head[: len(head[:4096]) // 4 * 4]
    quads = len(sample) // 4
    if quads < 2:
        return None
    nul = [sample[i::4].count(0) for i in range(4)]
    if min(nul[1:]) >= 0.9 * quads and nul[0] <= 0.05 * quads:
        return "utf-32-le"
    if min(nul[:3]) >= 0.9 * quads and nul[3] <= 0.05 * quads:
        return "utf-32-be"
    return None


def _utf16_codec(head: bytes) -> str | None:
    """utf-16 (or utf-32) when the bytes start with its BOM or are mostly NUL-interleaved
    text: the codec of a text file whose characters take more than one byte each."""
    wide = _utf32_codec(head)
    if wide:
        return wide
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    sample = head[:4096]
    pairs = len(sample) // 2
    if pairs < 2:
        return None
    even_nul = sample[0::2].count(0)
    odd_nul = sample[1::2].count(0)
    if odd_nul >= 0.4 * pairs and even_nul <= 0.05 * pairs:
        return "utf-16-le"
    if even_nul >= 0.4 * pairs and odd_nul <= 0.05 * pairs:
        return "utf-16-be"
    return None


def _looks_binary(head: bytes) -> bool:
    if _utf16_codec(head):
        return False
    if b"\x00" in head:
        return True
    controls = sum(1 for byte in head if byte in _TEXT_CONTROL)
    return controls > 0.02 * len(head)


def _decode_sample(head: bytes) -> str:
    codec = _utf16_codec(head)
    if codec:
        return _whole_units(head, codec).decode(codec, errors="replace")
    return head.decode("utf-8", errors="replace")


def _whole_units(data: bytes, codec: str) -> bytes:
    """`data` cut to whole code units of `codec` (2 bytes for UTF-16, 4 for UTF-32)."""
    unit = 4 if "32" in codec else 2
    return data[: len(data) // unit * unit]


# --- CSV and TSV ----------------------------------------------------------------------


class _NotUtf8(Exception):
    """The bytes assumed to be UTF-8 are not."""


def _to_utf8(data: bytes) -> tuple[bytes, int, str]:
    """UTF-8 bytes of the text, the offset where the text starts, and the encoding read."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data, 3, "utf-8-sig"
    codec = _utf16_codec(data[:4096])
    if codec:
        text = _whole_units(data, codec).decode(codec, errors="replace").lstrip("\ufeff")
        return text.encode("utf-8"), 0, codec
    # Decide on the first 64 KB; a later invalid byte is caught while parsing.
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(data[:_SNIFF_BYTES], final=len(data) <= _SNIFF_BYTES)
    except UnicodeDecodeError:
        return _cp1252_to_utf8(data), 0, "cp1252"
    return data, 0, "utf-8"


def _cp1252_to_utf8(data: bytes) -> bytes:
    if _UTF8_SEQUENCE.search(data):
        # Mixed: files pasted together, some rows saved as UTF-8 and some as Windows-1252.
        # Keep every valid UTF-8 sequence; read only the other bytes as Windows-1252.
        return data.decode("utf-8", errors="bento_ui.cp1252").encode("utf-8")
    return data.decode("cp1252", errors="bento_ui.latin1").encode("utf-8")


def _read_csv(data: bytes, label: str, *, tab: bool) -> pd.DataFrame:
    text, start, encoding = _to_utf8(data)
    try:
        return _read_utf8_csv(text, start, label, tab=tab)
    except _NotUtf8:
        if encoding != "utf-8":
            raise ReadError(
                f"{label} could not be decoded as text: save it as CSV UTF-8 and upload again."
            ) from None
        return _read_utf8_csv(_cp1252_to_utf8(data), 0, label, tab=tab)


def _read_utf8_csv(data: bytes, start: int, label: str, *, tab: bool) -> pd.DataFrame:
    if b"\n" not in data and b"\r" in data:  # old Mac line endings
        data = data.replace(b"\r", b"\n")
    end = len(data)
    while end > start and data[end - 1] in b"\r\n":
        end -= 1
    if not _TEXT_CHAR.search(data, start, end):
        raise ReadError(_EMPTY)

    # Skip the blank rows above the header, counting them.
    blank_rows = 0
    delimiter = "\t" if tab else None
    while True:
        newline = data.find(b"\n", start, end)
        line_end = end if newline == -1 else newline
        line = data[start:line_end]
        hint = re.fullmatch(rb"\"?sep=(.)\"?,*\r?", line)
        if hint and delimiter is None:
            # Excel's "sep=;" first line names the delimiter and is not shown as a row.
            delimiter = hint.group(1).decode("latin-1")
        elif line.strip(_BLANK_LINE_CHARS):
            break
        else:
            blank_rows += 1
        if newline == -1:
            raise ReadError(
                f"{label} has no header row: every row is blank. Put the column names "
                "(Email, Event, ...) in the first row and upload again."
            )
        start = newline + 1

    sample = data[start : min(end, start + _SNIFF_BYTES)].decode("utf-8", errors="replace")
    if start + _SNIFF_BYTES < end and "\n" in sample:
        sample = sample[: sample.rindex("\n")]  # drop the row cut off by the sample
    if delimiter is None:
        delimiter = _sniff_delimiter(sample)
    first_row = sample
    if "\n" not in sample and start + _SNIFF_BYTES < end:
        # A header wider than the sample (thousands of columns): count the whole row, or
        # the columns past the sample would be lost.
        newline = data.find(b"\n", start, end)
        first_row = data[start : end if newline == -1 else newline].decode(
            "utf-8", errors="replace"
        )
    width = _widest_row(first_row, delimiter, rows=1)
    if width > workbook_claims.MAX_COLUMNS:
        raise ReadError(_too_many_columns(label, width))

    header_row = blank_rows + 1
    try:
        frame = _parse_with_arrow(data, start, end, delimiter, width)
    except _FallBack:
        frame = _parse_with_c(data[start:end], delimiter, width, label, header_row)
    header = ["" if value is None else str(value) for value in frame.iloc[0]]
    frame = frame.iloc[1:]
    frame.columns = pd.Index(_column_names(header))
    frame.index = pd.RangeIndex(header_row + 1, header_row + 1 + len(frame), name=ROW)
    return _tidy(frame, header)


class _FallBack(Exception):
    """The fast reader cannot read this file exactly: use pandas' C parser."""


def csv_parse_options(
    delimiter: str, *, newlines_in_values: bool, invalid_row_handler: Any = None
) -> pa_csv.ParseOptions:
    """How a CSV is split into cells: quotes as Excel writes them, blank lines kept (they
    are rows the person numbered)."""
    return pa_csv.ParseOptions(
        delimiter=delimiter,
        quote_char='"',
        double_quote=True,
        escape_char=False,
        newlines_in_values=newlines_in_values,
        ignore_empty_lines=False,
        invalid_row_handler=invalid_row_handler,
    )


def text_convert_options(names: list[str]) -> pa_csv.ConvertOptions:
    """Every cell as the text typed: no type guessing, no "NA" turned into a missing value."""
    return pa_csv.ConvertOptions(
        column_types=dict.fromkeys(names, pa.large_string()),
        null_values=[],
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )


# pyarrow's reader goes through a file a block at a time, each block parsed in a thread.
# A file with quotes may hold line breaks in its cells, and then the blocks are found
# one after the other anyway: read as one block it is parsed no slower (1M rows: 0.36-0.43 s
# against 0.29-0.54 s), and each column comes in one piece, as validation needs it (joining
# the pieces is a copy of the whole table, 0.1-0.6 s). Blocks stay under pyarrow's 2 GB.
_ONE_BLOCK_UP_TO = 1 << 30


def _block_size(size: int, *, quoted: bool) -> int | None:
    """The reader's block size: the whole text for a quoted file (see above), else
    pyarrow's own."""
    if not quoted:
        return None
    return max(1, min(size + 1, _ONE_BLOCK_UP_TO))


def _parse_with_arrow(
    data: bytes, start: int, end: int, delimiter: str, width: int
) -> pd.DataFrame:
    """Parse with pyarrow's multithreaded reader; the header comes back as row 0."""
    quoted = data.find(b'"', start, end) != -1
    names = [f"c{i}" for i in range(width)]
    try:
        table = pa_csv.read_csv(
            pa.BufferReader(pa.py_buffer(data).slice(start, end - start)),
            read_options=pa_csv.ReadOptions(
                column_names=names, block_size=_block_size(end - start, quoted=quoted)
            ),
            parse_options=csv_parse_options(delimiter, newlines_in_values=quoted),
            convert_options=text_convert_options(names),
        )
    except pa.ArrowInvalid as error:
        # Rows with more or fewer cells than the header (ragged rows), which pyarrow
        # rejects; anything else is for the C parser to judge and report.
        if "invalid UTF8" in str(error):
            raise _NotUtf8 from error
        raise _FallBack from error
    if quoted and table.num_rows:
        # pyarrow reads an unclosed quote as one cell running to the end of the file;
        # the C parser reports it instead of hiding the rows it swallowed.
        last = table.slice(table.num_rows - 1).to_pylist()[0].values()
        if any("\n" in value or "\r" in value for value in last):
            raise _FallBack
    frame: pd.DataFrame = table.to_pandas()
    return frame


def _parse_with_c(
    data: bytes, delimiter: str, width: int, label: str, header_row: int
) -> pd.DataFrame:
    """The slower reader that keeps blank lines and pads or widens ragged rows."""
    for attempt in range(2):
        try:
            return pd.read_csv(
                io.BytesIO(data),
                sep=delimiter,
                header=None,
                names=list(range(width)),
                index_col=False,
                dtype=str,
                keep_default_na=False,
                na_filter=False,
                skip_blank_lines=False,
                quotechar='"',
                doublequote=True,
                encoding="utf-8",
                engine="c",
                low_memory=False,
            )
        except UnicodeDecodeError as error:
            raise _NotUtf8 from error
        except (pd.errors.ParserError, ValueError) as error:
            message = str(error)
            unclosed = re.search(r"EOF inside string starting at row (\d+)", message)
            if unclosed:
                row = header_row + int(unclosed.group(1))
                raise ReadError(
                    f'{label} has a quote (") that is never closed, starting in row {row}: '
                    'fix that row (a quote inside a value is written twice: "") and upload '
                    "again."
                ) from error
            if attempt == 0 and "Expected" in message:
                # Some rows are longer than the header: keep their extra cells.
                width = max(width, _widest_row(data.decode("utf-8", errors="replace"), delimiter))
                if width > workbook_claims.MAX_COLUMNS:
                    raise ReadError(_too_many_columns(label, width)) from error
                continue
            raise ReadError(
                f"{label} could not be read as CSV ({message.strip()}): open it in a "
                "spreadsheet, save it as CSV UTF-8 and upload again."
            ) from error
    raise AssertionError("unreachable")  # pragma: no cover


def _widest_row(text: str, delimiter: str, rows: int | None = None) -> int:
    """The most cells in one of the first `rows` rows (all rows by default)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        return max(map(len, itertools.islice(reader, rows)), default=1)
    except csv.Error:  # a cell longer than the csv module accepts: count per line
        lines = itertools.islice(text.splitlines(), rows)
        return max((line.count(delimiter) + 1 for line in lines), default=1)


def _sniff_delimiter(sample: str) -> str:
    """The candidate that splits the first rows into the same number of cells, most often."""
    best, best_score = ",", (0.0, 1)
    for delimiter in _DELIMITERS:
        reader = csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter)
        try:
            counts = [len(row) for row, _ in zip(reader, range(50), strict=False) if any(row)]
        except csv.Error:
            continue
        if not counts:
            continue
        mode = max(set(counts), key=lambda n: (counts.count(n), n))
        if mode < 2:
            continue
        score = (counts.count(mode) / len(counts), mode)
        if score > best_score:
            best, best_score = delimiter, score
    return best


# --- JSON lines -----------------------------------------------------------------------


def _read_jsonl(data: bytes, label: str) -> pd.DataFrame:
    utf8, start, _ = _to_utf8(data)
    try:
        text = utf8[start:].decode("utf-8")
    except UnicodeDecodeError:
        text = _cp1252_to_utf8(utf8[start:]).decode("utf-8")
    records: list[dict[str, str]] = []
    line_numbers: list[int] = []
    columns: dict[str, None] = {}
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.strip()
        if not line:
            continue
        try:
            # Numbers kept as written (1.5e3, 4999.00), as validation and the payloads keep them.
            value = json_limits.loads_as_written(line, max_depth=json_limits.MAX_DEPTH + 1)
        except json_limits.NotFinite as error:
            raise ReadError(
                f"Line {number} of {label} holds the number {error}, too large for a JSON "
                'number: write it in quotes as a text (like "1e999") and upload again.'
            ) from None
        except (json_limits.TooDeep, json_limits.NumberTooLong) as error:
            raise ReadError(
                f"Line {number} of {label} is {error}, more than an event can hold: "
                "flatten that line and upload again."
                if isinstance(error, json_limits.TooDeep)
                else f"Line {number} of {label} holds {error}, more than can be read: "
                "write it in quotes as a text and upload again."
            ) from None
        except json.JSONDecodeError as error:
            hint = (
                " (a JSON array: write one object per line instead)"
                if number == 1 and line.startswith("[")
                else ""
            )
            raise ReadError(
                f"Line {number} of {label} is not valid JSON{hint}: {error.msg} at column "
                f"{error.colno}. Each line must hold one complete JSON object; fix or "
                "remove that line and upload again."
            ) from error
        if not isinstance(value, dict):
            raise ReadError(
                f"Line {number} of {label} is not a JSON object: each line must look like "
                '{"email": "jane@example.com", "type": "signup"}.'
            )
        record = _flatten_json_record(value, number, label)
        columns.update(dict.fromkeys(record))
        records.append(record)
        if len(columns) > workbook_claims.MAX_COLUMNS:
            raise ReadError(_too_many_columns(label, len(columns)))
        line_numbers.append(number)
    if not records:
        raise ReadError(_EMPTY)
    header = list(columns)
    names = _column_names(header)
    frame = pd.DataFrame(
        {
            name: [record.get(key, "") for record in records]
            for name, key in zip(names, header, strict=True)
        },
        dtype=str,
    )
    frame.index = pd.Index(line_numbers, name=ROW)
    return frame


def _flatten_json_record(value: dict[str, Any], number: int, label: str) -> dict[str, str]:
    record: dict[str, str] = {}
    for key, item in value.items():
        pairs = (
            [(f"fields.{k}", v) for k, v in item.items()]
            if key == "fields" and isinstance(item, dict)
            else [(key, item)]
        )
        for column, cell in pairs:
            if column in record:
                raise ReadError(
                    f"Line {number} of {label} gives '{column}' twice (as a key and inside "
                    '"fields"): keep one of them and upload again.'
                )
            record[column] = _json_text(cell)
    return record


def _json_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json_limits.dumps(value)  # numbers as written


# --- workbooks --------------------------------------------------------------------------
#
# Workbooks are read in a child process (`bento_ui._workbook_child`) with a memory limit:
# a file that makes the reader ask for more memory than the machine has ends that child,
# never this process (the app, a notebook). What a zipped workbook claims about itself is
# checked here first (`bento_ui.workbook_claims`), so a zip bomb is refused at once.

_CHILD = Path(_workbook_child.__file__)
# The child's address space: the interpreter and its libraries take about 500 MB of
# it; reading a sheet takes about 60 times the file's size (a 3 MB XLSX of 100,000 rows
# peaks at 230 MB). So 1 GB plus 200 times the file, at most 16 GB: a hostile file of a
# few megabytes gets less than 2 GB. BENTO_UI_WORKBOOK_MEMORY (bytes) overrides it.
WORKBOOK_MEMORY_BASE = 2**30
WORKBOOK_MEMORY_PER_BYTE = 200
WORKBOOK_MEMORY_MAX = 16 * 2**30
WORKBOOK_SECONDS = 600


def _workbook_memory(size: int) -> int:
    text = os.environ.get("BENTO_UI_WORKBOOK_MEMORY", "").strip()
    if text.isdigit():
        return int(text)
    return min(WORKBOOK_MEMORY_BASE + WORKBOOK_MEMORY_PER_BYTE * size, WORKBOOK_MEMORY_MAX)


def _check_workbook(data: bytes, label: str) -> None:
    if not data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return  # an .xls compound file: only the child's limit guards it
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            workbook_claims.check_claims(archive, label)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        return  # a cut-off download: the reader reports it as damaged


def _in_child(data: bytes, request: dict[str, Any]) -> pa.Table:
    """Run the workbook reader in its own process; its answer as an Arrow table."""
    label = str(request["label"])
    _check_workbook(data, label)
    limit = _workbook_memory(len(data))
    try:
        done = subprocess.run(
            # -I: the child needs only the installed libraries, and none of this
            # package's files (bento_ui/events.py, ...) may stand in for one of theirs.
            [sys.executable, "-I", str(_CHILD), str(limit), json.dumps(request)],
            input=data,
            capture_output=True,
            timeout=WORKBOOK_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise ReadError(
            f"{label} took more than {WORKBOOK_SECONDS // 60} minutes to read and was "
            "stopped: save it as CSV UTF-8 and upload that (big CSV files are read in chunks)."
        ) from error
    if done.returncode == _workbook_child.REFUSED:
        raise ReadError(done.stdout.decode("utf-8", errors="replace"))
    if done.returncode != 0:
        raise ReadError(_crash_message(data, label))
    with pa.ipc.open_stream(done.stdout) as reader:
        return reader.read_all()


def _crash_message(data: bytes, label: str) -> str:
    far = _farthest_cell(data)
    where = (
        f" Its sheet has a cell as far away as {far}: a cell far from the data was typed in "
        "or formatted; delete the empty rows and columns after the data (Ctrl+End shows "
        "the last cell) and save again."
        if far
        else ""
    )
    return (
        f"{label} could not be read: the reader needed more memory than it may use "
        f"({_workbook_memory(len(data)) / 2**30:.1f} GB) or the file is damaged.{where} Save it as "
        "CSV UTF-8 and upload that (big CSV files are read in chunks)."
    )


_CELL_REF = re.compile(rb'<(?:\w+:)?c\s[^>]*?\br="([A-Z]{1,3})(\d+)"')


def _farthest_cell(data: bytes) -> str | None:
    """The cell reference with the most rows times columns in an XLSX's sheets, if that
    spans more than the claims allow (the sheets were checked for zip bombs already)."""
    best, best_cells = None, workbook_claims.MAX_CELLS
    for block in _workbook_child.worksheet_blocks(data, 64):
        for found in _CELL_REF.finditer(block):
            letters, row = found.group(1).decode(), int(found.group(2))
            cells = workbook_claims.column_number(letters) * row
            if cells > best_cells:
                best, best_cells = f"{letters}{row}", cells
    return best


def _workbook_sheets(data: bytes, label: str) -> list[str]:
    table = _in_child(data, {"op": "sheets", "fmt": "", "sheet": None, "label": label})
    return [str(name) for name in table.column("sheet").to_pylist()]


def _read_workbook(data: bytes, fmt: Format, sheet: str | int | None, label: str) -> pd.DataFrame:
    table = _in_child(data, {"op": "read", "fmt": fmt, "sheet": sheet, "label": label})
    sheet_name = (table.schema.metadata or {}).get(b"sheet", b"").decode("utf-8")
    if table.num_columns > workbook_claims.MAX_COLUMNS:
        raise ReadError(_too_many_columns(label, table.num_columns))
    return _grid_to_frame(table, label, sheet_name)


def _too_many_columns(label: str, columns: int) -> str:
    return (
        f"{label} has {columns:,} columns, more than this tool reads "
        f"({workbook_claims.MAX_COLUMNS:,}): an event needs an email, a type and a few "
        "fields. Delete the columns you do not send (or the empty ones after the data), "
        "save and upload again."
    )


_TEXT = pd.StringDtype("pyarrow", na_value=float("nan"))  # pandas' "str", as the CSV reader gives
_TEXT_TYPES = {pa.string(): _TEXT, pa.large_string(): _TEXT}


def _is_blank(value: Any) -> bool:
    return value is None or (type(value) is str and not value.strip())


def _grid_to_frame(table: pa.Table, label: str, sheet_name: str) -> pd.DataFrame:
    """Text cells from A1 to the text table; the header is the first row that is not
    blank."""
    top = next(
        (
            i
            for i in range(table.num_rows)
            if any(str(cell).strip() for cell in table.slice(i, 1).to_pylist()[0].values())
        ),
        None,
    )
    if top is None:
        raise ReadError(
            f"The sheet '{sheet_name}' in {label} is empty or has no header row: put the "
            "column names (Email, Event, ...) in its first row, or pick another sheet."
        )
    header = [str(cell) for cell in table.slice(top, 1).to_pylist()[0].values()]
    body = table.slice(top + 1)
    # The child's Arrow text columns become pandas' text columns as they are, uncopied.
    frame: pd.DataFrame = body.to_pandas(types_mapper=_TEXT_TYPES.get)
    frame.columns = pd.Index(_column_names(header))
    frame.index = pd.RangeIndex(top + 2, top + 2 + len(frame), name=ROW)
    return _tidy(frame, header)


# --- shared -----------------------------------------------------------------------------


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _column_names(header: Sequence[str]) -> list[str]:
    """Stripped header text; blanks named by column letter; repeats numbered "X (2)"."""
    base = [text.strip() or f"Column {_column_letter(i)}" for i, text in enumerate(header)]
    taken = set(base)
    seen: set[str] = set()
    names = []
    for name in base:
        unique, n = name, 1
        # A generated "Email (2)" must not take the name of a header further right.
        while unique in seen or (n > 1 and unique in taken):
            n += 1
            unique = f"{name} ({n})"
        seen.add(unique)
        names.append(unique)
    return names


REPEATED_HEADERS = "repeated_headers"  # key in a table's `attrs`: see `repeated_headers`


def repeated_headers(header: Sequence[str]) -> dict[str, list[str]]:
    """Headers written more than once, each with the names its columns were given:
    `{"Email": ["Email", "Email (2)"]}` (see `_column_names`)."""
    names = _column_names(header)
    given: dict[str, list[str]] = {}
    for text, name in zip(header, names, strict=True):
        if text.strip():
            given.setdefault(text.strip(), []).append(name)
    return {text: named for text, named in given.items() if len(named) > 1}


def describe_repeated_headers(repeats: dict[str, list[str]]) -> str:
    """A note for the person, "" when no header repeats."""
    if not repeats:
        return ""
    parts = [
        f"'{text}' {len(named)} times (named {', '.join(repr(n) for n in named)})"
        for text, named in list(repeats.items())[:10]
    ]
    more = f" and {len(repeats) - 10:,} more" if len(repeats) > 10 else ""
    return (
        "Some column names repeat: " + "; ".join(parts) + more + ". Each column is kept "
        "under the name shown; rename the headers in the file to choose the names."
    )


def _tidy(frame: pd.DataFrame, header: Sequence[str]) -> pd.DataFrame:
    """Drop columns with neither header nor value, and the blank rows after the data;
    note the headers that repeat in `frame.attrs` (`REPEATED_HEADERS`)."""
    repeats = repeated_headers(header)
    empty_columns = [
        name
        for name, text in zip(frame.columns, header, strict=True)
        if not text.strip() and not frame[name].str.strip().astype(bool).any()
    ]
    if empty_columns:
        frame = frame.drop(columns=empty_columns)
    last = len(frame)
    is_blank: Callable[[Any], bool] = _is_blank
    while last and all(map(is_blank, frame.iloc[last - 1])):
        last -= 1
    if last < len(frame):
        frame = frame.iloc[:last]
    if repeats:
        frame.attrs[REPEATED_HEADERS] = repeats
    return frame
