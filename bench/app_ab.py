"""`app_ab`: this checkout's app against another checkout's, sessions alternating.

    python -m bench.app_ab --against /work/wt/base --rows 100000 --rounds 4

On a shared machine the load changes from one minute to the next, so two `bench.app`
runs one after the other compare the load as much as the code. This starts both apps
(`streamlit run app.py` of each checkout, with its own code on PYTHONPATH and its own
BENTO_UI_HOME), and one Chromium drives `bench.app.session` (the same upload and three
clicks) against each in turn, the order swapped every round (A B, B A, ...). It prints
each session and, per step, the best and the median of each side and their ratios. It
never asserts on time; it exits 1 if the two apps showed different summaries.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench import data
from bench.app import ROOT, session
from bench.report import header, table


def _serve(root: Path, home: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    sys.path.insert(0, str(ROOT / "tests"))
    from browser_support import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BENTO_")}
    env |= {"BENTO_UI_HOME": home, "PYTHONPATH": str(root)}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(root / "app.py"),
             "--server.headless", "true", "--server.address", "127.0.0.1",
             "--server.port", str(port), "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none"],
            cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                return proc, url
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the app of {root} did not start:\n{log.read_text()}") from None
            time.sleep(0.3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", type=Path, required=True, help="the other checkout")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--format", choices=["csv", "xlsx"], default="csv")
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "tests"))
    from browser_support import launch
    from playwright.sync_api import sync_playwright

    header("app_ab: upload -> summary, this checkout against another, alternating",
           "bench.app_ab")  # fmt: skip
    path = data.ensure(args.rows, args.format)
    sides = {"other": args.against.resolve(), "this": ROOT}
    print(f"other: {sides['other']}; this: {ROOT}; {args.rows:,} rows, {path.name}\n")
    shown: dict[str, list[dict[str, float]]] = {side: [] for side in sides}
    summaries: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-app-ab-") as tmp:
        servers = {side: _serve(root, f"{tmp}/{side}", Path(tmp) / f"{side}.log")
                   for side, root in sides.items()}  # fmt: skip
        try:
            with sync_playwright() as playwright:
                browser = launch(playwright)
                for n in range(args.rounds):
                    for side in list(sides) if n % 2 == 0 else list(reversed(sides)):
                        proc, url = servers[side]
                        run = session(browser, url, path, args.rows, proc.pid)
                        steps = {s.name: s.shown or 0.0 for s in run.steps[1:]}
                        shown[side].append(steps)
                        summaries[side] = run.figures["metrics"]
                        print(f"round {n + 1}, {side}: "
                              + ", ".join(f"{k} {v:.2f} s" for k, v in steps.items())
                              + f" (load {os.getloadavg()[0]:.1f})", flush=True)  # fmt: skip
                browser.close()
        finally:
            for proc, _ in servers.values():
                proc.terminate()
                proc.wait()

    rows = []
    for step in shown["this"][0]:
        other = [s[step] for s in shown["other"]]
        this = [s[step] for s in shown["this"]]
        rows.append([
            step, f"{min(other):.2f} / {statistics.median(other):.2f}",
            f"{min(this):.2f} / {statistics.median(this):.2f}",
            f"**{min(other) / min(this):.2f}x**",
            f"{statistics.median(other) / statistics.median(this):.2f}x",
        ])  # fmt: skip
    print()
    print(table(["step", "other: best / median (s)", "this: best / median (s)",
                 "other / this, best", "other / this, median"], rows))  # fmt: skip
    same = summaries["this"] == summaries["other"]
    print(f"\nsummary on screen: {summaries['this']}"
          + ("" if same else f"; the other showed {summaries['other']}"))  # fmt: skip
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
