"""Whole-table text checks made of one pyarrow call per column.

pandas spends about half a millisecond on every column operation (`.str` accessors, a
new Series each time), which is seconds for a sheet of a few thousand columns; the same
operation in pyarrow takes microseconds. These helpers answer the common question ("is
anything in this column too long?", "strip every cell") in pyarrow, and validation goes
back to pandas only for the few columns where something was found. Columns not held in
pyarrow take the pandas way, with the same meaning.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_STR = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas' "str"

T = TypeVar("T")
R = TypeVar("R")

# pyarrow's kernels and NumPy's whole-array operations let go of the GIL: the columns of
# a big table are worked on two at a time, as pyarrow's own CSV reader does.
_COLUMNS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="bento-ui-columns")
# Rows: below that, threads gain little (a tenth at 100k rows). The chunked reader's
# chunks (100k rows) stay in one thread: each thread's allocator keeps memory of its own,
# and a 5M-row file read in chunks must stay under 1 GB (0.87 GB, against 0.97 in threads).
PARALLEL_FROM = 200_000


def each_column(work: Callable[[T], R], columns: Sequence[T], rows: int) -> list[R]:
    """`[work(c) for c in columns]`, two columns at a time when the table is big.
    `work` must not itself hand work to this pool (it would wait for itself)."""
    if rows < PARALLEL_FROM or len(columns) < 2:
        return [work(column) for column in columns]
    return list(_COLUMNS.map(work, columns))


# Two: validation checks a big table's emails and its dates each in a thread of its own.
_BESIDE = ThreadPoolExecutor(max_workers=2, thread_name_prefix="bento-ui-beside")


def beside(work: Callable[[], R], rows: int) -> Future[R]:
    """`work()` started in a thread of its own, beside the caller's, when the table is
    big; else done at once. `.result()` gives its answer (or raises its error)."""
    if rows >= PARALLEL_FROM:
        return _BESIDE.submit(work)
    done: Future[R] = Future()
    try:
        done.set_result(work())
    except Exception as error:
        done.set_exception(error)
    return done


def arrow(column: pd.Series) -> pa.ChunkedArray | None:
    """The column's pyarrow data, or None when pandas does not keep it in pyarrow."""
    array = column.array
    if not isinstance(array, pd.arrays.ArrowStringArray):
        return None
    data = array.__arrow_array__()
    return data if isinstance(data, pa.ChunkedArray) else pa.chunked_array([data])


