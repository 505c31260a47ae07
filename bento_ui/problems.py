"""The problems of a validation, collected check by check as whole columns at a time.

Each check adds the rows where it found something (a mask), the column, the values and
one message or a message per row; `Problems.table()` is the problems table `validate`
returns, in spreadsheet row order and, within a row, in the order of the checks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

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


def _texts(values: pd.Series) -> pd.Series:
    """`values` as text, numbered from 0 like the other columns of a part."""
    return pd.Series(values.astype("str").array)


def _repeated(text: str, count: int) -> pd.Series:
    """`text` `count` times, as one pyarrow column (its bytes once, offsets repeated)."""
    one = pa.array([text], pa.large_string())
    return pd.Series(one.take(pa.array(np.zeros(count, dtype=np.int64))), dtype="str")


class Problems:
    """Collects problems check by check, as whole columns at a time."""

    def __init__(self, keep: pd.Series | None = None) -> None:
        self.parts: list[pd.DataFrame] = []
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
        # Text columns stay in pyarrow: a Python string per problem costs more than the
        # check that found it.
        texts = _texts(shown)
        self.parts.append(
            pd.DataFrame(
                {
                    "row": rows.to_numpy(),
                    "column": _repeated(column, len(rows)),
                    "value": texts,
                    "severity": _repeated(severity, len(rows)),
                    "message": _texts(_pick(message, mask, rows))
                    if isinstance(message, pd.Series)
                    else _repeated(message, len(rows)),
                }
            )
        )

    def table(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame({c: pd.Series(dtype="str") for c in PROBLEM_COLUMNS}).astype(
                {"row": "int64"}
            )
        problems = pd.concat(self.parts, ignore_index=True)
        problems["row"] = problems["row"].astype("int64")
        # Keep the order of checks within a row; rows in spreadsheet order.
        return problems.sort_values("row", kind="stable").reset_index(drop=True)
