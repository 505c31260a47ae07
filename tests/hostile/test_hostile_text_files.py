"""Hostile CSV, JSON lines and text files: a message and exit 2, or a problem in the
table, never a traceback; control characters are never sent."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from bento_ui import build_events, read_table, validate
from bento_ui.cli import main
from bento_ui.json_limits import MAX_DEPTH


def run(tmp_path: Path, name: str, content: bytes, capsys: pytest.CaptureFixture[str]) -> str:
    path = tmp_path / name
    path.write_bytes(content)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"Cannot read {path}" in err
    return err


def test_a_csv_of_twenty_thousand_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    header = ",".join(["email", "type", *(f"c{i}" for i in range(20_000))])
    row = ",".join(["jane@example.com", "signup", *("x" for _ in range(20_000))])
    err = run(tmp_path, "wide.csv", f"{header}\n{row}\n".encode(), capsys)
    assert "20,002 columns" in err and "2,000" in err


def test_a_csv_whose_rows_grow_past_the_bound(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    row = ",".join(["jane@example.com", "signup", *("x" for _ in range(5_000))])
    err = run(tmp_path, "ragged.csv", f"email,type\n{row}\n".encode(), capsys)
    assert "5,002 columns" in err


def test_json_lines_of_twenty_thousand_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = json.dumps({f"k{i}": "x" for i in range(20_000)})
    assert "columns" in run(tmp_path, "wide.jsonl", line.encode(), capsys)


def test_json_lines_nested_a_thousand_deep(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = '{"email": "jane@example.com", "details": ' + "[" * 1000 + "]" * 1000 + "}"
    err = run(tmp_path, "deep.jsonl", line.encode(), capsys)
    assert "Line 1" in err and "levels deep" in err


def test_json_lines_with_a_five_thousand_digit_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = '{"email": "jane@example.com", "type": "signup", "id": ' + "7" * 5000 + "}"
    err = run(tmp_path, "long.jsonl", line.encode(), capsys)
    assert "Line 1" in err and "4,300 digits" in err


def table(**columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(columns, dtype=str)
    frame.index = pd.RangeIndex(2, 2 + len(frame), name="row")
    return frame


def test_details_nested_990_deep_is_a_problem_not_a_crash() -> None:
    deep = '{"a": ' * 990 + "1" + "}" * 990
    result = validate(table(email=["jane@example.com"], type=["signup"], details=[deep]))
    assert result.valid.empty
    assert "levels deep" in result.problems.loc[0, "message"]


def test_details_as_deep_as_allowed_can_be_sent() -> None:
    deep = '{"a": ' * MAX_DEPTH + "1" + "}" * MAX_DEPTH
    result = validate(table(email=["jane@example.com"], type=["signup"], details=[deep]))
    assert result.problems.empty
    events = build_events(result.valid)
    assert json.loads(json.dumps(events)) == events


def test_a_details_number_too_long_to_read_is_a_problem() -> None:
    result = validate(
        table(email=["jane@example.com"], type=["signup"], details=['{"id": ' + "7" * 5000 + "}"])
    )
    assert "4,300 digits" in result.problems.loc[0, "message"]


@pytest.mark.parametrize("codec", ["utf-32", "utf-32-le", "utf-32-be"])
def test_utf32_files_are_decoded(codec: str) -> None:
    data = "email,type\njané@example.com,signup\n".encode(codec)
    assert read_table(data, name="x.csv").to_dict("records") == [
        {"email": "jané@example.com", "type": "signup"}
    ]


def test_an_xls_web_page_with_a_long_comment_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = "<!-- " + "saved by a reporting tool " * 120 + "-->\n<html><body><table></table>"
    assert "web page" in run(tmp_path, "report.xls", page.encode(), capsys)


def test_control_characters_in_a_type_are_errors() -> None:
    result = validate(
        table(email=["a@example.com", "b@example.com"], type=["sign\x1bup", "sign\rup"])
    )
    assert result.valid.empty
    assert set(result.problems["severity"]) == {"error"}
    assert result.problems["message"].str.contains("control character").all()


def test_control_characters_elsewhere_are_removed_and_say_so() -> None:
    result = validate(
        table(
            email=["jane@example.com"],
            type=["signup"],
            **{"fields.note": ["late\x00NUL \x1b]0;owned\x07"]},
            details=['{"plan": "pro\x00"}'],
        )
    )
    assert list(result.problems["severity"]) == ["warning", "warning"]
    assert build_events(result.valid) == [
        {
            "type": "signup",
            "email": "jane@example.com",
            "fields": {"note": "lateNUL ]0;owned"},
            "details": {"plan": "pro"},
        }
    ]


def test_a_nul_late_in_a_file_is_never_sent(tmp_path: Path) -> None:
    rows = [f"user{i}@example.com,signup,ok" for i in range(5000)] + [
        "last@example.com,signup,a\x00b"
    ]
    path = tmp_path / "big.csv"
    path.write_text("email,type,note\n" + "\n".join(rows) + "\n")
    result = validate(read_table(path).rename(columns={"note": "fields.note"}))
    assert "\x00" not in json.dumps(build_events(result.valid))
    assert result.problems["row"].tolist() == [5002]
