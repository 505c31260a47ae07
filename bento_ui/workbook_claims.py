"""What a zipped workbook (XLSX, ODS) claims about itself, checked before it is read.

A workbook is a zip archive of XML files. A few megabytes can claim gigabytes: an entry
that unpacks a thousand times larger (a zip bomb, or one giant cell), a sheet whose
dimension spans A1:XFD1048576, a shared-strings table that claims 96 billion entries
(the reader reserves room for all of them at once). Each claim is read from the zip's
directory or from the first bytes of an XML part, so checking costs next to nothing,
and a file that claims too much is refused with a message before any reader sees it.

The bounds are far above what a real export needs: a million rows of 50 columns is
50 million cells, and its sheet unpacks to 10-30 times its zipped size.
"""

from __future__ import annotations

import re
import zipfile

from bento_ui.errors import ReadError

MAX_COLUMNS = 2_000  # the same bound as for CSV files
MAX_CELLS = 60_000_000
MAX_ENTRIES = 10_000
MAX_UNPACKED = 4 * 2**30  # all entries together
MAX_RATIO = 200  # unpacked / packed, for an entry that unpacks to more than RATIO_FLOOR
RATIO_FLOOR = 50 * 2**20
_HEAD = 4096

_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\s+ref="([A-Z]{1,3})?(\d+)?(?::([A-Z]{1,3})(\d+))?"')
_UNIQUE_COUNT = re.compile(rb'<(?:\w+:)?sst\b[^>]*?\buniqueCount="(\d+)"')
_SMALLEST_STRING = len(b"<si/>")

_TOO_BIG_ADVICE = (
    "if the sheet really holds less, a cell far from the data was typed in or formatted: "
    "delete the empty rows and columns after the data (Ctrl+End shows the last cell), save "
    "and upload again, or save it as CSV UTF-8 and upload that"
)


def column_number(letters: str) -> int:
    """1 for A, 27 for AA, 16384 for XFD."""
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - 64
    return number


def check_claims(archive: zipfile.ZipFile, label: str) -> None:
    """Raise ReadError when the archive claims more than a real spreadsheet needs."""
    entries = archive.infolist()
    if len(entries) > MAX_ENTRIES:
        raise ReadError(
            f"{label} holds {len(entries):,} files inside, more than any spreadsheet: "
            "it is not a workbook this tool can read. Save it as XLSX or CSV and upload again."
        )
    total = sum(entry.file_size for entry in entries)
    for entry in entries:
        ratio = entry.file_size / max(entry.compress_size, 1)
        if entry.file_size > RATIO_FLOOR and ratio > MAX_RATIO:
            raise ReadError(
                f"{label} unpacks to {_size(total)} from {_size(entry.compress_size)} "
                f"({entry.filename} grows {ratio:,.0f} times): no real spreadsheet does, so "
                "it is not read. If it is yours, open it in Excel, save it as CSV UTF-8 and "
                "upload that."
            )
    if total > MAX_UNPACKED:
        raise ReadError(
            f"{label} unpacks to {_size(total)}, more than this tool reads "
            f"({_size(MAX_UNPACKED)}): split it into smaller files, or save it as CSV UTF-8 "
            "and upload that (big CSV files are read in chunks)."
        )
    for entry in entries:
        name = entry.filename
        if name.startswith("xl/worksheets/") and name.endswith(".xml"):
            _check_dimension(_head(archive, entry), name, label)
        elif name == "xl/sharedStrings.xml":
            _check_shared_strings(_head(archive, entry), entry.file_size, label)


def _head(archive: zipfile.ZipFile, entry: zipfile.ZipInfo) -> bytes:
    try:
        with archive.open(entry) as part:
            return part.read(_HEAD)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError):
        return b""  # damaged or encrypted: the reader says so


def _check_dimension(head: bytes, name: str, label: str) -> None:
    found = _DIMENSION.search(head)
    if not found or not found.group(3):
        return
    first_col, first_row, last_col, last_row = found.groups()
    columns = column_number(last_col.decode()) - column_number((first_col or b"A").decode()) + 1
    rows = int(last_row) - int(first_row or b"1") + 1
    if columns > MAX_COLUMNS or rows * columns > MAX_CELLS:
        span = found.group(0).split(b'"')[1].decode()
        sheet = name.rsplit("/", 1)[-1].removesuffix(".xml")
        raise ReadError(
            f"{label} says its {sheet} spans {span} ({rows:,} rows of {columns:,} columns), "
            f"more than this tool reads ({MAX_COLUMNS:,} columns, {MAX_CELLS:,} cells): "
            + _TOO_BIG_ADVICE
            + "."
        )


def _check_shared_strings(head: bytes, size: int, label: str) -> None:
    found = _UNIQUE_COUNT.search(head)
    if found and int(found.group(1)) > size // _SMALLEST_STRING + 1:
        raise ReadError(
            f"{label} is damaged: its table of texts claims {int(found.group(1)):,} entries, "
            "more than the file holds. Open it in Excel and save it again, or save it as "
            "CSV UTF-8 and upload that."
        )


def _size(count: int) -> str:
    if count < 1024:
        return f"{count:,} bytes"
    value = count / 1024
    for unit in ("KB", "MB"):
        if value < 1024:
            return f"{value:,.1f} {unit}"
        value /= 1024
    return f"{value:,.1f} GB"
