"""`prepare`: read + map + validate + build every payload, against the bare parse.

    python -m bench.prepare --rows 1000000 --format csv
    python -m bench.prepare --rows 1000000 5000000 --variants bare stream   # memory at scale

Each variant runs in a fresh process (so peak RSS is its own) on the same generated
file, in this order, and prints one Markdown table per file:

- `bare`: `pandas.read_csv(path, engine="pyarrow", dtype=str)`; for XLSX the fastest
  reader there is, python-calamine's `to_python()` grid. The yardstick.
- `bare-reader`: our `read_table` alone (text-exact: row numbers, no NA guessing).
- `ours`: `read_table` + `suggest_mapping`/`apply_mapping` + `validate` + `build_events`.
- `stream`: `bento_ui.pipeline.prepare_in_chunks`, the same work chunk by chunk.
- `per-row`: bench/baseline.py, a straightforward loop that validates one dict per row.

`--repeat N` runs every variant N times and keeps the fastest (the machine is shared and
noisy; memory is the same each time), except `per-row`, which runs once: it is ten times
slower or more, so noise cannot change what it shows. `--cleanup` deletes the generated
files of 1M rows and more at the end.

The table's last line, "read + map + validate", is `ours` without the payloads: what the
person waits for before the summary (the app and `send_stream` build payloads per batch).
The line after it gives the same in CPU seconds, the process's own and the kernel's,
against the bare parse's: the own CPU is the steady figure on a shared machine.
"""

from __future__ import annotations

import argparse
import sys

from bench import data
from bench.report import header, run_child, table
from bench.variants import VARIANTS

DEFAULT_VARIANTS = ("bare", "bare-reader", "ours", "ours-dicts", "stream", "per-row")


def _cpu_line(ours: dict[str, object], bare: dict[str, object]) -> str:
    """read + map + validate in CPU seconds against the bare parse's: the process's own
    CPU varies little from run to run here, the kernel's (first touches of fresh memory
    on this virtual machine) varies several-fold and drives the wall-clock ratio."""
    own, kernel = float(ours["checked_user_s"]), float(ours["checked_kernel_s"])  # type: ignore[arg-type]
    bare_own, bare_kernel = float(bare["user_s"]), float(bare["kernel_s"])  # type: ignore[arg-type]
    return (
        f"  in CPU seconds: own {own:.2f} against {bare_own:.2f} ({own / bare_own:.2f}x), "
        f"the kernel's {kernel:.2f} against {bare_kernel:.2f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="read + map + validate + payloads benchmark")
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000])
    parser.add_argument("--format", choices=["csv", "xlsx"], nargs="+", default=["csv"])
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=DEFAULT_VARIANTS)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=data.SEED)
    parser.add_argument("--cleanup", action="store_true", help="delete files of 1M+ rows after")
    args = parser.parse_args(argv)

    header("prepare: read + map + validate + build payloads", "bench.prepare")
    for fmt in args.format:
        for rows in args.rows:
            path = data.ensure(rows, fmt, args.seed)
            size_mb = path.stat().st_size / 1e6
            print(f"## {rows:,} rows, {fmt.upper()} ({size_mb:,.0f} MB, {path.name})")
            results: dict[str, dict[str, object]] = {}
            for variant in args.variants:
                best: dict[str, object] | None = None
                for _ in range(1 if variant == "per-row" else args.repeat):
                    figures = run_child(
                        ["bench.variants", variant, str(path), "--chunk-rows",
                         str(args.chunk_rows)]
                    )  # fmt: skip
                    if best is None or float(figures["seconds"]) < float(best["seconds"]):  # type: ignore[arg-type]
                        best = figures
                assert best is not None
                results[variant] = best
                print(f"  {variant}: {best}", file=sys.stderr, flush=True)
            bare = float(results["bare"]["seconds"]) if "bare" in results else None  # type: ignore[arg-type]
            lines = []
            for variant, f in results.items():
                seconds = float(f["seconds"])  # type: ignore[arg-type]
                lines.append([
                    variant,
                    f"{seconds:,.2f}",
                    f"{float(f['user_s']):,.2f} / {float(f['kernel_s']):,.2f}",  # type: ignore[arg-type]
                    f"{rows / seconds:,.0f}",
                    f"{float(f['peak_mb']):,.0f}",  # type: ignore[arg-type]
                    f"{seconds / bare:.2f}x" if bare else "",
                    f.get("valid", ""),
                    f.get("problems", ""),
                ])  # fmt: skip
            print(table(
                ["variant", "seconds", "CPU s: own / kernel", "rows/s", "peak MB",
                 "vs bare parse", "valid", "problems"],
                lines,
            ))  # fmt: skip
            if "ours" in results and "stages" in results["ours"]:
                stages: dict[str, float] = results["ours"]["stages"]  # type: ignore[assignment]
                print(f"\nours, by stage (s): {stages}")
                checked = stages["read"] + stages["map"] + stages["validate"]
                if bare:
                    print(
                        f"read + map + validate: {checked:.2f} s, {checked / bare:.2f}x the "
                        "bare parse"
                    )
                    print(_cpu_line(results["ours"], results["bare"]))
            if "ours" in results and "per-row" in results:
                speedup = float(results["per-row"]["seconds"]) / float(results["ours"]["seconds"])  # type: ignore[arg-type]
                print(f"ours is {speedup:.1f}x faster than the per-row baseline")
            print(flush=True)
            if args.cleanup and rows >= 1_000_000:
                path.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
