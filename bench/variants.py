"""One measured variant, run in a fresh process: prints one JSON line with its figures.

    python -m bench.variants ours bench/out/events-1000000.csv

Seconds are wall-clock for the work only (after imports), with the CPU time the process
spent in that while, its own (`user_s`, every thread) and the kernel's for it
(`kernel_s`): on a shared virtual machine, the first touch of memory the process has not
used yet costs 3.5-10 µs a page, so the same work can take twice as long from one run to
the next, and the kernel's share shows it. Peak memory is the child's `ru_maxrss`, so it
includes the interpreter and the imported libraries (about 100-150 MB for pandas +
pyarrow), honestly, as a person would see it.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

VARIANTS = ("bare", "bare-reader", "ours", "ours-dicts", "stream", "per-row")


class _Clock:
    """Wall-clock and CPU seconds since it was made."""

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = resource.getrusage(resource.RUSAGE_SELF)

    def figures(self) -> dict[str, float]:
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "seconds": time.perf_counter() - self.wall,
            "user_s": round(cpu.ru_utime - self.cpu.ru_utime, 3),
            "kernel_s": round(cpu.ru_stime - self.cpu.ru_stime, 3),
        }


def _mapping(headers: Any) -> Any:
    from bench.data import MAPPING_OVERRIDES
    from bento_ui.mapping import ColumnMapping, suggest_mapping

    suggested = suggest_mapping(headers)
    return ColumnMapping({**suggested.columns, **MAPPING_OVERRIDES}, suggested.default_type)


def bare(path: Path) -> dict[str, Any]:
    """The bare parse: pandas+pyarrow for CSV, python-calamine's grid for XLSX."""
    if path.suffix == ".csv":
        import pandas as pd

        clock = _Clock()
        frame = pd.read_csv(path, engine="pyarrow", dtype=str)
        return {**clock.figures(), "rows": len(frame)}
    import python_calamine

    clock = _Clock()
    book = python_calamine.CalamineWorkbook.from_path(str(path))
    grid = book.get_sheet_by_index(0).to_python()
    return {**clock.figures(), "rows": len(grid) - 1}


def bare_reader(path: Path) -> dict[str, Any]:
    """Our reader alone (`read_table`): text-exact parsing, row numbers, tidy columns."""
    from bento_ui.spreadsheet import read_table

    clock = _Clock()
    sheet = read_table(path)
    return {**clock.figures(), "rows": len(sheet)}


def ours(path: Path, dicts: bool = False) -> dict[str, Any]:
    """read_table + mapping + validate + every payload, each stage timed. The payloads are
    the JSON text of each event (`encode_events`, what is sent), or with `dicts` the
    Python dicts of `build_events` (what a notebook shows)."""
    from bento_ui.mapping import apply_mapping
    from bento_ui.payloads import build_events, encode_events
    from bento_ui.spreadsheet import read_table
    from bento_ui.validation import validate

    stages: dict[str, float] = {}
    clock = _Clock()
    last = clock.wall

    def lap(name: str) -> None:
        nonlocal last
        now = time.perf_counter()
        stages[name] = round(now - last, 3)
        last = now

    sheet = read_table(path)
    lap("read")
    table = apply_mapping(sheet, _mapping(sheet.columns))
    lap("map")
    result = validate(table)
    lap("validate")
    # What the person waits for before the summary, in CPU seconds too: on this shared
    # machine the process's own CPU varies far less from run to run than the wall clock.
    checked = clock.figures()
    events = build_events(result.valid) if dicts else encode_events(result.valid)
    lap("payloads")
    return {
        **clock.figures(),
        "rows": len(sheet),
        "valid": len(result.valid),
        "problems": len(result.problems),
        "events": len(events),
        "stages": stages,
        "checked_user_s": checked["user_s"],
        "checked_kernel_s": checked["kernel_s"],
    }


def stream(path: Path, chunk_rows: int) -> dict[str, Any]:
    """The chunked path, one pass: read, map, validate and build the payloads (JSON text)
    chunk by chunk, keeping only the problems (`pipeline.prepare_in_chunks`)."""
    from bento_ui import pipeline

    clock = _Clock()
    events = 0

    def count(chunk: pipeline.Chunk) -> None:
        nonlocal events
        events += len(chunk.texts)

    headers = pipeline.read_header(path)
    prepared = pipeline.prepare_in_chunks(
        path, _mapping(headers), chunk_rows=chunk_rows, on_chunk=count
    )
    return {
        **clock.figures(),
        "rows": prepared.summary["rows"],
        "valid": prepared.summary["valid"],
        "problems": len(prepared.problems),
        "events": events,
    }


def per_row(path: Path) -> dict[str, Any]:
    from bench import baseline
    from bench.data import HEADER, MAPPING_OVERRIDES
    from bento_ui.mapping import suggest_mapping

    mapping = {**suggest_mapping(HEADER).columns, **MAPPING_OVERRIDES}
    clock = _Clock()
    events, problems = baseline.prepare(path, mapping)
    return {
        **clock.figures(),
        "valid": len(events),
        "problems": len(problems),
        "events": len(events),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("variant", choices=VARIANTS)
    parser.add_argument("path", type=Path)
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    args = parser.parse_args(argv)
    if args.variant == "bare":
        figures = bare(args.path)
    elif args.variant == "bare-reader":
        figures = bare_reader(args.path)
    elif args.variant in ("ours", "ours-dicts"):
        figures = ours(args.path, dicts=args.variant == "ours-dicts")
    elif args.variant == "stream":
        figures = stream(args.path, args.chunk_rows)
    else:
        figures = per_row(args.path)
    figures["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
