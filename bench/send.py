"""`send`: events/s to the local emulator, our client against a bare `requests.post`.

    python -m bench.send --events 100000 --rounds 5

The emulator runs in its own process (its JSON parsing and recording cost the same for
every side). The same batches of 1000 events, built from a generated spreadsheet, are
sent by:

- `BentoClient.send_batch` (pacing off, as against the sandbox): what the app sends with;
- `plan_send` of a prepared file (no ledger), the chunked path for big files: reads the
  file again, validates each chunk, builds the events of each batch and sends them;
- bare `requests.post(url, json={"events": batch}, auth=..., headers=...)`: the floor;
- bare `requests.Session().post(json=...)`: the same with a session.

Each round sends every batch with each method in turn, and the emulator forgets the
events between methods. Per method: the median events/s over the rounds, and the client's
own CPU time per batch (wall time includes the emulator's work; CPU time is ours alone).
The emulator closes the connection after each answer (as `Connection: close` servers do),
so every method opens one connection per batch.
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
    process = subprocess.Popen(
        [sys.executable, "-c", _LAUNCH], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    info: dict[str, str] = json.loads(process.stdout.readline())
    return process, info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="send benchmark against the local emulator")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)

    from bento_ui.batching import plan_batches
    from bento_ui.client import USER_AGENT, BentoClient
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
    prepared = prepare_in_chunks(path, mapping)
    total = sum(b.size for b in batches)
    body_mb = sum(len(json.dumps({"events": list(b.events)})) for b in batches) / 1e6
    print(
        f"{total:,} valid events from {path.name} in {len(batches)} batches of "
        f"{args.batch_size} ({body_mb:,.0f} MB of JSON), {args.rounds} rounds\n"
    )

    process, info = _start_emulator()
    credentials = Credentials(
        site_uuid=info["site_uuid"],
        publishable_key=info["publishable_key"],
        secret_key=info["secret_key"],
        base_url=info["base_url"],
    )
    url = f"{info['base_url']}/batch/events"
    auth = (info["publishable_key"], info["secret_key"])
    params = {"site_uuid": info["site_uuid"]}
    headers = {"User-Agent": USER_AGENT}

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

    methods: dict[str, Callable[[], int]] = {
        "BentoClient.send_batch": ours,
        "plan_send(prepared) (re-read + validate + send)": streamed,
        "requests.post(json=...)": bare,
        "requests.Session().post(json=...)": bare_session,
    }
    timings: dict[str, list[tuple[float, float]]] = {name: [] for name in methods}
    try:
        for round_number in range(args.rounds):
            for name, method in methods.items():
                requests.post(f"{info['url']}/_emulator/reset", timeout=30)
                wall, cpu = time.perf_counter(), time.process_time()
                recorded = method()
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                if recorded != total:
                    raise SystemExit(f"{name}: {recorded} events recorded, {total} sent")
                timings[name].append((wall, cpu))
                print(f"  round {round_number + 1} {name}: {wall:.2f} s", file=sys.stderr)
    finally:
        process.terminate()
        process.wait(timeout=10)

    floor = statistics.median(w for w, _ in timings["requests.post(json=...)"])
    rows: list[list[Any]] = []
    for name, runs in timings.items():
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        rows.append([
            name, f"{total / wall:,.0f}", f"{wall:.2f}", f"{cpu / len(batches) * 1000:.1f}",
            f"{(wall / floor - 1) * 100:+.1f}%",
        ])  # fmt: skip
    print(table(
        ["method", "events/s", "seconds (median)", "client CPU ms/batch",
         "vs requests.post"],
        rows,
    ))  # fmt: skip
    print(
        f"\nAgainst Bento, pacing allows 60 requests a minute: at most {args.batch_size:,} "
        "events/s whatever the client does."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
