"""The events of a validated table, written as JSON only when they are needed.

`TableEvents` is a sequence of the events `build_events` would give for some rows of a
table, in order, that holds the table and the rows instead of a million dicts:

    events = TableEvents.of(valid)       # nothing written yet
    batch = events[0:1000]               # still nothing: a slice of the same rows
    batch.body()                         # the request body, written now (`event_json`)
    batch.fingerprints(site_uuid)        # the ledger's fingerprints, without any dict
    batch[3]                             # one event as a dict, when a message needs it

Texts are written a window of rows at a time (`FIRST_WINDOW`, then `WINDOW`) and the
latest window is kept, so a send that walks its batches in order writes each row once,
and memory stays flat; the next window is written ahead, while the current one's
requests are out.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import overload

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from bento_ui import json_limits
from bento_ui.event_json import EventJson
from bento_ui.payloads import Event, encode_canonical

# Rows written at a time. Each write has a fixed cost of about 1.5 ms (pyarrow and numpy
# calls per column), so a row of a window of 100k rows costs less than half the CPU a
# row of one of 1000 does; its texts are tens of MB. The first window is small, as the
# first request waits for it, and each next one (written ahead) four times the last, so
# that half a window's requests leave time enough to write the next.
WINDOW = 100_000
FIRST_WINDOW = 5_000
# Writes the next window ahead of a send (one at a time: the send needs one next).
_AHEAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bento-ui-texts")
_COMMA = pa.scalar(",", pa.large_string())


class _Texts:
    """One way of writing rows (the payload, or the canonical JSON), and its last window.

    A send walks the rows in order: once half a window is taken, the next window is
    written in a thread (pyarrow works without the GIL) while the requests of this one
    wait for their answers, so the send loop seldom waits for a window.

    `separated`: each text is written with a comma after it, so that a request body is
    one copy of a stretch of the window's bytes (`joined`), not a join; `get` and `one`
    give the texts without it."""

    def __init__(
        self, rows: _Rows, write: Callable[[int, int], pa.Array], *, separated: bool = False
    ) -> None:
        self._rows = rows
        self._write_rows = write
        self._separated = separated
        self._window: tuple[int, int, pa.Array] | None = None
        self._next: tuple[int, Future[tuple[int, int, pa.Array]]] | None = None
        self._lock = threading.Lock()

    def get(self, start: int, stop: int) -> pa.Array:
        texts = self._written(start, stop)
        if not self._separated:
            return texts
        bare = pc.binary_slice(texts.cast(pa.large_binary()), 0, -1)
        return bare.cast(pa.large_string())

    def _written(self, start: int, stop: int) -> pa.Array:
        if start >= stop:
            return pa.array([], pa.large_string())
        with self._lock:
            window = self._window
            if window is None or not (window[0] <= start and stop <= window[1]):
                ahead = self._next
                self._next = None
                if ahead is not None and ahead[0] == start:
                    window = ahead[1].result()
                if window is None or not (window[0] <= start and stop <= window[1]):
                    size = FIRST_WINDOW if window is None else WINDOW
                    window = self._write(start, max(stop, start + size))
                self._window = window
            first, end, texts = window
            if self._next is None and end < len(self._rows.positions) and (
                start - first >= (end - first) // 2
            ):
                size = min(WINDOW, 4 * (end - first))
                self._next = (end, _AHEAD.submit(self._write, end, end + size))
        return texts.slice(start - first, stop - start)

    def joined(self, start: int, stop: int, prefix: bytes, suffix: bytes) -> bytes:
        """The texts of these rows joined with commas, between `prefix` and `suffix`, as
        UTF-8: one join in pyarrow, copied once (no Python string per row); texts
        written `separated` are copied as they lie, but for the last comma."""
        texts = self._written(start, stop)
        if self._separated:
            ends = np.frombuffer(texts.buffers()[1], np.int64, len(texts) + 1, texts.offset * 8)
            cut = memoryview(texts.buffers()[2])[ends[0] : ends[-1] - 1] if len(texts) else b""
            return b"".join((prefix, cut, suffix))
        lists = pa.LargeListArray.from_arrays(pa.array([0, len(texts)], pa.int64()), texts)
        text = pc.binary_join(lists, _COMMA)
        ends = np.frombuffer(text.buffers()[1], np.int64, 2, text.offset * 8)
        data = memoryview(text.buffers()[2])[ends[0] : ends[1]] if len(texts) else b""
        return b"".join((prefix, data, suffix))

    def one(self, at: int) -> str:
        """One row's text, from the current window or written alone: a message about one
        event (a failure Bento named) must not make the send write its windows again."""
        window = self._window
        if window is None or not window[0] <= at < window[1]:
            window = self._write(at, at + 1)
        text: str = window[2][at - window[0]].as_py()
        return text[:-1] if self._separated else text

    def _write(self, start: int, stop: int) -> tuple[int, int, pa.Array]:
        stop = min(len(self._rows.positions), stop)
        return start, stop, self._write_rows(start, stop)


class _Rows:
    """The rows of a table that a sequence of events is made of, and what was written."""

    def __init__(self, table: pd.DataFrame, positions: np.ndarray) -> None:
        self.table = table
        self.positions = positions
        self.payload = _Texts(self, self._payload, separated=True)
        self.canonical = _Texts(self, self._canonical)
        self.prints: dict[str, list[bytes]] = {}  # per site UUID, every row's fingerprint
        self._cells: dict[str, pa.ChunkedArray] | None = None
        self._writer: EventJson | None = None
        self._lock = threading.Lock()

    def _payload(self, start: int, stop: int) -> pa.Array:
        """`encode_events` of these rows, straight from the table's Arrow cells: the
        columns taken from pandas once, a window a slice of them (no copy of the rows
        in order), one writer for every window (see `event_json`)."""
        with self._lock:
            if self._cells is None or self._writer is None:
                self._writer = EventJson(self.table.columns)
                wanted = {leaf.column for leaf in self._writer.leaves}
                self._cells = {c: _arrow_cells(self.table[c]) for c in wanted}
            cells, writer = self._cells, self._writer
        at = self.positions[start:stop]
        if len(at) and at[-1] - at[0] == len(at) - 1 and bool((np.diff(at) == 1).all()):
            window = {c: _one_array(a.slice(int(at[0]), len(at))) for c, a in cells.items()}
        else:
            rows = pa.array(at)
            window = {c: _one_array(a.take(rows)) for c, a in cells.items()}
        return writer.write(window, then=",")

    def _canonical(self, start: int, stop: int) -> pa.Array:
        return encode_canonical(self.table.iloc[self.positions[start:stop]])

    def fingerprints(self, site_uuid: str) -> list[bytes]:
        found = self.prints.get(site_uuid)
        if found is None:
            found = []
            prefix = (site_uuid + "\n").encode("utf-8")
            sha256 = hashlib.sha256
            for start in range(0, len(self.positions), WINDOW):
                stop = min(len(self.positions), start + WINDOW)
                texts = self.canonical.get(start, stop).cast(pa.large_binary()).to_pylist()
                found.extend([sha256(prefix + text).digest() for text in texts])
            self.prints[site_uuid] = found
        return found


class TableEvents(Sequence[Event]):
    """The events of rows of a validated table (see the module docstring)."""

    __slots__ = ("_hash", "_rows", "_start", "_stop")

    def __init__(self, rows: _Rows, start: int = 0, stop: int | None = None) -> None:
        self._rows = rows
        self._start = start
        self._stop = len(rows.positions) if stop is None else stop
        self._hash: str | None = None

    @classmethod
    def of(cls, valid: pd.DataFrame) -> TableEvents:
        """Every row's events of a validated table (`validate(...).valid`)."""
        return cls(_Rows(valid, np.arange(len(valid), dtype=np.int64)))

    @classmethod
    def at(cls, valid: pd.DataFrame, positions: Sequence[int] | np.ndarray) -> TableEvents:
        """The events of these rows of a validated table, by position (`table.iloc`), in
        this order (a row may come more than once)."""
        return cls(_Rows(valid, np.asarray(positions, dtype=np.int64)))

    def __len__(self) -> int:
        return self._stop - self._start

    @overload
    def __getitem__(self, index: int) -> Event: ...

    @overload
    def __getitem__(self, index: slice) -> TableEvents: ...

    def __getitem__(self, index: int | slice) -> Event | TableEvents:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                raise ValueError("TableEvents slices take every event (no step)")
            return TableEvents(self._rows, self._start + start, self._start + max(start, stop))
        position = index + len(self) if index < 0 else index
        if not 0 <= position < len(self):
            raise IndexError(index)
        at = self._start + position
        event: Event = json_limits.loads_as_written(self._rows.payload.one(at))
        return event

    def __iter__(self) -> Iterator[Event]:
        for start in range(self._start, self._stop, WINDOW):
            texts = self._rows.payload.get(start, min(self._stop, start + WINDOW))
            yield from map(json_limits.loads_as_written, texts.to_pylist())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str):
            return NotImplemented
        return len(self) == len(other) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]  # equal to a tuple of dicts, unhashable

    def __repr__(self) -> str:
        return f"<TableEvents: {len(self):,} events>"

    @property
    def positions(self) -> np.ndarray:
        """The rows' positions in the table (`table.iloc`)."""
        return self._rows.positions[self._start : self._stop]

    def texts(self) -> pa.Array:
        """The JSON text of each event, as `encode_events` writes it."""
        return self._rows.payload.get(self._start, self._stop)

    def body(self) -> bytes:
        """The request body `{"events":[...]}` of these events: the bytes
        `client.batch_body` gives for their dicts."""
        return self._rows.payload.joined(self._start, self._stop, b'{"events":[', b"]}")

    def fingerprints(self, site_uuid: str) -> list[bytes]:
        """`ledger.event_fingerprint` of each event, for all the rows at once."""
        return self._rows.fingerprints(site_uuid)[self._start : self._stop]

    def payload_hash(self) -> str:
        """`ledger.payload_hash` of these events."""
        if self._hash is None:
            text = self._rows.canonical.joined(self._start, self._stop, b"[", b"]")
            self._hash = hashlib.sha256(text).hexdigest()
        return self._hash

    def select(self, keep: Sequence[bool]) -> TableEvents:
        """The events where `keep` is true, in order (the guard's choice)."""
        mask = np.asarray(keep, dtype=bool)
        if len(mask) != len(self):
            raise ValueError(f"{len(self)} events but {len(mask)} choices")
        if mask.all():
            return self
        rows = _Rows(self._rows.table, self.positions[mask])
        for site, prints in self._rows.prints.items():  # known already: keep them
            mine = prints[self._start : self._stop]
            rows.prints[site] = [p for p, k in zip(mine, mask.tolist(), strict=True) if k]
        return TableEvents(rows)


