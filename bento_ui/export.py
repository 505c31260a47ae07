"""CSV files that are safe to open in a spreadsheet.

A cell that starts with `=`, `+`, `-` or `@` (or a tab or carriage return, which some
spreadsheets skip before looking) is run as a formula by Excel, LibreOffice and Google
Sheets: a value copied from an uploaded file or from Bento's answer could then fetch a
URL or run a command when someone opens the report. `safe_csv` prefixes such text cells
with `'`, which the spreadsheet shows as plain text. Numbers are left as they are: `-3`
stored as a number is not a formula. Every CSV the tool writes goes through here.
"""

from __future__ import annotations

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


def safe_csv(frame: pd.DataFrame, *, index: bool = False) -> str:
    """The CSV text of `frame`, with formula-like cells neutralised."""
    return str(neutralised(frame).to_csv(index=index, lineterminator="\n"))


def write_safe_csv(frame: pd.DataFrame, path: str | PathLike[str], *, index: bool = False) -> None:
    """Write `frame` to `path` as UTF-8 CSV, with formula-like cells neutralised."""
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(safe_csv(frame, index=index))
