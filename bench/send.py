"""`send`: events/s to the local emulator, the send engine against a bare `requests.post`.

    python -m bench.send --events 1000000 --rounds 3 --methods engine,bare-body \
        --checkout /work/wt/base --ledger

The emulator runs in its own process (its JSON parsing and recording cost the same for
every side). The same valid events, from a generated spreadsheet read and validated
once, are sent by:

- `engine`: `plan_send(valid table, credentials, ledger=None).send()`, the real path of
  the app, the notebook and the CLI for a table (pacing off, as against the sandbox): it
  writes each batch's request body as it sends it. With `--ledger`, also `engine+ledger`:
  the same with a new send ledger (the guard's fingerprints, the claim, a write before
  and after every batch). With `--checkout DIR`, the engine of that checkout too (another
  version of bento_ui, say the one before a change), in the same run;
- `bare-body`: bare `requests.post(url, data=body, ...)` of request bodies built before
  the clock starts: the floor;
- `client`: `BentoClient.send_batch` of pre-built dicts;
- `prepared`: `plan_send` of a prepared file (no ledger), the chunked path for big files:
  reads the file again, validates each chunk, builds the events of each batch and sends;
- `bare-json` and `session-json`: bare `requests.post(json=...)` of pre-built dicts, without
  and with a session.

Each engine runs in a child process (`PYTHONPATH` its checkout; the clock starts at
`plan_send` and stops at its report, so imports and loading the table do not count).
Each round runs every method in turn, and the emulator forgets the events between
methods. Per method: the median events/s over the rounds, the median of each round's
ratio to the floor's time in that round (steadier on a shared machine), and the client's
own CPU time per batch (wall time includes the emulator's work; CPU time is ours alone).
The emulator closes the connection after each answer (as `Connection: close` servers
do), so every method opens one connection per batch.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import requests

from bench import data
from bench.report import header, table

_LAUNCH = """
import json, sys
from bento_ui.emulator import Emulator
bento = Emulator().start()
c = bento.credentials
print(json.dumps({"url": bento.url, "base_url": c.base_url, "site_uuid": c.site_uuid,
                  "publishable_key": c.publishable_key, "secret_key": c.secret_key}), flush=True)
bento.serve_forever()
"""


def _start_emulator() -> tuple[subprocess.Popen[str], dict[str, str]]:
    process = subprocess.Popen([sys.executable, "-c", _LAUNCH], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    info: dict[str, str] = json.loads(process.stdout.readline())
    return process, info


# One engine run, in a child process: prints its wall and CPU seconds and what it recorded.
_ENGINE = """
import json, sys, tempfile, time
from pathlib import Path
import pandas as pd
from bento_ui.config import Credentials
from bento_ui.ledger import Ledger
from bento_ui.sending import plan_send
table, info, size, with_ledger = sys.argv[1:5]
valid = pd.read_pickle(table)
credentials = Credentials(**json.loads(info))
with tempfile.TemporaryDirectory() as home:
    ledger = Ledger(Path(home) / "ledger.sqlite3") if with_ledger == "1" else None
    wall, cpu = time.perf_counter(), time.process_time()
    report = plan_send(valid, credentials, ledger=ledger, batch_size=int(size)).send()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if ledger is not None:
        ledger.close()
