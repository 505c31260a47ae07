"""Read a workbook's cells as text, in a process of its own.

A hostile or broken workbook can make the reader (python-calamine, written in Rust) ask
for hundreds of gigabytes and abort the whole process, which would take the app down
with it. So `bento_ui.spreadsheet` runs this file as a script in a child process with a
memory limit, and gets back the sheet's cells as text in Arrow IPC:

    python _workbook_child.py LIMIT_BYTES REQUEST_JSON < workbook bytes > Arrow IPC stream

REQUEST_JSON is {"op": "sheets" | "read", "fmt": ..., "sheet": ..., "label": ...}.
Exit 0: stdout is an Arrow stream (the sheet's cells from A1, one text column per sheet
column, the sheet's name in the schema metadata; or a `sheet` column of names). Exit 3:
stdout is the UTF-8 message of a file that cannot be read, for the person. Anything else
(a signal, a memory error) is a crash the parent explains.

This file imports no bento_ui module: as a script it starts in well under a second,
without pandas. The functions are also imported by `bento_ui.spreadsheet` for its tests.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import json
import sys
import zipfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import python_calamine

REFUSED = 3
DAMAGED = "The workbook is damaged or incomplete: open it in Excel and save it again."


class Refused(Exception):
    """The workbook cannot be read; the message says why, for the person."""


def _open_workbook(data: bytes, label: str) -> python_calamine.CalamineWorkbook:
    try:
        return python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
    except python_calamine.PasswordError as error:
        raise Refused(
            f"{label} is protected with a password: open it, remove the password "
            "(File > Info > Protect Workbook), save and upload again."
        ) from error
    except Exception as error:  # calamine raises several unrelated types on bad input
        raise Refused(DAMAGED) from error


def _worksheet_names(workbook: python_calamine.CalamineWorkbook) -> list[str]:
    return [
        sheet.name
        for sheet in workbook.sheets_metadata
        if sheet.typ == python_calamine.SheetTypeEnum.WorkSheet
    ]


def sheet_names(data: bytes, label: str) -> list[str]:
    with _open_workbook(data, label) as workbook:
        return _worksheet_names(workbook)


def _pick_sheet(workbook: python_calamine.CalamineWorkbook, sheet: str | int | None) -> str:
    names = _worksheet_names(workbook)
    if not names:
        raise Refused("The workbook has no worksheets: add one with a header row and events.")
    if sheet is None:
        visible = [
            meta.name
            for meta in workbook.sheets_metadata
            if meta.name in names and meta.visible == python_calamine.SheetVisibleEnum.Visible
        ]
        return (visible or names)[0]
    if isinstance(sheet, int) and not isinstance(sheet, bool):
        if 0 <= sheet < len(names):
            return names[sheet]
    elif isinstance(sheet, str):
        if sheet in names:
            return sheet
        loose = [n for n in names if n.strip().casefold() == sheet.strip().casefold()]
        if len(loose) == 1:
            return loose[0]
    listed = ", ".join(f"'{n}'" for n in names)
    raise Refused(f"There is no sheet {sheet!r} in this workbook: pick one of {listed}.")


def read_sheet(data: bytes, fmt: str, sheet: str | int | None, label: str) -> pa.Table:
    """The picked sheet's cells from A1 as text (`grid_table`)."""
    with ThreadPoolExecutor(1) as pool:
        # The scan for error cells unzips the sheets again: in a thread, while calamine
        # reads (zlib lets go of the GIL), so it costs next to no time.
        errors = pool.submit(_has_error_cells, data) if fmt == "xlsx" else None
        exact = False  # read by openpyxl, which keeps long integers and error values
        with _open_workbook(data, label) as workbook:
            sheet_name = _pick_sheet(workbook, sheet)
            try:
                grid: list[list[Any]] = workbook.get_sheet_by_name(sheet_name).to_python(
                    skip_empty_area=False
                )
            except Exception as error:  # calamine parses sheets lazily
                grid = _openpyxl_grid(data, sheet_name) if fmt == "xlsx" else []
                if not grid:
                    raise Refused(DAMAGED) from error
                exact = True
        # calamine reads an error cell such as #N/A as blank, which would drop it
        # silently; and it reads every number as a float: an id longer than 15 digits,
        # stored exactly in the file, would come back rounded. openpyxl keeps both.
        if errors is not None and not exact and errors.result():
            grid, exact = _openpyxl_grid(data, sheet_name) or grid, True
    table, rounded = grid_table(sheet_name, grid)
    if fmt == "xlsx" and not exact and rounded:
        grid = _openpyxl_grid(data, sheet_name)
        if grid:
            table, _ = grid_table(sheet_name, grid)
    return table