def _arrow_cells(column: pd.Series) -> pa.ChunkedArray:
    """A column's cells as Arrow text, as `payloads.encode_events` reads them (no copy
    of a column pandas keeps in Arrow already)."""
    cells = pa.array(column.astype("str").array)
    chunked = cells if isinstance(cells, pa.ChunkedArray) else pa.chunked_array([cells])
    return chunked.cast(pa.large_string())


def _one_array(cells: pa.ChunkedArray) -> pa.Array:
    return cells.chunk(0) if cells.num_chunks == 1 else cells.combine_chunks()


def select(events: Sequence[Event], keep: Sequence[bool]) -> Sequence[Event]:
    """The events where `keep` is true, in order, without making a table's events."""
    if isinstance(events, TableEvents):
        return events.select(keep)
    return [e for e, k in zip(events, keep, strict=True) if k]


def chained(parts: Sequence[Sequence[Event]]) -> Sequence[Event]:
    """The events of `parts` one after the other; when they are all events of one table,
    as one `TableEvents` of it (its fingerprints written from the table, no dicts)."""
    ours = [p for p in parts if isinstance(p, TableEvents)]
    if ours and len(ours) == len(parts) and len({id(p._rows.table) for p in ours}) == 1:
        positions = np.concatenate([p.positions for p in ours])
        return TableEvents.at(ours[0]._rows.table, positions)
    return [e for p in parts for e in p]