print(json.dumps({"wall": wall, "cpu": cpu, "recorded": report.totals["recorded"]}))
"""
METHODS = ("engine", "bare-body", "client", "prepared", "bare-json", "session-json")


def _engine(root: str, table: str, info: dict[str, str], size: int, ledger: bool) -> Any:
    import os

    env = {**os.environ, "PYTHONPATH": root}
    done = subprocess.run(
        [sys.executable, "-c", _ENGINE, table, json.dumps(info), str(size), "1" if ledger else "0"],
        env=env, cwd=root, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="send benchmark against the local emulator")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--methods", default=",".join(METHODS), help=f"comma-separated, of {', '.join(METHODS)}"
    )
    parser.add_argument("--ledger", action="store_true", help="also the engine with a ledger")
    parser.add_argument(
        "--checkout", action="append", default=[], metavar="DIR",
        help="also the engine of this checkout (another version of bento_ui), in the same run",
    )  # fmt: skip
    args = parser.parse_args(argv)
    chosen = [m.strip() for m in args.methods.split(",") if m.strip()]
    if unknown := set(chosen) - set(METHODS):
        parser.error(f"unknown methods: {', '.join(sorted(unknown))}")

    import tempfile
    from pathlib import Path

    from bento_ui.batching import plan_batches
    from bento_ui.client import USER_AGENT, BentoClient, batch_body
    from bento_ui.config import Credentials
    from bento_ui.mapping import ColumnMapping, apply_mapping, suggest_mapping
    from bento_ui.payloads import build_events
    from bento_ui.pipeline import prepare_in_chunks, read_header
    from bento_ui.sending import plan_send
    from bento_ui.spreadsheet import read_table
    from bento_ui.validation import validate

    header("send: events/s to the local emulator, pacing off", "bench.send")
    path = data.ensure(args.events, "csv")
    suggested = suggest_mapping(read_header(path))
    mapping = ColumnMapping({**suggested.columns, **data.MAPPING_OVERRIDES})
    valid = validate(apply_mapping(read_table(path), mapping)).valid
    batches = plan_batches(build_events(valid), [int(r) for r in valid.index], args.batch_size)
    bodies = [batch_body(list(b.events)) for b in batches]
    prepared = prepare_in_chunks(path, mapping) if "prepared" in chosen else None
    total = sum(b.size for b in batches)
    print(
        f"{total:,} valid events from {path.name} in {len(batches)} batches of "
        f"{args.batch_size} ({sum(map(len, bodies)) / 1e6:,.0f} MB of JSON), "
        f"{args.rounds} rounds\n"
    )
    scratch = tempfile.TemporaryDirectory()
    table_file = str(Path(scratch.name) / "valid.pkl")
    valid.to_pickle(table_file)

    process, info = _start_emulator()
    credentials = Credentials(
        site_uuid=info["site_uuid"],
        publishable_key=info["publishable_key"],
        secret_key=info["secret_key"],
        base_url=info["base_url"],
    )
    keys = {k: info[k] for k in ("site_uuid", "publishable_key", "secret_key", "base_url")}
    url = f"{info['base_url']}/batch/events"
    auth = (info["publishable_key"], info["secret_key"])
    params = {"site_uuid": info["site_uuid"]}
    headers = {"User-Agent": USER_AGENT}
    body_headers = {**headers, "Content-Type": "application/json"}

    def engine(root: str, ledger: bool) -> Callable[[], tuple[int, float, float]]:
        def run() -> tuple[int, float, float]:
            done = _engine(root, table_file, keys, args.batch_size, ledger)
            return int(done["recorded"]), float(done["wall"]), float(done["cpu"])

        return run

    def ours() -> int:
        recorded = 0
        with BentoClient(credentials, requests_per_minute=None) as client:
            for batch in batches:
                outcome = client.send_batch(list(batch.events))
                recorded += outcome.results or 0
        return recorded

    def streamed() -> int:
        plan = plan_send(prepared, credentials, ledger=None, batch_size=args.batch_size)
        report = plan.send()
        return report.totals["recorded"]

    def bare_body() -> int:
        recorded = 0
        for body in bodies:
            answer = requests.post(
                url, params=params, data=body, auth=auth, headers=body_headers, timeout=30
            )
            recorded += answer.json()["results"]
        return recorded

    def bare() -> int:
        recorded = 0
        for batch in batches:
            answer = requests.post(
                url, params=params, json={"events": list(batch.events)}, auth=auth,
                headers=headers, timeout=30,
            )  # fmt: skip
            recorded += answer.json()["results"]
        return recorded

    def bare_session() -> int:
        recorded = 0
        with requests.Session() as session:
            for batch in batches:
                answer = session.post(
                    url, params=params, json={"events": list(batch.events)}, auth=auth,
                    headers=headers, timeout=30,
                )  # fmt: skip
                recorded += answer.json()["results"]
        return recorded

    here = str(Path(__file__).resolve().parent.parent)
    engines: dict[str, Callable[[], tuple[int, float, float]]] = {}
    if "engine" in chosen:
        for root in [here, *args.checkout]:
            name = "plan_send(table).send()" + ("" if root == here else f" [{root}]")
            engines[name] = engine(root, False)
            if args.ledger:
                engines[name.replace("(table)", "(table, ledger)")] = engine(root, True)
    methods: dict[str, Callable[[], int]] = {
        name: method for key, name, method in (
            ("bare-body", "requests.post(data=pre-built body)", bare_body),
            ("client", "BentoClient.send_batch", ours),
            ("prepared", "plan_send(prepared) (re-read + validate + send)", streamed),
            ("bare-json", "requests.post(json=...)", bare),
            ("session-json", "requests.Session().post(json=...)", bare_session),
        ) if key in chosen
    }  # fmt: skip
    names = [*engines, *methods]
    timings: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    try:
        for round_number in range(args.rounds):
            for name in names:
                requests.post(f"{info['url']}/_emulator/reset", timeout=30)
                if name in engines:
                    recorded, wall, cpu = engines[name]()
                else:
                    wall, cpu = time.perf_counter(), time.process_time()
                    recorded = methods[name]()
                    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                if recorded != total:
                    raise SystemExit(f"{name}: {recorded} events recorded, {total} sent")
                timings[name].append((wall, cpu))
                print(f"  round {round_number + 1} {name}: {wall:.2f} s", file=sys.stderr)
    finally:
        process.terminate()
        process.wait(timeout=10)
        scratch.cleanup()

    floors = ("requests.post(data=pre-built body)", "requests.post(json=...)")
    floor_name = next((n for n in floors if n in timings), names[0])
    floor = statistics.median(w for w, _ in timings[floor_name])
    rows: list[list[Any]] = []
    for name, runs in timings.items():
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        # Each round's time over the floor's in the same round: the methods of a round ran
        # one after the other, under about the same load, so this is steadier.
        ratios = [w / f for (w, _), (f, _) in zip(runs, timings[floor_name], strict=True)]
        rows.append([
            name, f"{total / wall:,.0f}", f"{wall:.2f}", f"{cpu / len(batches) * 1000:.1f}",
            f"{(wall / floor - 1) * 100:+.1f}%",
            f"{statistics.median(ratios):.3f} ({min(ratios):.2f}-{max(ratios):.2f})",
        ])  # fmt: skip
    print(table(
        ["method", "events/s", "seconds (median)", "client CPU ms/batch", f"vs {floor_name}",
         "round by round: median ratio (range)"],
        rows,
    ))  # fmt: skip
    print(
        f"\nAgainst Bento, pacing allows 60 requests a minute: at most {args.batch_size:,} "
        "events/s whatever the client does."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