def worksheet_blocks(data: bytes, overlap: int) -> Iterator[bytes]:
    """The XML of an XLSX's worksheets, 1 MB at a time, each block led by the last
    `overlap` bytes of the one before (so a pattern cut between two is still whole)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for name in archive.namelist():
                if not name.startswith("xl/worksheets/") or not name.endswith(".xml"):
                    continue
                with archive.open(name) as sheet_xml:
                    tail = b""
                    for block in iter(lambda: sheet_xml.read(1 << 20), b""):
                        yield tail + block
                        tail = block[-overlap:]
    except (zipfile.BadZipFile, OSError, EOFError):
        return


def _has_error_cells(data: bytes) -> bool:
    """Whether any worksheet of an XLSX holds an error value (`t="e"` in its XML)."""
    return any(b't="e"' in block for block in worksheet_blocks(data, 8))


def _openpyxl_grid(data: bytes, sheet_name: str) -> list[list[Any]]:
    """The sheet's cells from A1 read by openpyxl, or [] when it can't read them either."""
    import openpyxl  # only needed for the rare files calamine cannot read exactly

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:
        return []
    try:
        worksheet = workbook[sheet_name]
        return [list(row) for row in worksheet.iter_rows(min_row=1, min_col=1, values_only=True)]
    except Exception:
        return []
    finally:
        workbook.close()


def _number_text(value: float) -> str:
    if value.is_integer():
        return str(int(value))  # also turns -0.0 into "0"
    return str(np.format_float_positional(value, trim="-"))


def _duration_text(value: dt.timedelta) -> str:
    seconds = round(value.total_seconds())
    sign = "-" if seconds < 0 else ""
    hours, rest = divmod(abs(seconds), 3600)
    return f"{sign}{hours}:{rest // 60:02d}:{rest % 60:02d}"


def _datetime_text(value: dt.datetime) -> str:
    if value.microsecond:
        value = value.replace(microsecond=round(value.microsecond, -3) % 1_000_000)
    if value.time() == dt.time(0):
        return value.date().isoformat()
    return value.isoformat(timespec="milliseconds" if value.microsecond else "seconds")


def cell_text(value: Any) -> str:
    """A workbook cell as Excel shows it in General format."""
    kind = type(value)
    if kind is str:
        return str(value)
    if value is None:
        return ""
    if kind is bool:
        return "TRUE" if value else "FALSE"
    if kind is int:
        return str(value)
    if kind is float:
        return _number_text(value)
    if isinstance(value, dt.datetime):
        return _datetime_text(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat(timespec="seconds")
    if isinstance(value, dt.timedelta):
        return _duration_text(value)
    return str(value)


# --- whole columns at a time -------------------------------------------------------------
#
# A sheet of a million rows has ten million cells or more: `cell_text` on each would take
# seconds. A column is converted by kind instead (all its texts in one call, all its floats
# in a few NumPy and Arrow calls), and put back in order with one Arrow `take`.

_BLOCK_ROWS = 1 << 17  # rows converted at a time: the temporary arrays stay small


def _float_texts(numbers: np.ndarray) -> pa.Array:
    """`_number_text` of each float: whole numbers as integers, others in positional
    notation with the fewest digits that read back the same."""
    whole = np.isfinite(numbers) & (numbers == np.trunc(numbers)) & (np.abs(numbers) < 2.0**63)
    if whole.all():
        return pa.array(numbers.astype(np.int64)).cast(pa.string())
    texts = [_number_text(v) for v in numbers.tolist()]
    return pa.array(texts, pa.string())


def _datetime_texts(values: list[dt.datetime]) -> pa.Array:
    """`_datetime_text` of each datetime: in Arrow when all are whole seconds in years
    1000 to 9999 (always, from calamine), else one at a time."""
    stamps = pa.array(values, pa.timestamp("us"))
    micros = stamps.cast(pa.int64()).to_numpy()
    seconds, fraction = np.divmod(micros, 1_000_000)
    if fraction.any() or micros.min() < _YEAR_1000_US:
        return pa.array(list(map(_datetime_text, values)), pa.string())
    texts = stamps.cast(pa.timestamp("s")).cast(pa.string())  # "2024-01-05 13:45:00"
    full = pc.utf8_replace_slice(texts, 10, 11, "T")
    midnight = pa.array(seconds % 86_400 == 0)
    return pc.if_else(midnight, pc.utf8_slice_codeunits(texts, 0, 10), full)


_YEAR_1000_US = int((dt.datetime(1000, 1, 1) - dt.datetime(1970, 1, 1)).total_seconds()) * 10**6


def _kind_texts(kind: type, values: list[Any]) -> pa.Array:
    if kind is float:
        return _float_texts(np.array(values, dtype=np.float64))
    if kind is bool:
        return pa.array(["TRUE" if v else "FALSE" for v in values], pa.string())
    if kind is dt.datetime:
        return _datetime_texts(values)
    if kind is dt.date:
        return pa.array(list(map(dt.date.isoformat, values)), pa.string())
    return pa.array(list(map(cell_text, values)), pa.string())


def _rounded(kind: type, values: list[Any]) -> bool:
    """Whether a float is too large to hold every digit of an integer written in full."""
    return kind is float and bool((np.abs(np.array(values, dtype=np.float64)) >= 2.0**53).any())


def column_texts(values: Sequence[Any]) -> tuple[pa.Array, bool]:
    """`cell_text` of every cell of one column, as an Arrow string array; and whether a
    float in it may be rounded (see `_rounded`)."""
    try:  # most columns hold only text: Arrow takes them as they are
        texts = pa.array(values, pa.string())
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        pass
    else:
        return (pc.fill_null(texts, "") if texts.null_count else texts), False  # None: blank
    kinds = set(map(type, values))
    if len(kinds) == 1:
        kind = kinds.pop()
        return _kind_texts(kind, list(values)), _rounded(kind, list(values))
    codes = {kind: code for code, kind in enumerate(kinds)}
    kind_of = np.fromiter(map(codes.__getitem__, map(type, values)), np.int8, len(values))
    order, pieces, rounded = [], [], False
    for kind, code in codes.items():
        mask = kind_of == code
        order.append(np.flatnonzero(mask))
        part = list(itertools.compress(values, mask.tolist()))
        pieces.append(pa.array(part, pa.string()) if kind is str else _kind_texts(kind, part))
        rounded = rounded or _rounded(kind, part)
    # The pieces hold the cells grouped by kind; `place[i]` is where row i went.
    place = np.empty(len(values), dtype=np.int64)
    place[np.concatenate(order)] = np.arange(len(values))
    return pa.concat_arrays(pieces).take(pa.array(place)), rounded


def grid_table(sheet_name: str, grid: list[list[Any]]) -> tuple[pa.Table, bool]:
    """The cells (rows maybe ragged) as a table of text columns c0, c1, ... padded with "",
    the sheet's name in its metadata; and whether a float in it may be rounded."""
    width = max(map(len, grid), default=0)
    if any(len(row) != width for row in grid):
        grid = [list(row) + [""] * (width - len(row)) for row in grid]
    blocks: list[list[pa.Array]] = [[] for _ in range(width)]
    rounded = False
    for start in range(0, len(grid), _BLOCK_ROWS):
        # Column i of the block is every width-th cell from i (faster than zip(*rows)).
        cells = list(itertools.chain.from_iterable(grid[start : start + _BLOCK_ROWS]))
        for i in range(width):
            texts, big = column_texts(cells[i::width])
            blocks[i].append(texts)
            rounded = rounded or big
    columns = {f"c{i}": pa.chunked_array(parts, pa.string()) for i, parts in enumerate(blocks)}
    return pa.table(columns).replace_schema_metadata({"sheet": sheet_name}), rounded


def _limit_memory(limit: int) -> None:
    try:
        import resource
    except ImportError:  # not on Windows: the reader runs without a limit there
        return
    if limit > 0:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def main(argv: list[str]) -> int:
    limit, request = int(argv[0]), json.loads(argv[1])
    data = sys.stdin.buffer.read()
    _limit_memory(limit)
    try:
        if request["op"] == "sheets":
            table = pa.table({"sheet": pa.array(sheet_names(data, request["label"]), pa.string())})
        else:
            table = read_sheet(data, request["fmt"], request["sheet"], request["label"])
    except Refused as refused:
        sys.stdout.buffer.write(str(refused).encode("utf-8"))
        return REFUSED
    with pa.ipc.new_stream(sys.stdout.buffer, table.schema) as writer:
        writer.write_table(table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
