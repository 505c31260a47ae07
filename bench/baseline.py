"""The per-row baseline: what a straightforward tool does, one dict per row.

Read with `csv.DictReader` (XLSX: python-calamine rows, the fastest reader, so the
comparison is about the work after reading), map the headers, then for every row:
trim, check the email with the same compiled pattern, require a type, parse the date with
`datetime.fromisoformat` (fast, C), check $purchase/$tag details, parse the details JSON,
reject nested fields, spot exact duplicates with a set, and build the event dict.
It is deliberately a *good* per-row implementation, not a straw man: no pandas per row,
no dateutil, compiled regexes. It does less than `validate` (no per-column date order,
no time zones other than UTC, no kind hints, shorter messages).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bento_ui.emails import EMAIL_PATTERN

_EMAIL = re.compile(EMAIL_PATTERN)
_AMOUNT = re.compile(r"-?\d+(?:\.0+)?")
_CURRENCY = re.compile(r"[A-Z]{3}")


def _rows(path: Path) -> Iterator[dict[str, str]]:
    if path.suffix == ".csv":
        with open(path, newline="", encoding="utf-8-sig") as file:
            yield from csv.DictReader(file)
        return
    import python_calamine

    book = python_calamine.CalamineWorkbook.from_path(str(path))
    grid = book.get_sheet_by_index(0).to_python()
    header = [str(h) for h in grid[0]]
    for cells in grid[1:]:
        yield {
            h: "" if c is None or c == "" else str(c)
            for h, c in zip(header, cells, strict=False)
        }


Problem = dict[str, Any]


def prepare(path: Path, mapping: dict[str, str]) -> tuple[list[dict[str, Any]], list[Problem]]:
    """(events, problems) for every row of the file, one row at a time."""
    events: list[dict[str, Any]] = []
    problems: list[dict[str, Any]] = []
    seen: dict[tuple[str, ...], int] = {}
    now = dt.datetime.now(dt.UTC)
    for number, raw in enumerate(_rows(path), start=2):
        row = {mapping[h]: v for h, v in raw.items() if h in mapping}
        clean = {k: (v or "").strip() for k, v in row.items()}
        if not any(clean.values()):
            continue

        def problem(column: str, message: str, severity: str = "error", n: int = number) -> None:
            problems.append({"row": n, "column": column, "severity": severity, "message": message})

        errors = len(problems)
        email, kind = clean.get("email", ""), clean.get("type", "")
        if not _EMAIL.fullmatch(email) or len(email) > 254:
            problem("email", f"email {email!r} is not a valid address")
        elif email != row.get("email"):
            problem("email", "email had spaces around it", "warning")
        if not kind:
            problem("type", "type is missing")
        date = ""
        if clean.get("date"):
            try:
                when = dt.datetime.fromisoformat(clean["date"])
            except ValueError:
                problem("date", f"date {clean['date']!r} is not a date")
            else:
                when = when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when
                if when > now:
                    problem("date", "date is in the future", "warning")
                date = when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        details: dict[str, Any] = {}
        if clean.get("details"):
            try:
                parsed = json.loads(clean["details"])
            except ValueError:
                problem("details", "details is not valid JSON")
            else:
                if isinstance(parsed, dict):
                    details = parsed
                else:
                    problem("details", "details must be a JSON object")
        fields = {}
        for key, value in clean.items():
            if key.startswith("fields.") and value:
                if value[0] in "[{":
                    try:
                        nested = isinstance(json.loads(value), dict | list)
                    except ValueError:
                        nested = False
                    if nested:
                        problem(key, f"{key} must be flat")
                fields[key[7:]] = value
            elif key.startswith("details.") and value:
                target = details
                *parents, last = key.split(".")[1:]
                for part in parents:
                    target = target.setdefault(part, {})
                if last in target and clean.get("details"):
                    problem(key, f"{key} is set twice")
                target[last] = value
        if kind == "$purchase":
            value = details.get("value", {})
            if not details.get("unique", {}).get("key"):
                problem("details.unique.key", "a $purchase needs details.unique.key")
            amount = str(value.get("amount", ""))
            if not _AMOUNT.fullmatch(amount):
                problem("details.value.amount", "amount is not whole cents")
            else:
                value["amount"] = int(amount.split(".")[0])
            if not _CURRENCY.fullmatch(str(value.get("currency", ""))):
                problem("details.value.currency", "not a currency code")
        elif kind in ("$tag", "$remove_tag") and not details.get("tag"):
            problem("details.tag", "a $tag needs details.tag")
        key = tuple(clean.values())
        if key in seen:
            problem("(row)", f"the same event as row {seen[key]}", "warning")
        else:
            seen[key] = number
        if any(p["severity"] == "error" for p in problems[errors:]):
            continue
        event: dict[str, Any] = {"type": kind, "email": email}
        if fields:
            event["fields"] = fields
        if details:
            event["details"] = details
        if date:
            event["date"] = date
        events.append(event)
    return events, problems
