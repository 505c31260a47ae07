"""Fixes a person makes to an uploaded sheet, as a list of operations.

The uploaded bytes are never changed: a fix is a small record (set one cell, trim a
column, lower-case it, find and replace, fill its empty cells, drop a row, say what unit
its amounts are in), and the sheet the tool sends is the original with the list applied
in order. Undo is dropping the last one. `edits_of` turns the list into the cells it
changed (row -> header -> text), the form a send run stores so a resume can read the
file again the same way; a dropped row is every cell emptied, which validation skips.

The list is kept in the user data folder (`bento_ui.paths`), one JSON file per uploaded
file keyed by its SHA-256, one list per sheet, so it survives a browser refresh.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from bento_ui.paths import data_home

SET, TRIM, LOWER, REPLACE, FILL, DROP, UNIT = (
    "set", "trim", "lower", "replace", "fill", "drop", "unit")  # fmt: skip
OPERATIONS = (SET, TRIM, LOWER, REPLACE, FILL, DROP, UNIT)
FIXES_DIR = "fixes"


@dataclass(frozen=True)
class Fix:
    """One operation. `column` is the person's header; `row` the spreadsheet row (for
    set and drop); `find` what replace looks for; `value` the new text (set, fill,
    replace) or the unit (unit: "major" or "minor")."""

    op: str
    column: str = ""
    row: int | None = None
    find: str = ""
    value: str = ""

    def describe(self) -> str:
        """The fix in a sentence, for the list the person reviews."""
        where = f"'{self.column}'"
        if self.op == SET:
            return f"Row {self.row}: {where} set to '{self.value}'"
        if self.op == TRIM:
            return f"{where}: spaces trimmed"
        if self.op == LOWER:
            return f"{where}: lower-cased"
        if self.op == REPLACE:
            return f"{where}: '{self.find}' replaced with '{self.value}'"
        if self.op == FILL:
            return f"{where}: empty cells filled with '{self.value}'"
        if self.op == DROP:
            return f"Row {self.row} dropped: it is not sent"
        if self.op == UNIT:
            unit = "currency units (49.99)" if self.value == "major" else "cents (4999)"
            return f"{where}: amounts read as {unit}"
        return f"{self.op} {where}"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fix:
        row = data.get("row")
        return cls(op=str(data["op"]), column=str(data.get("column", "")),
                   row=None if row is None else int(row), find=str(data.get("find", "")),
                   value=str(data.get("value", "")))  # fmt: skip


def _text_column(column: pd.Series) -> pd.Series:
    return column.astype("object").where(column.notna(), "").astype("str")


def apply_fixes(sheet: pd.DataFrame, fixes: Iterable[Fix]) -> pd.DataFrame:
    """A copy of `sheet` with `fixes` applied in order; dropped rows emptied (every cell
    ""), so their row numbers stay and validation skips them; a fill leaves empty rows
    empty. `sheet` is not changed."""
    fixed = sheet.copy()
    for fix in fixes:
        if fix.op == DROP:
            if fix.row in fixed.index:
                fixed.loc[fix.row, :] = ""
            continue
        if fix.column not in fixed.columns:
            continue
        if fix.op == SET:
            if fix.row in fixed.index:
                fixed.at[fix.row, fix.column] = fix.value
            continue
        column = _text_column(fixed[fix.column])
        if fix.op == TRIM:
            column = column.str.strip()
        elif fix.op == LOWER:
            column = column.str.lower()
        elif fix.op == REPLACE and fix.find:
            column = column.str.replace(fix.find, fix.value, regex=False)
        elif fix.op == FILL:  # not in empty rows: those are skipped, and stay skipped
            blank_rows = fixed.astype("str").apply(lambda c: c.str.strip() == "").all(axis=1)
            column = column.where((column.str.strip() != "") | blank_rows, fix.value)
        fixed[fix.column] = column
    return fixed


def dropped_rows(fixes: Iterable[Fix]) -> set[int]:
    return {int(f.row) for f in fixes if f.op == DROP and f.row is not None}


def unit_of(fixes: Iterable[Fix], column: str) -> str | None:
    """The unit the last unit fix of `column` chose, or None."""
    units = [f.value for f in fixes if f.op == UNIT and f.column == column]
    return units[-1] if units else None


def edits_of(sheet: pd.DataFrame, fixes: Sequence[Fix]) -> dict[int, dict[str, str]]:
    """The cells `fixes` changed (row -> header -> new text), nothing else."""
    if not fixes:
        return {}
    fixed = apply_fixes(sheet, fixes)
    edits: dict[int, dict[str, str]] = {}
    for header in sheet.columns:
        before, after = _text_column(sheet[header]), _text_column(fixed[header])
        for row in before.index[(before != after).to_numpy()]:
            edits.setdefault(int(row), {})[str(header)] = str(after[row])
    return dict(sorted(edits.items()))


# ---------------------------------------------------------------- kept on disk


def fixes_path(file_hash: str, environ: Mapping[str, str] | None = None) -> Path:
    """Where the fixes of the file with this SHA-256 are kept."""
    name = "".join(c for c in file_hash.lower() if c in "0123456789abcdef")
    return data_home(environ) / FIXES_DIR / f"{name or 'unknown'}.json"


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # none kept yet, or a damaged file: start again, never crash
    return data if isinstance(data, dict) else {}


def load_fixes(file_hash: str, sheet: str = "",
               environ: Mapping[str, str] | None = None) -> list[Fix]:
    """The fixes kept for this file's sheet, [] when none (or the file is unreadable)."""
    entries = _read(fixes_path(file_hash, environ)).get(sheet, [])
    fixes = []
    for entry in entries if isinstance(entries, list) else []:
        try:
            fix = Fix.from_dict(entry)
        except (KeyError, TypeError, ValueError):
            continue
        if fix.op in OPERATIONS:
            fixes.append(fix)
    return fixes


def save_fixes(file_hash: str, sheet: str, fixes: Sequence[Fix],
               environ: Mapping[str, str] | None = None) -> None:
    """Keep `fixes` for this file's sheet (none: forget them), written atomically."""
    path = fixes_path(file_hash, environ)
    data = _read(path)
    if fixes:
        data[sheet] = [asdict(f) for f in fixes]
    else:
        data.pop(sheet, None)
    if not data:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(temporary, path)
