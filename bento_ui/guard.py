"""The duplicate guard: which events to hold back because this site may have them already.

Bento has no idempotency key, so the send ledger remembers a fingerprint of every event
planned for a site (see `bento_ui.ledger`), and before a send each event is looked up:

    new          the site never got it, or got it and refused it (Bento named it among
                 the failures, or refused the whole batch): it was not recorded
    accepted     Bento recorded it
    same row     another event made from the same row of the same file (its SHA-256
                 and sheet) was recorded: the file was sent before with other options
                 (another time zone, mapping or fixes), so this is likely the same event
    uncertain    its batch's answer was lost (unknown), or Bento counted failures in its
                 batch without naming them all (the 20-item cap): it may be recorded
    in flight    another run is sending it right now (that run holds the ledger's lock)

What goes is decided by `Resend`, the one place that says what `send_again` and
`resend_unknown` mean for the library, the CLI, the app, the notebook and resume.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from bento_ui.batching import Batch, describe_rows


class Held(StrEnum):
    """Why an event is held back: the fates other than new."""

    SENT_BEFORE = "sent before"
    SAME_ROW_BEFORE = "row sent before"
    UNCERTAIN_BEFORE = "maybe sent before"
    IN_FLIGHT = "being sent now"


@dataclass(frozen=True)
class SourceRows:
    """Where a list of events came from, for the same-row check: the file's SHA-256, its
    sheet, and each event's spreadsheet row."""

    file_hash: str
    sheet: str | int | None
    rows: Sequence[int]


@dataclass(frozen=True)
class Resend:
    """Which events that the ledger shows for this site are sent again.

    - An event Bento **accepted** before is sent again only with `send_again`; so is
      one whose **row** of the same file was recorded before with other options.
    - An event of **uncertain** fate (its batch got no usable answer, or Bento counted
      failures in it without naming them all) is sent again with `resend_unknown`, or
      with `send_again`, which includes it: whoever sends the accepted events again
      certainly means the maybe-recorded ones too.
    - An event **another run is sending right now** is never sent: wait for that run,
      then look at its outcome.
    - Events Bento refused by name, or never got, always go: they were not recorded.
    """

    send_again: bool = False
    resend_unknown: bool = False

    def lets_through(self, reason: Held) -> bool:
        if reason in (Held.SENT_BEFORE, Held.SAME_ROW_BEFORE):
            return self.send_again
        if reason == Held.UNCERTAIN_BEFORE:
            return self.send_again or self.resend_unknown
        return False


@dataclass(frozen=True)
class Found:
    """Events of a list found in the ledger for one reason, and where they were found."""

    positions: tuple[int, ...]
    runs: tuple[str, ...]
    first_date: str  # UTC day of the earlier sends, YYYY-MM-DD
    last_date: str


@dataclass(frozen=True)
class HeldBack:
    """Events not sent, for one reason, with their spreadsheet rows."""

    reason: Held
    rows: tuple[int, ...]
    runs: tuple[str, ...]
    first_date: str
    last_date: str

    @property
    def events(self) -> int:
        return len(self.rows)

    @property
    def row_ranges(self) -> str:
        return describe_rows(self.rows)

    @property
    def message(self) -> str:
        """What happened, in a sentence a person can act on (the caller adds the how)."""
        n = self.events
        these = f"{n:,} of these events {'was' if n == 1 else 'were'}"
        when = (
            f"on {self.first_date}"
            if self.first_date == self.last_date
            else f"between {self.first_date} and {self.last_date}"
        )
        runs = ", ".join(self.runs[:3])
        if len(self.runs) > 3:
            runs += f" and {len(self.runs) - 3} more"
        label = "run" if len(self.runs) == 1 else "runs"
        if self.reason == Held.SENT_BEFORE:
            return f"{these} sent to this site {when} ({label} {runs}) and accepted by it"
        if self.reason == Held.SAME_ROW_BEFORE:
            rows = "row" if n == 1 else "rows"
            return (
                f"{n:,} {rows} of this file {'was' if n == 1 else 'were'} sent to this site "
                f"{when} ({label} {runs}) and accepted, read with other options then (a time "
                "zone, the mapping or fixes): the events differ now, but sending them would "
                "record the same rows twice"
            )
        if self.reason == Held.IN_FLIGHT:
            return (
                f"{these} being sent to this site right now by another window or process "
                f"({label} {runs})"
            )
        return (
            f"{these} sent to this site {when} ({label} {runs}) in batches whose outcome is "
            "unknown, or of which Bento refused some events without naming them all: Bento "
            "may have recorded them"
        )


