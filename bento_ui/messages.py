"""The sentences the CLI, the app and the notebook all say about a send (plain text:
a page escapes them for markdown)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from bento_ui.batching import describe_rows
from bento_ui.guard import Held, HeldBack
from bento_ui.outcomes import EventFailure, RunState, shorten

Voice = Literal["cli", "app"]

RUN_STATES = {
    RunState.PLANNED: "Planned: nothing sent yet",
    RunState.RUNNING: "Being sent right now",
    RunState.INTERRUPTED: "Interrupted: some batches were never answered or never sent",
    RunState.STOPPED: "Stopped early: Bento refused the keys or the address, or the ledger "
    "could not be written",
    RunState.FINISHED: "Finished: every batch has an answer",
}


def _rows(rows: str, limit: int = 120) -> str:
    return rows if len(rows) <= limit else rows[: limit - 3].rsplit(",", 1)[0] + ", …"


def held_back_note(group: HeldBack, *, voice: Voice, sandbox: bool = False) -> str:
    """What the duplicate guard holds back, and what the person can do about it."""
    text = group.message[:1].upper() + group.message[1:]
    where = "the sandbox" if sandbox else "Bento"
    if group.reason == Held.SENT_BEFORE:
        how = ("pass --send-again to send them again" if voice == "cli"
               else "sending them again would record them twice")  # fmt: skip
        return f"{text}. They are skipped: {how}."
    if group.reason == Held.SAME_ROW_BEFORE:
        how = ("pass --send-again to send them all the same" if voice == "cli"
               else "they are not sent unless you say so")  # fmt: skip
        return f"{text} (rows {_rows(group.row_ranges)}). Check {where} first; {how}."
    if group.reason == Held.IN_FLIGHT:
        return (f"{text} (rows {_rows(group.row_ranges)}). They are not sent now: that run "
                "sends them. Look at its outcome when it ends.")  # fmt: skip
    how = ("then pass --resend-unknown to send them again" if voice == "cli"
           else "they are not sent unless you say so")  # fmt: skip
    return f"{text} (rows {_rows(group.row_ranges)}). Check {where} first; {how}."


def failure_lines(failures: Sequence[EventFailure], limit: int = 5) -> list[str]:
    """The events Bento refused, grouped by reason: `rows 3, 5-6: invalid email (2)`."""
    by_reason: dict[str, list[int]] = {}
    for failure in failures:
        by_reason.setdefault(failure.error, []).append(failure.row)
    lines = [
        f"refused, rows {_rows(describe_rows(sorted(rows)), 60)}: {shorten(reason, 120)}"
        for reason, rows in list(by_reason.items())[:limit]
    ]
    if len(by_reason) > limit:
        rest = sum(len(r) for r in list(by_reason.values())[limit:])
        lines.append(f"… and {rest:,} more refused for {len(by_reason) - limit} other reasons")
    return lines


def batches_text(numbers: Sequence[int], *, capital: bool = True) -> str:
    """`Batch 3` or `Batches 1-2, 5`."""
    word = "Batch" if len(numbers) == 1 else "Batches"
    word = word if capital else word.lower()
    return f"{word} {numbers[0]}" if len(numbers) == 1 else f"{word} {describe_rows(numbers)}"
