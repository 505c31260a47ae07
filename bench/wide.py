"""`wide`: seconds to read, map and validate a sheet of thousands of columns.

    python -m bench.wide --columns 500 1000 1998 --rows 20

The CLI's `validate` and `send` do exactly these steps (`read_table`, `suggest_mapping`,
`apply_mapping`, `validate`). The sheet is `Email, Event, Col 0 … Col N-1` with a
distinct value in every cell, made in memory; every column becomes `fields.col_<i>`.
The figure to watch is how the total grows with the columns: it should double when
the columns double (it grew four times when mapping added the columns one by one).
"""

from __future__ import annotations

import argparse
import csv
import io
import time

from bento_ui import apply_mapping, read_table, suggest_mapping, validate


def wide_csv(columns: int, rows: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Email", "Event", *(f"Col {i}" for i in range(columns))])
    for r in range(rows):
        writer.writerow([f"user{r}@example.com", "signup", *(f"v{r}_{i}" for i in range(columns))])
    return out.getvalue().encode()


def measure(columns: int, rows: int) -> dict[str, float]:
    data = wide_csv(columns, rows)
    times: dict[str, float] = {}
    start = time.perf_counter()
    sheet = read_table(data, name="wide.csv")
    times["read"] = time.perf_counter() - start
    mark = time.perf_counter()
    mapping = suggest_mapping(sheet.columns)
    times["suggest"] = time.perf_counter() - mark
    mark = time.perf_counter()
    table = apply_mapping(sheet, mapping)
    times["map"] = time.perf_counter() - mark
    mark = time.perf_counter()
    result = validate(table)
    times["validate"] = time.perf_counter() - mark
    times["total"] = time.perf_counter() - start
    assert result.summary["valid"] == rows, result.summary
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # 1,998 fields with the email and the type: the widest sheet read (2,000 columns).
    parser.add_argument("--columns", type=int, nargs="+", default=[500, 1000, 1998])
    parser.add_argument("--rows", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3, help="keep the fastest run")
    args = parser.parse_args()
    print(f"| columns | read s | suggest s | map s | validate s | total s |  ({args.rows} rows)")
    print("|---:|---:|---:|---:|---:|---:|")
    for columns in args.columns:
        runs = [measure(columns, args.rows) for _ in range(args.repeat)]
        best = min(runs, key=lambda t: t["total"])
        cells = " | ".join(f"{best[k]:.2f}" for k in ("read", "suggest", "map", "validate"))
        print(f"| {columns:,} | {cells} | {best['total']:.2f} |")


if __name__ == "__main__":
    main()
