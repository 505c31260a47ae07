"""A seeded generator of realistic event spreadsheets, with about 2% bad rows of every kind.

    python -m bench.data --rows 1000000 --format csv      # writes bench/out/events-1000000.csv

The sheet looks like a marketing export: `Email Address, Event, Date, First Name, Last
Name, Plan, Company, Country, Order ID, Amount, Currency, Tag, Details`. Events are a mix
of custom events (webinar_attended, signup, $completed_onboarding), `$purchase` (order id,
integer cents, currency, sometimes a cart in the Details JSON), `$tag` and
`$update_fields`; dates are all `YYYY-MM-DD HH:MM:SS`. About `--bad` (2%) of the rows carry
one problem each, spread evenly over every kind the validator knows (see BAD_KINDS), so
every check has real work to do. Duplicates copy a row up to 2,000 rows back, so some
cross a streaming chunk boundary.

CSV is written with the csv module (quotes only where needed, like Excel); XLSX with
openpyxl in write-only mode (dates as real date cells, amounts as numbers, like an
export from a shop). The same seed and size always give the same file, so a file is
generated once and reused.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import json
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
SEED = 20261126
CHUNK = 50_000

HEADER = [
    "Email Address", "Event", "Date", "First Name", "Last Name", "Plan", "Company",
    "Country", "Order ID", "Amount", "Currency", "Tag", "Details",
]  # fmt: skip
# What the person chooses on top of the suggested mapping (the CLI's --map).
MAPPING_OVERRIDES = {
    "Order ID": "details.unique.key",
    "Amount": "details.value.amount",
    "Currency": "details.value.currency",
    "Tag": "details.tag",
    "Details": "details",
}
BAD_KINDS = (
    "bad_email", "missing_type", "bad_date", "purchase_without_key", "purchase_decimal_amount",
    "purchase_bad_currency", "tag_without_tag", "nested_field", "invalid_details_json",
    "details_not_object", "details_overlap", "duplicate", "empty_row", "whitespace",
    "future_date", "mistyped_kind",
)  # fmt: skip

FIRST = [
    "Jane", "John", "Maria", "Ahmed", "Wei", "Olga", "Lukas", "Sofia", "Liam", "Noah", "Emma",
    "Mia", "Chen", "Yuki", "Aarav", "Zoe", "Jörg", "Anaïs", "Björn", "Chloé", "Mateo", "Lucía",
    "Amara", "Kofi", "Ines", "Omar", "Priya", "Sven", "Hana", "Diego"
]  # fmt: skip
LAST = [
    "Smith", "Jones", "Garcia", "Müller", "Rossi", "Kim", "Nguyen", "Patel", "Silva", "Cohen",
    "Novak", "Berg", "Dubois", "Haddad", "Kowalski", "Tanaka", "Okafor", "Larsen", "Moreau",
    "Schmidt", "Costa", "Ivanova", "Walsh", "Reyes"
]  # fmt: skip
DOMAINS = [
    "example.com", "gmail.com", "outlook.com", "yahoo.co.uk", "acme.io", "globex.de",
    "initech.fr", "mail.example.org"
]  # fmt: skip
PLANS = ("free", "starter", "pro", "team", "enterprise")
COMPANIES = ("Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark Industries", "")
COUNTRIES = ("US", "GB", "DE", "FR", "ES", "IN", "JP", "BR", "NG", "")
CURRENCIES = ("USD", "EUR", "GBP")
TAGS = ("vip", "webinar-2026", "churn-risk", "beta", "newsletter")
EVENTS = (
    ("webinar_attended", 30), ("signup", 18), ("$purchase", 27), ("$tag", 12),
    ("$completed_onboarding", 8), ("$update_fields", 5),
)  # fmt: skip
START = dt.datetime(2024, 1, 1)
SPAN_SECONDS = 2 * 365 * 86400  # 2024-2025: all in the past


def path_for(rows: int, fmt: str, seed: int = SEED) -> Path:
    suffix = "" if seed == SEED else f"-s{seed}"
    return OUT / f"events-{rows}{suffix}.{fmt}"


def ensure(rows: int, fmt: str, seed: int = SEED, bad: float = 0.02) -> Path:
    """The input file for this size and format, generated on first use."""
    path = path_for(rows, fmt, seed)
    if not path.exists():
        started = time.perf_counter()
        print(f"generating {path.name} ...", file=sys.stderr, flush=True)
        write(path, rows, fmt, seed=seed, bad=bad)
        print(
            f"generated {path.name}: {path.stat().st_size / 1e6:,.0f} MB in "
            f"{time.perf_counter() - started:,.1f} s",
            file=sys.stderr,
            flush=True,
        )
    return path


def write(path: Path, rows: int, fmt: str, *, seed: int = SEED, bad: float = 0.02) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    if fmt == "csv":
        with open(tmp, "w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file, lineterminator="\r\n")
            writer.writerow(HEADER)
            for chunk in generate(rows, seed=seed, bad=bad):
                writer.writerows(chunk)
    elif fmt == "xlsx":
        _write_xlsx(tmp, rows, seed, bad)
    else:
        raise SystemExit(f"unknown format {fmt!r}: csv or xlsx")
    tmp.replace(path)


def generate(rows: int, *, seed: int = SEED, bad: float = 0.02) -> Iterator[list[list[str]]]:
    """The data rows, in chunks of lists of cells (text, as in a CSV)."""
    rng = random.Random(seed)
    names, weights = zip(*EVENTS, strict=True)
    recent: list[list[str]] = []  # the last rows, for duplicates
    done = 0
    while done < rows:
        n = min(CHUNK, rows - done)
        types = rng.choices(names, weights, k=n)
        chunk = [_row(rng, done + i, types[i]) for i in range(n)]
        for i in range(n):
            if rng.random() < bad:
                kind = BAD_KINDS[rng.randrange(len(BAD_KINDS))]
                chunk[i] = _spoil(rng, chunk[i], kind, recent + chunk[:i], done + i)
        recent = chunk[-2000:]
        done += n
        yield chunk


def _row(rng: random.Random, n: int, event: str) -> list[str]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    email = f"{first.lower()}.{last.lower()}{n}@{rng.choice(DOMAINS)}"
    when = START + dt.timedelta(seconds=rng.randrange(SPAN_SECONDS))
    order = amount = currency = tag = details = ""
    if event == "$purchase":
        order = f"ORD-{n:08d}"
        amount = str(rng.choice((999, 1999, 4999, 12900, 250, 100000)))
        currency = rng.choice(CURRENCIES)
        if rng.random() < 0.2:
            items = [{"sku": f"SKU-{rng.randrange(1000):04d}", "qty": rng.randint(1, 3)}]
            details = json.dumps({"cart": {"items": items}})
    elif event == "$tag":
        tag = rng.choice(TAGS)
    elif event == "webinar_attended" and rng.random() < 0.3:
        details = json.dumps({"webinar": "Q3 launch", "minutes": rng.randint(5, 90)})
    return [
        email, event, when.strftime("%Y-%m-%d %H:%M:%S"), first, last, rng.choice(PLANS),
        rng.choice(COMPANIES), rng.choice(COUNTRIES), order, amount, currency, tag, details,
    ]  # fmt: skip


def _spoil(
    rng: random.Random, row: list[str], kind: str, earlier: list[list[str]], n: int
) -> list[str]:
    row = list(row)
    name = f"{row[3].lower()}{n}"
    if kind == "bad_email":
        row[0] = rng.choice(
            (f"{name}@", f"{name}.example.com", f"{name}..x@example.com", f"{name}@example",
             f"{name}@example.c", f"{name} x@example.com", f"@{name}.com")
        )  # fmt: skip
    elif kind == "missing_type":
        row[1] = ""
    elif kind == "bad_date":
        row[2] = rng.choice(("not a date", "TBD", "2024-02-30 10:00:00", "n/a"))
    elif kind.startswith("purchase_"):
        row[1], row[8], row[9], row[10] = "$purchase", f"ORD-{n:08d}", "4999", "USD"
        if kind == "purchase_without_key":
            row[8] = ""
        elif kind == "purchase_decimal_amount":
            row[9] = rng.choice(("49.99", "12,50", "ten"))
        else:
            row[10] = rng.choice(("usd", "US$", "euro"))
    elif kind == "tag_without_tag":
        row[1], row[11] = "$tag", ""
    elif kind == "nested_field":
        if rng.random() < 0.5:
            row[5] = '{"tier": "pro", "seats": 5}'
        else:
            row[6] = '["Acme", "Globex"]'
    elif kind == "invalid_details_json":
        row[12] = rng.choice(('{"webinar": "Q3 launch", minutes: 42}', "{not json", '{"a": 1'))
    elif kind == "details_not_object":
        row[12] = rng.choice(("[1, 2]", '"vip"', "42"))
    elif kind == "details_overlap":
        row[1], row[11], row[12] = "$tag", "vip", '{"tag": "beta"}'
    elif kind == "duplicate" and earlier:
        row = list(earlier[rng.randrange(len(earlier))])
    elif kind == "empty_row":
        row = [""] * len(row)
    elif kind == "whitespace":
        row[0], row[1] = f"  {row[0]} ", f" {row[1]}"
    elif kind == "future_date":
        row[2] = "2031-05-01 10:00:00"
    elif kind == "mistyped_kind":
        row[1] = rng.choice(("purchase", "$purchse", "Tag", "$Tag"))
    return row


def _write_xlsx(path: Path, rows: int, seed: int, bad: float) -> None:
    import openpyxl

    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("Events")
    sheet.append(HEADER)
    for chunk in generate(rows, seed=seed, bad=bad):
        for row in chunk:
            cells: list[object] = list(row)
            with contextlib.suppress(ValueError):  # a real date cell, as a shop export has
                cells[2] = dt.datetime.strptime(row[2], "%Y-%m-%d %H:%M:%S")
            if row[9].isdigit():
                cells[9] = int(row[9])
            sheet.append([c if c != "" else None for c in cells])
    workbook.save(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000])
    parser.add_argument("--format", choices=["csv", "xlsx"], nargs="+", default=["csv"])
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--bad", type=float, default=0.02, help="share of bad rows (0.02)")
    args = parser.parse_args(argv)
    for rows in args.rows:
        for fmt in args.format:
            print(ensure(rows, fmt, args.seed, args.bad))
    return 0


if __name__ == "__main__":
    sys.exit(main())
