"""`payloads`: the whole table's `build_events` (what a notebook shows), this checkout
against another one (say the one before a change), in one run.

    python -m bench.payloads --rows 1000000 --rounds 3 --checkout /work/wt/base

The generated CSV is read, mapped and validated once here; the valid table goes to a
child process per checkout and round (`PYTHONPATH` that checkout), alternating, which
times `build_events(valid)` alone (and `encode_events(valid)`, the JSON text of every
event), after its imports and loading the table. With `--same`, each child also prints a
hash of `json.dumps` of its events (key order included), so the two checkouts can be
seen to build the same dicts. Per checkout: the best of the rounds, and the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import data
from bench.report import header, table

_CHILD = """
import gc, hashlib, json, sys, time
import pandas as pd
from bento_ui.payloads import build_events, encode_events
valid = pd.read_pickle(sys.argv[1])
gc.collect()
started = time.perf_counter()
events = build_events(valid)
dicts = time.perf_counter() - started
same = ""
if sys.argv[2] == "1":
    same = hashlib.sha256(json.dumps(events, ensure_ascii=False).encode()).hexdigest()[:16]
del events
gc.collect()
started = time.perf_counter()
encode_events(valid)
texts = time.perf_counter() - started
print(json.dumps({"build_events": dicts, "encode_events": texts, "same": same}))
"""


def _child(root: str, table_file: str, same: bool) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, table_file, "1" if same else "0"],
        env={**os.environ, "PYTHONPATH": root}, cwd=root, capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="build_events of a whole table, two checkouts")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--checkout", action="append", default=[], metavar="DIR")
    parser.add_argument("--same", action="store_true", help="hash each side's events")
    args = parser.parse_args(argv)

    from bento_ui.mapping import ColumnMapping, apply_mapping, suggest_mapping
    from bento_ui.pipeline import read_header
    from bento_ui.spreadsheet import read_table
    from bento_ui.validation import validate

    header("payloads: build_events of a whole validated table", "bench.payloads")
    path = data.ensure(args.rows, "csv")
    suggested = suggest_mapping(read_header(path))
    mapping = ColumnMapping({**suggested.columns, **data.MAPPING_OVERRIDES})
    valid = validate(apply_mapping(read_table(path), mapping)).valid
    print(f"{len(valid):,} valid rows from {path.name}, {args.rounds} rounds, alternating\n")
    here = str(Path(__file__).resolve().parent.parent)
    roots = [here, *args.checkout]
    runs: dict[str, list[dict[str, Any]]] = {root: [] for root in roots}
    with tempfile.TemporaryDirectory() as scratch:
        table_file = str(Path(scratch) / "valid.pkl")
        valid.to_pickle(table_file)
        del valid
        for round_number in range(args.rounds):
            for root in roots if round_number % 2 == 0 else roots[::-1]:
                runs[root].append(_child(root, table_file, args.same))
                print(f"  round {round_number + 1} {root}: {runs[root][-1]}", file=sys.stderr)
    best = {root: min(r["build_events"] for r in found) for root, found in runs.items()}
    rows = [
        [
            "this checkout" if root == here else root,
            f"{best[root]:.2f}",
            f"{min(r['encode_events'] for r in found):.2f}",
            f"{best[root] / best[here]:.2f}x",
            found[0]["same"] or "-",
        ]
        for root, found in runs.items()
    ]
    print(table(
        ["checkout", "build_events s (best)", "encode_events s (best)",
         "build_events vs this checkout", "hash of the events"],
        rows,
    ))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