def one_chunk(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with each text column in one piece of memory. A CSV read in parallel comes
    in a hundred pieces per column, and pyarrow joins them again for every `take`,
    filter or byte-level look: joining them once costs one copy of the table."""
    pieces = {
        name: column
        for name, column in frame.items()
        if (data := arrow(column)) is not None and data.num_chunks > 1
    }
    if not pieces:
        return frame
    joined = frame.copy(deep=False)
    names = list(pieces)
    arrays = each_column(lambda name: flat(arrow(pieces[name])), names, len(frame))
    for name, array in zip(names, arrays, strict=True):
        joined[name] = pd.Series(array, index=frame.index, dtype=pieces[name].dtype)
    return joined


def same_texts(a: pd.Series, b: pd.Series) -> bool:
    """Whether two columns hold the very same pyarrow data (as `strip` leaves a column
    with nothing to trim): then they are equal without comparing them."""
    data_a, data_b = arrow(a), arrow(b)
    if data_a is None or data_b is None or data_a.num_chunks != 1 or data_b.num_chunks != 1:
        return False
    chunk_a, chunk_b = data_a.chunk(0), data_b.chunk(0)
    return (
        len(chunk_a) == len(chunk_b)
        and chunk_a.offset == chunk_b.offset
        and chunk_a.type == chunk_b.type
        and all(
            x is y or (x is not None and y is not None and x.address == y.address)
            for x, y in zip(chunk_a.buffers(), chunk_b.buffers(), strict=True)
        )
    )


def rows(frame: pd.DataFrame, keep: np.ndarray) -> pd.DataFrame:
    """`frame[keep]` (a boolean mask), filtered in pyarrow when every column is text
    held there: pandas takes each column through a NumPy index array of its own."""
    arrays = [arrow(column) for _, column in frame.items()]
    if keep.all() or any(data is None for data in arrays) or (frame.dtypes != _STR).any():
        return frame[keep]
    kept = int(np.count_nonzero(keep))
    if kept * 8 < len(keep):  # a few rows (repeats, problems): taken by their positions
        positions = pa.array(np.flatnonzero(keep))
        filtered = each_column(lambda data: pc.take(data, positions), arrays, kept)
    else:
        mask = pa.array(keep)
        filtered = each_column(lambda data: pc.filter(data, mask), arrays, kept)
    named = {str(i): data for i, data in enumerate(filtered)}
    table = pa.table(named) if named else None
    result: pd.DataFrame = (
        table.to_pandas(types_mapper={pa.string(): _STR, pa.large_string(): _STR}.get)
        if table is not None
        else pd.DataFrame(index=range(kept))
    )
    result.index = frame.index[keep]
    result.columns = frame.columns
    result.attrs = dict(frame.attrs)
    return result


def strip(frame: pd.DataFrame) -> pd.DataFrame:
    """Every cell with the white space around it removed, as `Series.str.strip()`
    (which is pyarrow's `utf8_trim_whitespace` for these columns). Only the columns where
    some cell starts or ends with a byte that white space can start or end with are
    trimmed: the others are kept as they are (most columns of most exports)."""
    held = [arrow(column) for _, column in frame.items()]
    if any(data is None for data in held):
        fallback: pd.DataFrame = frame.apply(lambda col: col.str.strip())
        return fallback
    arrays = each_column(_trimmed, held, len(frame))
    names = [str(i) for i in range(len(arrays))]  # the real names need not be text
    table = pa.Table.from_arrays(arrays, names=names)
    stripped: pd.DataFrame = table.to_pandas(
        types_mapper={pa.string(): _STR, pa.large_string(): _STR}.get
    )
    stripped.index = frame.index
    stripped.columns = frame.columns
    return stripped


def _trimmed(data: pa.ChunkedArray) -> pa.LargeStringArray:
    array = flat(data)
    candidates = np.flatnonzero(trim_candidates(array))
    if not len(candidates):
        return array
    if len(candidates) * 8 < len(array):
        # Candidates first: most are letters like `é` that end as a space may end; only
        # the cells a trim changes are put in place (a few), or the column stays as it is.
        some = array.take(pa.array(candidates))
        some_trimmed = pc.utf8_trim_whitespace(some)
        changed = byte_lengths(flat(some_trimmed)) != byte_lengths(flat(some))
        if not changed.any():
            return array
        if np.count_nonzero(changed) <= _FEW_REPLACED:
            rows = np.zeros(len(array), dtype=bool)
            rows[candidates[changed]] = True
            return flat(replaced(array, rows, some_trimmed.filter(pa.array(changed))))
    trimmed: pa.LargeStringArray = pc.utf8_trim_whitespace(array)
    return trimmed


def filled(column: pd.Series) -> np.ndarray:
    """`column != ""` as a NumPy array (a missing cell counts as filled, as in pandas)."""
    data = arrow(column)
    if data is None:
        return (column != "").to_numpy(dtype=bool, na_value=True)
    array = flat(data)
    starts, _ = offsets_and_bytes(array)
    result: np.ndarray = starts[1:] != starts[:-1]  # offsets never go back
    if array.null_count:
        result |= array.is_null().to_numpy(zero_copy_only=False)
    return result


def blank_rows(frame: pd.DataFrame) -> np.ndarray:
    """True for the rows where every cell is ""."""
    blank = np.ones(len(frame), dtype=bool)
    for _, column in frame.items():
        blank &= ~filled(column)
    return blank


def any_longer(column: pd.Series, limit: int) -> bool:
    """Whether some cell holds more than `limit` characters."""
    data = arrow(column)
    if data is None:
        return bool((column.str.len() > limit).any())
    array = flat(data)
    lengths = byte_lengths(array)
    if not len(lengths) or lengths.max() <= limit:  # a character is one byte or more
        return False
    longest = pc.max(pc.utf8_length(array)).as_py()
    return longest is not None and longest > limit


def starting_with(column: pd.Series, firsts: str) -> np.ndarray:
    """True for the cells whose first character is one of the ASCII characters `firsts`
    (`clean.str.startswith(...)` for each, or-ed; False for a missing cell): read from each
    cell's first byte, without a pass of pyarrow per character."""
    data = arrow(column)
    if data is None or not firsts.isascii():
        found = np.zeros(len(column), dtype=bool)
        for char in firsts:
            found |= column.str.startswith(char).to_numpy(dtype=bool, na_value=False)
        return found
    starts, values = offsets_and_bytes(flat(data))
    if not len(values):
        return np.zeros(len(column), dtype=bool)
    first = np.take(values, starts[:-1], mode="clip")  # an empty cell's is another's
    result: np.ndarray = first == ord(firsts[0])
    for char in firsts[1:]:
        result |= first == ord(char)
    found = np.flatnonzero(result)  # a few: which of them are filled
    if len(found):
        result[found] = starts[found + 1] > starts[found]
    return result


def any_starts_with(column: pd.Series, prefixes: tuple[str, ...]) -> bool:
    """Whether some cell starts with one of `prefixes`."""
    data = arrow(column)
    if data is None:
        return bool(column.str.startswith(prefixes).any())
    if all(len(p) == 1 and p.isascii() for p in prefixes):
        # One ASCII character: each filled cell's first byte says it.
        array = flat(data)
        starts, values = offsets_and_bytes(array)
        filled = np.flatnonzero(np.diff(starts) > 0)
        if not len(filled):
            return False
        first = values[starts[filled]]
        return bool(np.isin(first, [ord(p) for p in prefixes]).any())
    return any(pc.any(pc.starts_with(data, pattern=p)).as_py() for p in prefixes)


# --- the bytes of a text column ---------------------------------------------------------
# A pyarrow text column is one buffer of UTF-8 bytes and the offsets where each cell
# starts: lengths, first and last bytes come from NumPy arithmetic on those, without
# making a Python object or a new column per cell.


def flat(data: pa.ChunkedArray | pa.Array) -> pa.LargeStringArray:
    """The column as one contiguous large_string array (no copy when it is one already)."""
    if isinstance(data, pa.ChunkedArray):
        data = data.combine_chunks() if data.num_chunks != 1 else data.chunk(0)
    if data.type != pa.large_string():
        data = data.cast(pa.large_string())
    array: pa.LargeStringArray = data
    return array


def offsets_and_bytes(array: pa.LargeStringArray) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, data): cell i is `data[offsets[i]:offsets[i + 1]]`."""
    _, offsets, values = array.buffers()
    starts = np.frombuffer(offsets, dtype=np.int64)[array.offset : array.offset + len(array) + 1]
    data = np.frombuffer(values, dtype=np.uint8) if values is not None else np.empty(0, np.uint8)
    return starts, data


def byte_lengths(array: pa.LargeStringArray) -> np.ndarray:
    """Each cell's length in UTF-8 bytes (0 for a missing cell)."""
    starts, _ = offsets_and_bytes(array)
    return np.diff(starts)


def _byte_table(chars: list[str], last: bool) -> np.ndarray:
    table = np.zeros(256, dtype=bool)
    for ch in chars:
        encoded = ch.encode("utf-8")
        table[encoded[-1] if last else encoded[0]] = True
    return table


# Every white space character is below U+3001 (tests/test_fast_paths.py checks it).
_SPACES = [ch for ch in map(chr, range(0x3001)) if ch.isspace()]
_SPACE_FIRST_BYTE = _byte_table(_SPACES, last=False)
_SPACE_LAST_BYTE = _byte_table(_SPACES, last=True)


def trim_candidates(array: pa.LargeStringArray) -> np.ndarray:
    """True for the cells that may start or end with white space (their first or last
    byte is one a white space character starts or ends with): the only cells a trim can
    change. A few more may be flagged (`é` ends like U+2000), never fewer."""
    starts, data = offsets_and_bytes(array)
    if not len(data) or starts[-1] == starts[0]:
        return np.zeros(len(array), dtype=bool)
    # An empty cell's first and last bytes are another cell's (or past the end: clipped);
    # the few cells found are checked for being filled at the end. Most bytes are
    # letters: the table is read only for the few cells whose bytes are low (controls,
    # space) or high (beyond ASCII).
    first = np.take(data, starts[:-1], mode="clip")
    final = np.take(data, starts[1:] - 1, mode="clip")
    # Below 0x21 or above 0x7F, both at once: the bytes wrap around below 0x21.
    first -= np.uint8(0x21)
    final -= np.uint8(0x21)
    found: np.ndarray = first >= 0x5F
    found |= final >= 0x5F
    some = np.flatnonzero(found)
    if len(some):
        first_byte = first[some] + np.uint8(0x21)
        final_byte = final[some] + np.uint8(0x21)
        filled = starts[some + 1] > starts[some]
        found[some] = (_SPACE_FIRST_BYTE[first_byte] | _SPACE_LAST_BYTE[final_byte]) & filled
    return found


def may_hold_controls(array: pa.LargeStringArray, *, breaks: bool) -> bool:
    """Whether some cell may hold a control character: U+0000-U+001F (but tab, line
    feed and carriage return unless `breaks`), U+007F or U+0080-U+009F (the bytes C2 80
    to C2 9F). One look at the column's bytes decides whether a pattern needs to run over
    it at all. It may say yes for bytes outside the cells (a sliced column), never no
    for a control character in one."""
    starts, data = offsets_and_bytes(array)
    if not len(starts) or starts[-1] == starts[0]:
        return False
    used = data[starts[0] : starts[-1]]
    if used.min() < 0x20:
        low = used[used < 0x20]
        if breaks or np.isin(low, [0x09, 0x0A, 0x0D], invert=True).any():
            return True
    # memchr speed for the bytes that are rare in text.
    buffer = array.buffers()[2].slice(int(starts[0]), int(starts[-1] - starts[0])).to_pybytes()
    if b"\x7f" in buffer:
        return True
    if b"\xc2" not in buffer:
        return False
    lead = np.flatnonzero(used[:-1] == 0xC2)
    return bool((used[lead + 1] < 0xA0).any())


# Up to that many cells of new lengths are put in place one slice at a time; more take
# pyarrow's kernel.
_FEW_REPLACED = 5_000


def replaced(array: pa.LargeStringArray, rows: np.ndarray, values: pa.Array) -> pa.Array:
    """`pc.replace_with_mask(array, rows, values)` (`rows` a boolean mask, `values` one
    text per true row, in order). A few cells of a big column (currencies upper-cased,
    amounts rewritten) are put in place with NumPy: pyarrow's kernel goes through every
    cell, as long as a copy of the column ten times over."""
    values = flat(values)
    positions = np.flatnonzero(rows)
    if array.null_count or values.null_count or len(positions) != len(values):
        return pc.replace_with_mask(array, pa.array(rows), values)
    if not len(positions):
        return array
    starts, data = offsets_and_bytes(array)
    new_starts, new_data = offsets_and_bytes(values)
    old_lengths = starts[positions + 1] - starts[positions]
    new_lengths = np.diff(new_starts)
    inserted = new_data[new_starts[0] : new_starts[-1]]
    if np.array_equal(old_lengths, new_lengths):
        # The same lengths (USD for usd): the offsets stay, the bytes are written over.
        out = data.copy()
        ramp = np.arange(len(inserted)) - np.repeat(new_starts[:-1] - new_starts[0], new_lengths)
        out[np.repeat(starts[positions], new_lengths) + ramp] = inserted
        same: pa.Array = pa.Array.from_buffers(
            pa.large_string(),
            len(array),
            [None, array.buffers()[1], pa.py_buffer(out)],
            offset=array.offset,
        )
        return same
    if len(positions) > _FEW_REPLACED:
        return pc.replace_with_mask(array, pa.array(rows), values)
    # Else the bytes between the replaced cells, and the new cells' bytes, in turn.
    pieces = []
    at = int(starts[0])
    cuts = new_starts - new_starts[0]
    for i, position in enumerate(positions.tolist()):
        pieces.append(data[at : starts[position]])
        pieces.append(inserted[cuts[i] : cuts[i + 1]])
        at = int(starts[position + 1])
    pieces.append(data[at : starts[-1]])
    lengths = np.diff(starts)
    lengths[positions] = new_lengths
    return texts_of(lengths, np.concatenate(pieces))


def texts_of(lengths: np.ndarray, data: np.ndarray | bytes) -> pa.LargeStringArray:
    """Texts of these byte lengths, lying one after the other in `data` (UTF-8): made
    from their offsets, without a Python object or a copy per cell."""
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    array: pa.LargeStringArray = pa.Array.from_buffers(
        pa.large_string(), len(lengths), [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )
    return array


def empty_texts(count: int) -> pa.LargeStringArray:
    """`count` empty texts, made without a Python object per cell."""
    return texts_of(np.zeros(count, dtype=np.int64), b"")


_MIX = np.uint64(0x9E3779B97F4A7C15)  # an odd constant: multiplying by it spreads bits


def _fixed_width_content(used: np.ndarray, width: int, count: int) -> np.ndarray:
    """A number per cell of `count` cells of `width` bytes each, one after the other in
    `used`: the bytes themselves (little-endian) up to 7 bytes, else 8 at a time mixed."""
    if width < 8:
        if width in (1, 2, 4):
            return used.view(f"<u{width}").astype(np.uint64)
        # Read 8 bytes from each cell's start (the last ones padded) and keep `width`.
        padded = np.zeros(len(used) + 8, dtype=np.uint8)
        padded[: len(used)] = used
        words = np.ndarray((count,), "<u8", padded, offset=0, strides=(width,))
        content: np.ndarray = words & np.uint64((1 << (8 * width)) - 1)
        return content
    content = np.zeros(count, dtype=np.uint64)
    for at in sorted({*range(0, width - 7, 8), width - 8}):  # the last 8 overlap
        word = np.ndarray((count,), "<u8", used, offset=at, strides=(width,))
        content ^= word
        content *= _MIX
    return content


def _key_part(data: pa.ChunkedArray) -> np.ndarray:
    """One column's share of `row_keys`: each cell's length in bytes (a missing cell's
    marked apart), plus its bytes where every filled cell is as long."""
    array = flat(data)
    starts, values = offsets_and_bytes(array)
    # The lengths are a new array (never negative): worked on in place, as the 64-bit
    # numbers they are, without a copy per step.
    part: np.ndarray = np.diff(starts).view(np.uint64)
    width = int(part.max()) if len(part) else 0
    filled = int(np.count_nonzero(part))
    fixed = 0 < width <= 64 and width * filled == starts[-1] - starts[0]
    has_bytes = part > 0 if fixed and filled != len(part) else None
    if array.null_count:
        part |= array.is_null().to_numpy(zero_copy_only=False).astype(np.uint64) << 40
    if fixed:
        # Every filled cell is `width` bytes long: they lie one after the other.
        used = values[starts[0] : starts[-1]]
        with np.errstate(over="ignore"):
            content = _fixed_width_content(used, width, filled)
        if has_bytes is None:
            part += content
        else:
            part[has_bytes] += content
    return part


def row_keys(frame: pd.DataFrame) -> np.ndarray | None:
    """A 64-bit number per row, equal for rows whose cells are equal (rows that differ
    mostly get different ones): each cell's length in bytes, and the bytes themselves
    in a column whose filled cells are all as long (a date, an order id, a currency
    code). None when a column is not held in pyarrow. It finds the few rows that may
    repeat another without hashing every cell of every row.

    Keys of the same rows made from different columns combine (`combined_keys`) into
    keys of all those columns: a table's columns can be keyed as each becomes final."""
    held = [arrow(column) for _, column in frame.items()]
    if any(data is None for data in held):
        return None
    arrays = [data for data in held if data is not None]
    keys = np.zeros(len(frame), dtype=np.uint64)
    with np.errstate(over="ignore"):
        # Two columns at a time (in two threads on a big table), folded in in order: the
        # same keys, with at most two columns' numbers held at once.
        for at in range(0, len(arrays), 2):
            for part in each_column(_key_part, arrays[at : at + 2], len(frame)):
                keys *= _MIX
                keys += part
        keys ^= keys >> np.uint64(29)
    return keys


def combined_keys(first: np.ndarray | None, second: np.ndarray | None) -> np.ndarray | None:
    """The `row_keys` of two sets of columns of the same rows, as one key per row (equal
    for rows equal in both); None when either is."""
    if first is None or second is None:
        return None
    with np.errstate(over="ignore"):
        keys: np.ndarray = first * _MIX
        keys += second
    return keys
