"""The problems of a validation, collected check by check as whole columns at a time.

Each check adds the rows where it found something (a mask), the column, the values and
one message or a message per row; `Problems.table()` is the problems table `validate`
returns, in spreadsheet row order and, within a row, in the order of the checks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from bento_ui import _arrow_text as arrow_text

ERROR = "error"
WARNING = "warning"
PROBLEM_COLUMNS = ["row", "column", "value", "severity", "message"]
_SHOWN_VALUE_LENGTH = 200


def _pick(values: pd.Series, mask: pd.Series, rows: pd.Index) -> pd.Series:
    """`values` of the rows where `mask` is true. `values` is either a whole column or,
    to spare work on the rows without a problem, only the rows with one."""
    if len(values) == len(mask) and values.index.equals(mask.index):
        flags = mask.to_numpy()
        data = arrow_text.arrow(values)
        if data is None:
            return values[flags]
        # The few rows taken in pyarrow: a mask of a whole column filters every cell.
        picked = arrow_text.flat(data).take(pa.array(np.flatnonzero(flags)))
        return pd.Series(picked, index=rows, dtype=values.dtype, name=values.name)
    return values.reindex(rows)


def _text_array(values: pd.Series) -> pa.Array:
    """`values` as one pyarrow array of text (missing values stay missing)."""
    text = values.astype("str")
    data = arrow_text.arrow(text)
    if data is not None:
        return arrow_text.flat(data)
    return pa.array(text.array, pa.large_string(), from_pandas=True)


def _repeated(text: str, count: int) -> pa.Array:
    """`text` `count` times, as one pyarrow array (its bytes once, offsets repeated)."""
    one = pa.array([text], pa.large_string())
    return one.take(pa.array(np.zeros(count, dtype=np.int64)))


_SCHEMA = pa.schema(
    [("row", pa.int64())] + [(name, pa.large_string()) for name in PROBLEM_COLUMNS[1:]]
)


class Problems:
    """Collects problems check by check, as whole columns at a time. Each check's part is
    a pyarrow table (a pandas frame per part cost more than most checks), or a problems
    table `validate` returned; `table()` makes them one."""

    def __init__(self, keep: pd.Series | None = None) -> None:
        self.parts: list[pa.Table | pd.DataFrame] = []
        self.keep = keep  # the rows problems are kept for (empty rows have none)
        self._keep: np.ndarray | None = None  # `keep` as NumPy, made once

    def add(
        self,
        mask: pd.Series,
        column: str,
        values: pd.Series,
        severity: str,
        message: str | pd.Series,
    ) -> None:
        flags = mask.to_numpy(dtype=bool)
        if self.keep is not None and len(flags) == len(self.keep):
            # Positionally: every whole-column mask comes from the same table, in order.
            # (A mask of some rows only, like the duplicates among valid rows, has no
            # empty rows to drop.)
            if self._keep is None:
                self._keep = self.keep.to_numpy(dtype=bool)
            flags = flags & self._keep
            mask = pd.Series(flags, index=mask.index)
        if not flags.any():
            return
        rows = mask.index[flags]
        shown = _pick(values, mask, rows).astype("str")
        long = shown.str.len() > _SHOWN_VALUE_LENGTH
        if long.any():
            shown = shown.where(~long, shown.str.slice(0, _SHOWN_VALUE_LENGTH) + "...")
        count = len(rows)
        self.parts.append(
            pa.table(
                [
                    pa.array(rows.to_numpy(), pa.int64()),
                    _repeated(column, count),
                    _text_array(shown),
                    _repeated(severity, count),
                    _text_array(_pick(message, mask, rows))
                    if isinstance(message, pd.Series)
                    else _repeated(message, count),
                ],
                schema=_SCHEMA,
            )
        )

    def table(self) -> pd.DataFrame:
        """The problems table: rows in spreadsheet order, within a row the checks' order."""
        if not self.parts:
            return pd.DataFrame({c: pd.Series(dtype="str") for c in PROBLEM_COLUMNS}).astype(
                {"row": "int64"}
            )
        parts = [
            part if isinstance(part, pa.Table) else _from_frame(part) for part in self.parts
        ]
        problems = pa.concat_tables(parts)
        problems = problems.take(pc.sort_indices(problems["row"]))  # a stable sort
        columns = {"row": problems["row"].to_numpy()}
        for name in PROBLEM_COLUMNS[1:]:
            columns[name] = pd.Series(problems[name], dtype="str")
        return pd.DataFrame(columns)


def _from_frame(frame: pd.DataFrame) -> pa.Table:
    """A problems table (as `table()` gives it) as a part."""
    arrays = [pa.array(frame["row"].to_numpy(dtype=np.int64), pa.int64())]
    arrays += [_text_array(frame[name]) for name in PROBLEM_COLUMNS[1:]]
    return pa.table(arrays, schema=_SCHEMA)
