"""`ledger_send`: seconds for the library's one-call `send` of N events to a local emulator
with the send ledger on, then for the same events again (all held back by the guard).

    python -m bench.ledger_send --events 100000

The first figure is the whole send path (guard, claim, per-batch ledger writes, HTTP);
the second is the guard alone against N stored fingerprints. Each run uses a new ledger.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import pandas as pd


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ledger_send")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args()
    os.environ["BENTO_UI_HOME"] = tempfile.mkdtemp(prefix="bench-ledger-")
    from bento_ui import Emulator, send

    n = args.events
    valid = pd.DataFrame(
        {"type": ["signup"] * n, "email": [f"user{i}@example.com" for i in range(n)],
         "date": [""] * n},
        index=pd.RangeIndex(2, n + 2, name="row"),
    )  # fmt: skip
    with Emulator() as bento:
        started = time.perf_counter()
        report = send(valid, bento.credentials, batch_size=args.batch_size)
        first = time.perf_counter() - started
        started = time.perf_counter()
        again = send(valid, bento.credentials, batch_size=args.batch_size)
        second = time.perf_counter() - started
    assert report.totals["recorded"] == n and again.held_back_events == n
    print(f"send of {n:,} events with the ledger: {first:.2f} s; the same again, all held "
          f"back: {second:.2f} s")


if __name__ == "__main__":
    main()
