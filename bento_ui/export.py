"""CSV files that are safe to open in a spreadsheet.

A cell that starts with `=`, `+`, `-` or `@` (or a tab or carriage return, which some
spreadsheets skip before looking) is run as a formula by Excel, LibreOffice and Google
Sheets: a value copied from an uploaded file or from Bento's answer could then fetch a
URL or run a command when someone opens the report. `safe_csv` prefixes such text cells
with `'`, which the spreadsheet shows as plain text. Numbers are left as they are: `-3`
stored as a number is not a formula. Every CSV and XLSX the tool writes goes through
here (`safe_csv`, `write_safe_csv`, `safe_xlsx_rows`).

A cell holding a line break is quoted, so that it stays one cell: Python's csv module
quotes a `\n` but not a bare `\r`, which many readers take as the end of the row, so a
file with a bare `\r` anywhere is written with every cell quoted.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from os import PathLike
from typing import Any

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """`value` with a leading `'` when it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def neutralised(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` whose text cells and headers cannot run as formulas."""
    out = frame.copy()
    out.columns = [neutralise(str(c)) if isinstance(c, str) else c for c in out.columns]
    for position in range(out.shape[1]):
        column = out.iloc[:, position]
        if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            continue
        out.isetitem(position, column.map(neutralise, na_action="ignore").to_list())
    return out


def _holds_cr(frame: pd.DataFrame, index: bool) -> bool:
    texts = [frame.columns.to_series().astype("str")]
    if index:
        texts.append(frame.index.to_series().astype("str"))
    for position in range(frame.shape[1]):
        column = frame.iloc[:, position]
        if not (pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)):
            texts.append(column.dropna().astype("str"))
    return any(text.str.contains("\r", regex=False).any() for text in texts)


def safe_csv(frame: pd.DataFrame, *, index: bool = False) -> str:
    """The CSV text of `frame`, with formula-like cells neutralised and every cell that
    holds a line break quoted."""
    safe = neutralised(frame)
    if _holds_cr(safe, index):
        return str(safe.to_csv(index=index, lineterminator="\n", quoting=csv.QUOTE_ALL))
    return str(safe.to_csv(index=index, lineterminator="\n"))


def safe_xlsx_rows(rows: Iterable[Iterable[Any]]) -> list[list[Any]]:
    """Rows for an XLSX sheet, with formula-like text cells neutralised (openpyxl writes
    a text starting with `=` as a formula)."""
    return [[neutralise(value) for value in row] for row in rows]


def write_safe_csv(frame: pd.DataFrame, path: str | PathLike[str], *, index: bool = False) -> None:
    """Write `frame` to `path` as UTF-8 CSV, with formula-like cells neutralised."""
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(safe_csv(frame, index=index))
