"""A 64-bit hash of every cell of a row, made from pyarrow's bytes with NumPy.

A row that repeats a row of an earlier chunk is found by its hash alone (the earlier
row itself is gone), so the hash must cover every byte of every cell, as
`pandas.util.hash_pandas_object` does; that one makes a Python string of each cell
first, which costs about 2.8 s per million rows of an export. Here each text column is
hashed 8 bytes at a time, straight from its Arrow buffer: one NumPy pass per 8 bytes of
the longest cell, over only the cells that long, so a column costs about its bytes / 8.

Equal rows always get equal hashes. Different rows get different ones but with the
odds of any 64-bit hash (about 1 in 10^6 that two of five million rows share one by
chance, as with pandas' hash).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from bento_ui import _arrow_text as arrow_text

__all__ = ["row_hashes"]

_M1 = np.uint64(0xFF51AFD7ED558CCD)  # murmur3's finaliser constants
_M2 = np.uint64(0xC4CEB33FE63495F3)
_SEED = np.uint64(0x9E3779B97F4A7C15)
_NULL = np.uint64(0x6A09E667F3BCC909)  # a missing cell: not the hash of any text


def _mix(x: np.ndarray) -> np.ndarray:
    """murmur3's 64-bit finaliser (a bijection that spreads every bit over all 64)."""
    x ^= x >> np.uint64(33)
    x *= _M1
    x ^= x >> np.uint64(33)
    x *= _M2
    x ^= x >> np.uint64(33)
    return x


def _step(state: np.ndarray, word: np.ndarray) -> np.ndarray:
    """The hash so far with 8 more bytes in it."""
    state ^= word
    state *= _M1
    state ^= state >> np.uint64(32)
    return state


def row_hashes(frame: pd.DataFrame) -> np.ndarray:
    """One uint64 per row of `frame`, from every cell in column order: equal cells give
    equal hashes. Columns not held in pyarrow are hashed by pandas."""
    hashes = np.zeros(len(frame), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for _, column in frame.items():
            data = arrow_text.arrow(column)
            if data is None:
                part = pd.util.hash_pandas_object(column, index=False).to_numpy(np.uint64)
            else:
                part = _cell_hashes(arrow_text.flat(data))
            hashes = _step(hashes, part)  # a bijection of the hash so far, for each cell
        return _mix(hashes)


def _cell_hashes(array: pa.LargeStringArray) -> np.ndarray:
    """The hash of each cell's bytes (its length first, so that cells split differently
    differ), 8 bytes at a time."""
    starts, values = arrow_text.offsets_and_bytes(array)
    lengths = np.diff(starts)
    first, end = int(starts[0]), int(starts[-1])
    # The bytes in use and 8 zero bytes after them, read as a uint64 at any byte offset.
    padded = np.zeros(end - first + 8, dtype=np.uint8)
    padded[: end - first] = values[first:end]
    words = np.ndarray((end - first + 1,), "<u8", padded, strides=(1,))
    longest = int(lengths.max()) if len(lengths) else 0
    if longest <= 8:  # one word a cell (most columns of most exports): one step
        word = words[starts[:-1] - first]
        cut = ((8 - lengths) * 8).astype(np.uint64)
        word = np.where(lengths > 0, (word << (cut & np.uint64(63))) >> (cut & np.uint64(63)), 0)
        hashes = _step(lengths.astype(np.uint64) * _SEED, word.astype(np.uint64))
    elif int(lengths.min()) == longest:  # all as long (dates, ids): word k of each cell
        hashes = lengths.astype(np.uint64) * _SEED  # is every `longest` bytes from byte 8k
        for k in range(0, longest, 8):
            column_word: np.ndarray = np.array(
                np.ndarray((len(lengths),), "<u8", padded, offset=k, strides=(longest,))
            )
            if longest - k < 8:
                spare_bits = np.uint64((8 - (longest - k)) * 8)
                np.left_shift(column_word, spare_bits, out=column_word)
                np.right_shift(column_word, spare_bits, out=column_word)
            hashes = _step(hashes, column_word)
    else:
        # Longest cells first: the cells that still have bytes at word k are a prefix.
        spare = (longest - lengths).astype(np.uint16 if longest < 1 << 16 else np.int64)
        order = np.argsort(spare, kind="stable")
        ordered = lengths[order]
        at = starts[:-1][order] - first
        state = ordered.astype(np.uint64) * _SEED
        # How many cells have more than 8k bytes, for each k.
        reach = np.searchsorted(-ordered, -np.arange(0, longest + 8, 8), side="left")
        for k in range(len(reach) - 1):
            count, full = int(reach[k]), int(reach[k + 1])
            word = words[at[:count] + 8 * k]
            if full < count:  # the cells ending in this word: keep their own (low) bytes
                cut = ((8 * (k + 1) - ordered[full:count]) * 8).astype(np.uint64)
                word[full:count] = (word[full:count] << cut) >> cut
            _step(state[:count], word)  # in place
        hashes = np.empty(len(lengths), dtype=np.uint64)
        hashes[order] = state
    if array.null_count:
        nulls = array.is_null().to_numpy(zero_copy_only=False)
        hashes[nulls] = _NULL
    return hashes
