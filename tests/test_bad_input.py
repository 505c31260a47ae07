"""Bad input survived: every file a person might feed the tool by mistake gives a clear
message, in the library and in `bento-ui validate`, and never a traceback.

The small files are in tests/data/bad/ (see its README.md and cases.json, which the app
tests can reuse); the big ones (a 50 MB cell, over a million rows, a freshly encrypted
workbook) are made here in tmp_path.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
from msoffcrypto import OfficeFile
from msoffcrypto.format.ooxml import OOXMLFile

from bento_ui import (
    MappingError,
    ReadError,
    apply_mapping,
    build_events,
    emails,
    list_sheets,
    read_table,
    suggest_mapping,
    validate,
)
from bento_ui.cli import main
from bento_ui.validation import Validation

BAD = Path(__file__).parent / "data" / "bad"
CASES: list[dict[str, Any]] = json.loads((BAD / "cases.json").read_text(encoding="utf-8"))
NOW = pd.Timestamp("2025-06-01T00:00:00Z")


@dataclass
class Done:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """`bento-ui ARGS` in this process: the same code as the command, ten times faster."""

    def run(*args: str) -> Done:
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return Done(code, out, err)

    yield run


def run_process(*args: str) -> Done:
    """`python -m bento_ui ARGS` in a real process, as a person runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BENTO_")}
    env["BENTO_UI_HOME"] = os.environ.get("BENTO_UI_HOME", "")
    done = subprocess.run(
        [sys.executable, "-m", "bento_ui", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    return Done(done.returncode, done.stdout, done.stderr)


def check(
    path: Path | str | bytes,
    *,
    name: str | None = None,
    columns: dict[str, str] | None = None,
    **options: Any,
) -> Validation:
    """What the app and the CLI do with a file: read, suggest a mapping (`columns`
    overriding it, as --map does), apply, validate."""
    sheet = read_table(path, name=name)
    mapping = suggest_mapping(sheet.columns)
    mapping.columns.update(columns or {})
    table = apply_mapping(sheet, mapping)
    return validate(table, now=NOW, **options)


def problems(result: Validation) -> list[tuple[int, str, str]]:
    return [(int(p.row), p.column, p.message) for p in result.problems.itertuples()]


def case_id(case: dict[str, Any]) -> str:
    return str(case["file"]) + " ".join(["", *case.get("args", [])])


# --- the corpus, through the CLI and the library ---------------------------------------


def test_every_file_of_the_corpus_has_a_case() -> None:
    files = {p.name for p in BAD.iterdir()} - {"README.md", "cases.json", "make_corpus.py"}
    assert files == {c["file"] for c in CASES}
    readme = (BAD / "README.md").read_text(encoding="utf-8")
    assert all(f"`{name}`" in readme or name.removesuffix(".xlsx") in readme for name in files)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_cli_validate_says_what_is_wrong(case: dict[str, Any], cli: Any) -> None:
    done = cli("validate", str(BAD / case["file"]), *case.get("args", []))
    assert done.code == case["exit"], done.text
    for words in case["says"]:
        assert words in done.text
    if case["exit"] == 2:
        assert done.err.strip() and case["says"][0] in done.err  # the message is the error
    assert "Traceback" not in done.text


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_library_raises_a_helpful_error_or_returns_problems(case: dict[str, Any]) -> None:
    path = BAD / case["file"]
    options = {"date_order": "day-first"} if "--date-order" in case.get("args", []) else {}
    if case["outcome"] == "unreadable":
        with pytest.raises(ReadError) as caught:
            read_table(path)
        assert case["says"][0] in str(caught.value)
        return
    if case["outcome"] == "unmappable":
        sheet = read_table(path)
        with pytest.raises(MappingError) as raised:
            apply_mapping(sheet, suggest_mapping(sheet.columns))
        assert case["says"][-1] in str(raised.value)
        return
    args = case.get("args", [])
    overrides = dict(args[i + 1].split("=", 1) for i, a in enumerate(args) if a == "--map")
    result = check(path, columns=overrides, **options)
    if case["outcome"] == "no data":
        assert result.summary["valid"] == result.summary["with errors"] == 0
        assert result.rows == len(result.empty_rows)
    elif case["outcome"] == "ok":
        assert result.errors.empty, problems(result)
        assert len(result.valid) == result.rows - len(result.empty_rows)
    else:
        assert not result.errors.empty
    # Whatever came in, what validation let through can be built and sent as JSON.
    json.dumps(build_events(result.valid), allow_nan=False)


@pytest.mark.parametrize(
    "name", ["empty.csv", "header_only.csv", "password.xlsx", "header_not_first_row.xlsx"]
)
def test_a_real_process_prints_no_traceback(name: str) -> None:
    case = next(c for c in CASES if c["file"] == name)
    done = run_process("validate", str(BAD / name))
    assert done.code == case["exit"]
    assert case["says"][0] in done.text
    assert "Traceback" not in done.err


# --- each bad file, what exactly comes of it --------------------------------------------


def test_header_only_is_an_empty_table_and_the_cli_asks_for_rows(cli: Any) -> None:
    for name in ("header_only.csv", "header_blank_rows.csv"):
        sheet = read_table(BAD / name)
        assert list(sheet.columns) == ["Email", "Event", "First Name"] and sheet.empty
        done = cli("validate", str(BAD / name))
        assert done.code == 1
        assert f"{name} has no data rows: add at least one event below the header." in done.out
        sent = cli("send", str(BAD / name), "--dry-run")
        assert sent.code == 1 and "no data rows" in sent.out


def test_mixed_encodings_read_every_name_right() -> None:
    sheet = read_table(BAD / "mixed_encodings.csv")
    assert list(sheet["First Name"]) == ["José", "Zoë", "Renée", "Müller"]


def test_mixed_encodings_far_into_a_big_file(tmp_path: Path) -> None:
    # The first 64 KB decide the encoding; a Windows-1252 row much later must neither
    # make the file unreadable nor garble the UTF-8 rows before it.
    head = "Email,Event,First Name\njose@example.com,signup,José\n".encode()
    filler = b"".join(b"user%d@example.com,signup,Ann\n" % i for i in range(5000))
    tail = "renee@example.com,signup,Renée\n".encode("cp1252")
    path = tmp_path / "joined.csv"
    path.write_bytes(head + filler + tail)
    sheet = read_table(path)
    assert sheet.at[2, "First Name"] == "José"
    assert sheet.iloc[-1]["First Name"] == "Renée"
    assert len(sheet) == 5002


def test_pure_windows_1252_still_reads() -> None:
    data = "Email,Name\na@example.com,Renée €\n".encode("cp1252")
    sheet = read_table(data, name="x.csv")
    assert sheet.at[2, "Name"] == "Renée €"


def test_ragged_rows_keep_their_numbers_and_extra_cells() -> None:
    sheet = read_table(BAD / "ragged_rows.csv")
    assert list(sheet.columns) == ["Email", "Event", "First Name", "Column D", "Column E"]
    assert list(sheet.index) == [2, 3, 4, 5, 6]
    assert list(sheet.loc[3]) == ["bob@example.com", "", "", "", ""]
    assert list(sheet.loc[5]) == ["cy@example.com", "signup", "Cy", "VIP", "extra"]
    result = check(BAD / "ragged_rows.csv")
    assert result.empty_rows == [4]
    assert [(row, column) for row, column, _ in problems(result)] == [
        (3, "type"), (6, "type"), (6, "email"),
    ]  # fmt: skip
    assert build_events(result.valid)[1]["fields"] == {
        "first_name": "Cy", "column_d": "VIP", "column_e": "extra",
    }  # fmt: skip


def test_formulas_read_as_their_values_and_merged_cells_as_blank() -> None:
    sheet = read_table(BAD / "formulas_merged.xlsx")
    assert sheet.at[2, "Email"] == "ana@example.com"  # =LOWER(...), as Excel shows it
    assert list(sheet["Shout"]) == ["ANA", "BEN", "CAT", "DAN"]
    # Only the first cell of a merged range holds the value; the rows under it have no
    # type, and say so, rather than getting one the person did not write in them.
    assert list(sheet["Event"]) == ["webinar_attended", "", "", "webinar_attended"]
    result = check(BAD / "formulas_merged.xlsx")
    assert [(row, column) for row, column, _ in problems(result)] == [
        (3, "type"), (4, "type"), (5, "email"),
    ]  # fmt: skip
    assert "type is missing" in problems(result)[0][2]
    # An error value is shown as Excel shows it, never dropped as if the cell were empty.
    assert sheet.at[5, "Email"] == "#N/A"
    assert "email '#N/A' has no @" in problems(result)[2][2]
    assert [e["email"] for e in build_events(result.valid)] == ["ana@example.com"]


def test_duplicate_headers_are_numbered_and_kept() -> None:
    sheet = read_table(BAD / "duplicate_headers.csv")
    assert list(sheet.columns) == ["Email", "Event", "Email (2)", "Event (2)"]
    [event] = build_events(check(BAD / "duplicate_headers.csv").valid)
    assert event == {
        "type": "signup",
        "email": "ann@example.com",
        "fields": {"email_2": "ann.work@example.com", "event_2": "webinar"},
    }


@pytest.mark.parametrize("name", ["header_not_first_row.csv", "header_not_first_row.xlsx"])
def test_header_below_a_title_row_is_pointed_at(name: str) -> None:
    sheet = read_table(BAD / name)
    assert sheet.columns[0] == "Webinar attendees, exported 2024-01-05"
    with pytest.raises(MappingError) as caught:
        apply_mapping(sheet, suggest_mapping(sheet.columns))
    message = str(caught.value)
    assert message.startswith("No column goes to email")
    assert message.endswith(
        "Row 3 looks like the column names (Email, Event, First Name): delete the rows above "
        "it so that the column names are the first row, and try again."
    )


def test_unicode_and_idn_addresses_are_kept_exactly() -> None:
    result = check(BAD / "unicode_emails.csv")
    assert [e["email"] for e in build_events(result.valid)] == [
        "josé.garcía@exämple.de",
        "用户@例子.广告",
        "user@xn--bcher-kva.example",
        "name@bücher.ch",
        "δοκιμή@παράδειγμα.δοκιμή",
        "zoë+newsletter@sub.example.co.uk",
        "padded@example.com",
    ]
    assert [(row, column) for row, column, _ in problems(result)] == [
        (8, "email"), (9, "email"), (10, "email"), (11, "email"), (12, "email"),
    ]  # fmt: skip
    assert result.warning_rows == [8]


DATES_IN_UTC = [
    "2024-01-05T00:00:00Z",
    "2024-01-05T13:45:00Z",
    "2024-01-05T11:45:00Z",
    "2024-01-05T13:45:00Z",
    "2024-01-05T13:45:00Z",
    "2024-01-05T18:45:00.123Z",
    "2024-01-05T00:00:00Z",  # Excel serial 45296
    "2024-01-05T12:00:00Z",  # 45296.5
    "2024-01-05T00:00:00Z",
    "2024-01-05T00:00:00Z",
    "2024-01-05T00:00:00Z",
    "2024-01-05T12:45:00Z",  # RFC 2822 with +0100
    "2024-01-05T08:00:00Z",  # a zone in a column where most dates have none
    "2023-11-26T00:00:00Z",  # 26.11.2023: the column is day-first
    "2024-01-05T00:00:00Z",  # so 05.01.2024 is 5 January
    "",
]


def test_dates_in_every_common_form() -> None:
    result = check(BAD / "dates.csv")
    assert result.problems.empty, problems(result)
    assert list(result.valid["date"]) == DATES_IN_UTC
    events = build_events(result.valid)
    assert [e.get("date", "") for e in events] == DATES_IN_UTC  # no date key when blank


def test_dates_without_a_zone_are_read_in_the_chosen_zone() -> None:
    result = check(BAD / "dates.csv", timezone="America/New_York")
    assert list(result.valid["date"])[:5] == [
        "2024-01-05T05:00:00Z",  # midnight in New York
        "2024-01-05T13:45:00Z",  # had Z: unchanged
        "2024-01-05T11:45:00Z",  # had +02:00: unchanged
        "2024-01-05T18:45:00Z",
        "2024-01-05T13:45:00Z",  # said UTC: unchanged
    ]


def test_ambiguous_dates_are_flagged_until_the_order_is_chosen() -> None:
    result = check(BAD / "dates_ambiguous.csv")
    assert result.dates_ambiguous and result.valid.empty
    assert all("could be day-first or month-first" in m for _, _, m in problems(result))
    day_first = check(BAD / "dates_ambiguous.csv", date_order="day-first")
    assert list(day_first.valid["date"]) == [
        "2024-01-05T00:00:00Z", "2024-02-01T13:45:00Z", "2023-11-12T13:05:00Z",
    ]  # fmt: skip
    month_first = check(BAD / "dates_ambiguous.csv", date_order="month-first")
    assert list(month_first.valid["date"]) == [
        "2024-05-01T00:00:00Z", "2024-01-02T13:45:00Z", "2023-12-11T13:05:00Z",
    ]  # fmt: skip


def test_real_date_cells_serials_and_zones_in_a_workbook() -> None:
    result = check(BAD / "dates.xlsx")
    assert list(result.valid["date"]) == [
        "2024-01-05T13:45:00Z", "2024-01-05T00:00:00Z", "2024-01-05T00:00:00Z",
        "2024-01-05T11:45:00Z",
    ]  # fmt: skip
    berlin = check(BAD / "dates.xlsx", timezone="Europe/Berlin")
    assert list(berlin.valid["date"]) == [
        "2024-01-05T12:45:00Z", "2024-01-04T23:00:00Z", "2024-01-04T23:00:00Z",
        "2024-01-05T11:45:00Z",
    ]  # fmt: skip


def test_details_that_is_not_a_json_object() -> None:
    result = check(BAD / "details_json.csv")
    found = {row: message for row, column, message in problems(result) if column == "details"}
    assert found == {
        2: "details is not valid JSON (Expecting ',' delimiter at character 14): write an "
        'object like {"plan": "pro"}',
        3: 'details must be a JSON object, not a list: write it like {"plan": "pro"}',
        4: 'details must be a JSON object, not a text: write it like {"plan": "pro"}',
        5: 'details must be a JSON object, not a number: write it like {"plan": "pro"}',
        6: 'details must be a JSON object, not null: write it like {"plan": "pro"}',
        7: 'details must be a JSON object, not true/false: write it like {"plan": "pro"}',
        8: "details holds NaN, which JSON does not allow: write a number, or the text in "
        'quotes, like {"score": "NaN"}',
        9: "details is not valid JSON (Expecting property name enclosed in double quotes at "
        'character 1): write an object like {"plan": "pro"}',
        10: "details is nested more than 100 levels deep, more than an event needs: "
        "flatten it, or put the deep part in a text",
    }
    assert build_events(result.valid) == [
        {"type": "signup", "email": "r11@example.com", "details": {"plan": "pro", "seats": 3}},
        {"type": "signup", "email": "r12@example.com"},
    ]


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_json_constants_python_reads_but_json_does_not_are_errors(constant: str) -> None:
    # Before: validation let {"x": NaN} through, and the send failed on every batch
    # holding it ("cannot be written as JSON").
    table = pd.DataFrame(
        {"type": ["t"], "email": ["a@example.com"], "details": [f'{{"x": [1, {constant}]}}']},
        index=pd.Index([2], name="row"),
    )
    result = validate(table, now=NOW)
    assert result.valid.empty
    assert f"details holds {constant}, which JSON does not allow" in problems(result)[0][2]


def test_fields_that_hold_lists_or_objects() -> None:
    result = check(BAD / "fields_nested.csv")
    assert [(row, column) for row, column, _ in problems(result)] == [
        (2, "fields.attributes"), (3, "fields.attributes"), (4, "fields.attributes"),
        (4, "fields.attributes"),  # " [] " had spaces around it (a warning)
    ]  # fmt: skip
    assert "fields must be flat" in problems(result)[0][2]
    assert [e["fields"] for e in build_events(result.valid)] == [
        {"attributes": "[not json"},
        {"attributes": "vip, beta"},
    ]


def test_binary_files_named_csv_are_refused_by_their_bytes() -> None:
    for name in ("binary.csv", "random_bytes.csv"):
        with pytest.raises(ReadError, match="doesn't look like a CSV or spreadsheet"):
            read_table(BAD / name)


# --- password-protected workbooks -------------------------------------------------------


def test_the_corpus_workbook_is_really_encrypted() -> None:
    encrypted = OfficeFile(io.BytesIO((BAD / "password.xlsx").read_bytes()))
    assert encrypted.is_encrypted()
    encrypted.load_key(password="bento")
    plain = io.BytesIO()
    encrypted.decrypt(plain)
    sheet = read_table(plain.getvalue(), name="decrypted.xlsx")
    assert sheet.to_dict("list") == {"Email": ["jane@example.com"], "Event": ["signup"]}


def test_a_freshly_encrypted_workbook(tmp_path: Path, cli: Any) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["Email", "Event"])
    sheet.append(["ann@example.com", "signup"])
    plain = io.BytesIO()
    workbook.save(plain)
    plain.seek(0)
    path = tmp_path / "Q3 orders.xlsx"
    with path.open("wb") as out:
        OOXMLFile(plain).encrypt("s3cret!", out)
    expected = (
        "'Q3 orders.xlsx' is protected with a password: open it, remove the password "
        "(File > Info > Protect Workbook), save and upload again."
    )
    for call in (lambda: read_table(path), lambda: list_sheets(path)):
        with pytest.raises(ReadError) as caught:
            call()
        assert str(caught.value) == expected
    done = cli("validate", str(path))
    assert done.code == 2 and expected in done.err


# --- a 50 MB cell --------------------------------------------------------------------------

FIFTY_MB = 50_000_000


@pytest.mark.parametrize(
    ("header", "column", "says"),
    [
        ("Email", "email", "is too long (at most 64 characters before the @ and 254 in all)"),
        ("Event", "type", "type is longer than 100,000 characters"),
        ("Date", "date", "is too long to be a date"),
        ("details", "details", "details is longer than 100,000 characters"),
        ("Note", "fields.note", "fields.note is longer than 100,000 characters"),
    ],
)
def test_a_50_mb_cell(tmp_path: Path, header: str, column: str, says: str) -> None:
    columns = {"Email": "ann@example.com", "Event": "signup", "Date": "", "details": "", "Note": ""}
    big = {
        "Email": "x" * FIFTY_MB + "@example.com",
        "details": '{"notes": "' + "x" * FIFTY_MB + '"}',  # valid JSON, just too big
    }.get(header, "x" * FIFTY_MB)
    row = {**columns, header: big}
    path = tmp_path / "export.csv"
    with path.open("w", encoding="utf-8") as f:
        f.write(",".join(columns) + "\n")
        f.write(",".join(row.values()) + "\n")
        f.write("bob@example.com,signup,,,fine\n")
    sheet = read_table(path)
    assert len(sheet.at[2, header]) == len(big)  # read whole, not cut
    result = check(path)
    assert result.error_rows == [2]  # the other row is fine
    [(row_number, where, message)] = [p for p in problems(result) if p[0] == 2][:1]
    assert (row_number, where) == (2, column) and says in message
    assert len(message) < 300  # the value is shortened in the message
    assert result.problems["value"].str.len().max() < 300


def test_a_50_mb_address_is_checked_by_its_length_first() -> None:
    # Python's re used to take gigabytes of memory to match this against the pattern.
    assert not emails.is_valid("x" * FIFTY_MB + "@example.com")
    assert "too long" in emails.explain("x" * FIFTY_MB + "@example.com")


def test_a_50_mb_cell_in_a_real_process(tmp_path: Path) -> None:
    path = tmp_path / "broken.csv"
    with path.open("w", encoding="utf-8") as f:
        f.write('Email,Event,Note\nann@example.com,signup,"' + "x" * FIFTY_MB + '"\n')
    done = run_process("validate", str(path))
    assert done.code == 1
    assert "fields.note is longer than 100,000 characters" in done.out
    assert "Traceback" not in done.err and len(done.out) < 2000


# --- over a million rows ------------------------------------------------------------------


@pytest.mark.slow
def test_over_a_million_rows(tmp_path: Path) -> None:
    rows = 1_000_005
    bad = {2: "not-an-email", 500_001: "half@way", rows + 1: "last@"}  # row numbers
    path = tmp_path / "million.csv"
    with path.open("w", encoding="utf-8") as f:
        f.write("Email,Event,Plan\n")
        f.writelines(
            f"{bad.get(n, f'user{n}@example.com')},webinar_attended,pro\n"
            for n in range(2, rows + 2)
        )
    sheet = read_table(path)
    assert len(sheet) == rows and sheet.index[0] == 2 and sheet.index[-1] == rows + 1
    assert sheet.at[500_001, "Email"] == "half@way"

    done = run_process("validate", str(path))
    assert done.code == 1, done.err
    assert f"{rows:,} rows: {rows - 3:,} valid, 3 with errors" in done.out
    for row in bad:
        assert f"row {row} " in done.out
    assert "Traceback" not in done.err