@dataclass(frozen=True)
class DuplicateCheck:
    """Which events of a list the ledger shows this site may have, by reason.

    Positions are indexes into the list checked. An event found for several reasons
    counts once, as accepted first, then in flight, then uncertain.
    """

    site_uuid: str
    events: int
    found: dict[Held, Found] = field(default_factory=dict)

    def positions(self, reason: Held) -> tuple[int, ...]:
        hit = self.found.get(reason)
        return hit.positions if hit else ()

    @property
    def accepted(self) -> tuple[int, ...]:
        return self.positions(Held.SENT_BEFORE)

    @property
    def uncertain(self) -> tuple[int, ...]:
        return self.positions(Held.UNCERTAIN_BEFORE)

    @property
    def in_flight(self) -> tuple[int, ...]:
        return self.positions(Held.IN_FLIGHT)

    @property
    def same_row(self) -> tuple[int, ...]:
        return self.positions(Held.SAME_ROW_BEFORE)

    @property
    def any(self) -> bool:
        return bool(self.found)

    def keep(self, resend: Resend | None = None) -> list[bool]:
        """Per event: does it go?"""
        resend = resend or Resend()
        mask = [True] * self.events
        for reason, hit in self.found.items():
            if not resend.lets_through(reason):
                for i in hit.positions:
                    mask[i] = False
        return mask

    def held_back(self, rows: Sequence[int], resend: Resend | None = None) -> list[HeldBack]:
        """The events `keep` leaves out, grouped by reason, with their spreadsheet rows."""
        resend = resend or Resend()
        if len(rows) != self.events:
            raise ValueError(f"{self.events} events but {len(rows)} row numbers")
        return [
            HeldBack(reason, tuple(rows[i] for i in hit.positions), hit.runs,
                     hit.first_date, hit.last_date)
            for reason, hit in self.found.items()
            if not resend.lets_through(reason)
        ]  # fmt: skip


def batches_held(
    check: DuplicateCheck, batches: Sequence[Batch], resend: Resend
) -> dict[int, tuple[str, ...]]:
    """For a resume: the batches (checked as one list, in order) that must not go because
    some event of them is held back, by number, with the runs where they were found."""
    keep = check.keep(resend)
    held: dict[int, tuple[str, ...]] = {}
    start = 0
    for batch in batches:
        span = range(start, start + batch.size)
        start += batch.size
        if not all(keep[i] for i in span):
            inside = set(span)
            held[batch.number] = tuple(sorted({
                run for hit in check.found.values() if inside.intersection(hit.positions)
                for run in hit.runs
            }))  # fmt: skip
    return held


def merge_held_back(held: Sequence[HeldBack]) -> list[HeldBack]:
    """One entry per reason, as if all the events had been checked at once."""
    merged: list[HeldBack] = []
    for reason in dict.fromkeys(h.reason for h in held):
        same = [h for h in held if h.reason == reason]
        merged.append(
            HeldBack(
                reason=reason,
                rows=tuple(r for h in same for r in h.rows),
                runs=tuple(dict.fromkeys(run for h in same for run in h.runs)),
                first_date=min(h.first_date for h in same),
                last_date=max(h.last_date for h in same),
            )
        )
    return merged
