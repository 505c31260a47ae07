"""Split events into batches that remember which spreadsheet rows they came from."""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, overload

from bento_ui.event_texts import TableEvents
from bento_ui.payloads import Event

# Bento's Create Events API takes 1 to 1000 events per request. It documents no byte
# limit; at a few hundred bytes an event, 1000 events stay well under common proxy caps.
MAX_BATCH_SIZE = 1000


@dataclass(frozen=True)
class Batch:
    number: int  # 1-based, in sending order
    rows: Sequence[int]  # spreadsheet row of each event (a tuple, or packed once sent)
    # A tuple of dicts, or a table's events written when sent (`event_texts.TableEvents`).
    events: Sequence[Event]

    @property
    def size(self) -> int:
        return len(self.events)

    @property
    def row_ranges(self) -> str:
        return describe_rows(self.rows)

    def sent(self) -> Batch:
        """This batch with only the count of its events and its rows packed: a send keeps
        every batch's outcome to its end, and a file of millions of events must not stay
        in memory (a tuple of row numbers costs 36 bytes a row, packed 8)."""
        return replace(self, rows=PackedRows(self.rows), events=_Sent(self.size))


class PackedRows(Sequence[int]):
    """Row numbers in 8 bytes each, equal to the tuple of the same numbers."""

    def __init__(self, rows: Sequence[int]) -> None:
        self._rows = rows if isinstance(rows, PackedRows) else array("q", rows)

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, index: int) -> int: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[int]: ...
    def __getitem__(self, index: Any) -> Any:
        return self._rows[index]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and tuple(self) == tuple(other)

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return repr(tuple(self))


class _Sent(Sequence[Event]):
    """The events of a batch that was sent or skipped: their count, not the events."""

    def __init__(self, size: int) -> None:
        self._size = size

    def __len__(self) -> int:
        return self._size

    @overload
    def __getitem__(self, index: int) -> Event: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Event]: ...
    def __getitem__(self, index: Any) -> Any:
        raise LookupError("a sent batch keeps only how many events it had, not the events")


def plan_batches(
    events: Sequence[Event], rows: Sequence[int] | None = None, size: int = MAX_BATCH_SIZE
) -> list[Batch]:
    """Consecutive batches of at most `size` events (1-1000)."""
    if not 1 <= size <= MAX_BATCH_SIZE:
        raise ValueError(f"batch size must be between 1 and {MAX_BATCH_SIZE}, not {size}")
    if rows is None:
        rows = range(2, len(events) + 2)
    if len(rows) != len(events):
        raise ValueError(f"{len(events)} events but {len(rows)} row numbers")
    lazy = isinstance(events, TableEvents)  # its slices stay unwritten until sent
    return [
        Batch(
            number=i // size + 1,
            rows=tuple(rows[i : i + size]),
            events=events[i : i + size] if lazy else tuple(events[i : i + size]),
        )
        for i in range(0, len(events), size)
    ]


def describe_rows(rows: Sequence[int]) -> str:
    """Row numbers as a person reads them: `2-1001, 1003, 1005-1010`. A row that made
    several events (a row of tags) is named once: [2, 2, 3] is `2-3`."""
    parts: list[str] = []
    start = prev = None
    for row in rows:
        if prev is not None and row in (prev, prev + 1):
            prev = row
            continue
        if start is not None:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = row
    if start is not None:
        parts.append(str(start) if start == prev else f"{start}-{prev}")
    return ", ".join(parts)
