"""The bad-input corpus (tests/data/bad, see its README) uploaded to the Upload page.

Every file gives a sentence a person can act on, never a traceback: an unreadable or
unmappable file an error that says what to do, a file without data rows a warning, a
file with broken rows the problems table with the same counts as `bento-ui validate`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_app_helpers import isolated, metrics, no_errors_on_screen, open_app, texts

from ui.logic import escape_markdown

BAD = Path(__file__).resolve().parent / "data" / "bad"
CASES: list[dict[str, Any]] = json.loads((BAD / "cases.json").read_text(encoding="utf-8"))
COUNTS = re.compile(r"(\d+) rows: (\d+) valid, (\d+) with errors")
MIME = {".csv": "text/csv",
        ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from isolated(monkeypatch)


def case_id(case: dict[str, Any]) -> str:
    return case["file"] + "".join(case.get("args", []))


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_every_bad_file_gets_a_clear_message(case: dict[str, Any]) -> None:
    path = BAD / case["file"]
    at = open_app("upload")
    at.file_uploader(key="upload_file").set_value(
        (path.name, path.read_bytes(), MIME.get(path.suffix, "application/octet-stream")))
    at.run()
    no_errors_on_screen(at)
    if case.get("args") == ["--date-order", "day-first"]:
        at.radio(key="upload_date_order").set_value("day-first").run()
        no_errors_on_screen(at)
    errors, warnings = texts(at.error), texts(at.warning)
    outcome = case["outcome"]
    if outcome in ("unreadable", "unmappable"):
        said = escape_markdown(case["says"][0])  # the library's sentence, as shown
        assert any(said in message for message in errors + warnings), (errors, warnings)
        assert not at.metric  # nothing half-read is shown as if it were fine
    elif outcome == "no data":
        assert any("headers but no rows" in w for w in warnings), warnings
    else:
        assert not errors, errors
        shown = metrics(at)
        counts = next((COUNTS.search(s) for s in case["says"] if COUNTS.search(s)), None)
        if counts is not None:
            rows, valid, with_errors = (int(n) for n in counts.groups())
            assert shown["Rows"] == f"{rows:,}"
            assert shown["Ready to send"] == f"{valid:,}"
            assert shown["With errors"] == f"{with_errors:,}"
        elif outcome == "ok":
            assert shown["With errors"] == "0"
        else:
            assert shown["With errors"] != "0"
        if outcome == "problems":
            problems = next(d.value for d in at.dataframe if "severity" in d.value.columns)
            assert (problems["severity"] == "error").any()
            assert problems["message"].str.len().min() > 20  # sentences, not codes
