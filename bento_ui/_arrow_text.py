"""Whole-table text checks made of one pyarrow call per column.

pandas spends about half a millisecond on every column operation (`.str` accessors, a
new Series each time), which is seconds for a sheet of a few thousand columns; the same
operation in pyarrow takes microseconds. These helpers answer the common question ("is
anything in this column too long?", "strip every cell") in pyarrow, and validation goes
back to pandas only for the few columns where something was found. Columns not held in
pyarrow take the pandas way, with the same meaning.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_STR = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas' "str"


def _arrow(column: pd.Series) -> pa.ChunkedArray | None:
    """The column's pyarrow data, or None when pandas does not keep it in pyarrow."""
    array = column.array
    if not isinstance(array, pd.arrays.ArrowStringArray):
        return None
    data = array.__arrow_array__()
    return data if isinstance(data, pa.ChunkedArray) else pa.chunked_array([data])


def strip(frame: pd.DataFrame) -> pd.DataFrame:
    """Every cell with the white space around it removed, as `Series.str.strip()`
    (which is pyarrow's `utf8_trim_whitespace` for these columns)."""
    arrays = []
    for _, column in frame.items():
        data = _arrow(column)
        if data is None:
            fallback: pd.DataFrame = frame.apply(lambda col: col.str.strip())
            return fallback
        arrays.append(pc.utf8_trim_whitespace(data))
    names = [str(i) for i in range(len(arrays))]  # the real names need not be text
    table = pa.Table.from_arrays(arrays, names=names)
    stripped: pd.DataFrame = table.to_pandas(
        types_mapper={pa.string(): _STR, pa.large_string(): _STR}.get
    )
    stripped.index = frame.index
    stripped.columns = frame.columns
    return stripped


def filled(column: pd.Series) -> np.ndarray:
    """`column != ""` as a NumPy array (a missing cell counts as filled, as in pandas)."""
    data = _arrow(column)
    if data is None:
        return (column != "").to_numpy(dtype=bool, na_value=True)
    mask = pc.fill_null(pc.not_equal(data, ""), True)
    result: np.ndarray = mask.to_numpy(zero_copy_only=False).astype(bool)
    return result


def blank_rows(frame: pd.DataFrame) -> np.ndarray:
    """True for the rows where every cell is ""."""
    blank = np.ones(len(frame), dtype=bool)
    for _, column in frame.items():
        blank &= ~filled(column)
    return blank


def any_longer(column: pd.Series, limit: int) -> bool:
    """Whether some cell holds more than `limit` characters."""
    data = _arrow(column)
    if data is None:
        return bool((column.str.len() > limit).any())
    longest = pc.max(pc.utf8_length(data)).as_py()
    return longest is not None and longest > limit


def any_starts_with(column: pd.Series, prefixes: tuple[str, ...]) -> bool:
    """Whether some cell starts with one of `prefixes`."""
    data = _arrow(column)
    if data is None:
        return bool(column.str.startswith(prefixes).any())
    return any(pc.any(pc.starts_with(data, pattern=p)).as_py() for p in prefixes)
