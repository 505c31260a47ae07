"""A connection dropped before Bento read the body is safe to retry; after, it is unknown.

The emulator's `drop: before_body` fault reads the headers, waits a moment and resets
the connection without reading the body. A body larger than what the socket buffers
absorb is still being written at that moment: the client sees its own write fail, knows
Bento cannot have the whole request, and retries. A small body has been written in
full: the client cannot tell whether it was read, and the batch stays unknown.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from bento_ui import Emulator, build_events, plan_send
from bento_ui.client import BentoClient
from bento_ui.emulator import MAX_BODY_BYTES
from bento_ui.ledger import Ledger


def _buffered_bytes() -> int:
    """At most how much a peer that never reads can take in before the writer blocks."""
    if sys.platform.startswith("linux"):
        wmem = Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()
        rmem = Path("/proc/sys/net/ipv4/tcp_rmem").read_text().split()
        return int(wmem[2]) + int(rmem[1])  # the writer's largest buffer + the reader's
    return 8 * 1024 * 1024


def big_events() -> list[dict[str, Any]]:
    """1000 events whose JSON is over twice what the socket buffers hold."""
    size = max(2 * _buffered_bytes(), 8 * 1024 * 1024)
    if size > MAX_BODY_BYTES - 1024 * 1024:
        pytest.skip("this machine's socket buffers are larger than the emulator's body limit")
    blob = "x" * (size // 1000)
    return [
        {"type": "import", "email": f"p{i}@example.com", "details": {"blob": blob}}
        for i in range(1000)
    ]


def client(emulator: Emulator) -> BentoClient:
    return BentoClient(emulator.credentials, requests_per_minute=None, sleep=lambda s: None)


def test_dropped_before_the_body_was_read_is_retried(emulator: Emulator) -> None:
    events = big_events()
    emulator.add_faults([{"drop": "before_body"}])
    with client(emulator) as c:
        outcome = c.send_batch(events)
    assert outcome.state == "accepted", outcome.message
    assert outcome.attempts == 2
    assert emulator.request_count == 2
    assert len(emulator.events()) == 1000  # recorded once: the first try was not


def test_dropped_after_the_body_was_sent_stays_unknown(emulator: Emulator) -> None:
    small = [{"type": "import", "email": f"p{i}@example.com"} for i in range(3)]
    emulator.add_faults([{"drop": "before_body"}, {"drop": "after_body"}])
    with client(emulator) as c:
        unread = c.send_batch(small)  # written in full, then reset: the client cannot tell
        recorded = c.send_batch(small)
    assert (unread.state, unread.attempts) == ("unknown", 1)
    assert (recorded.state, recorded.attempts) == ("unknown", 1)
    assert "Check Bento before sending this batch again." in recorded.message
    assert emulator.request_count == 2
    assert len(emulator.events()) == 3  # only the after_body one was recorded


def test_the_ledger_shows_one_send_for_a_retried_batch(emulator: Emulator) -> None:
    events = big_events()
    valid = pd.DataFrame(
        {"type": [e["type"] for e in events], "email": [e["email"] for e in events],
         "details.blob": [e["details"]["blob"] for e in events]},
        index=pd.Index(range(2, 2 + len(events))),
    )  # fmt: skip
    assert build_events(valid) == events
    emulator.add_faults([{"drop": "before_body"}])
    with Ledger() as ledger:
        plan = plan_send(valid, emulator.credentials, ledger=ledger, batch_size=1000)
        report = plan.send(client=client(emulator))
        assert report.ok and report.run_id
        (batch,) = ledger.run(report.run_id).batches
    assert (batch.state, batch.attempts, batch.sends) == ("accepted", 2, 1)
    assert len(emulator.events()) == 1000
