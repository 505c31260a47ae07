"""Fixing like a spreadsheet on the Upload page, and the files given back to the person.

Fixes are operations over the original sheet (bento_ui.fixes), kept in the user data
folder by the file's SHA-256: a new session (a browser refresh) finds them again.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest
from test_app_helpers import edit_data_editor, isolated, metrics, open_app, texts, upload
from test_app_upload import ATTENDEES, attendees, problems_table, send_valid

from bento_ui import read_table, sandbox
from bento_ui.fixes import (
    DROP,
    FILL,
    LOWER,
    REPLACE,
    SET,
    TRIM,
    Fix,
    apply_fixes,
    edits_of,
    load_fixes,
    save_fixes,
)
from ui.logic import (
    csv_bytes,
    download_name,
    failed_rows_file,
    person_problems,
    problem_kind,
    ready_rows_file,
    rows_to_fix_file,
)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from isolated(monkeypatch)


def fix_table(at: AppTest) -> pd.DataFrame:
    return next(d.value for d in at.data_editor if "problems" in d.value.columns)


def fix_grid(at: AppTest):  # type: ignore[no-untyped-def]
    return next(d for d in at.data_editor if "problems" in d.value.columns)


def bulk(at: AppTest, column: str, action: str, *, find: str = "", value: str = "") -> AppTest:
    """Choose a column and a bulk fix, fill its inputs, click Apply (two reruns)."""
    at.selectbox(key="upload_bulk_column").set_value(column)
    at.selectbox(key="upload_bulk_action").set_value(action).run()
    if action == REPLACE:
        at.text_input(key="upload_bulk_find").input(find)
    if action in (REPLACE, FILL):
        at.text_input(key="upload_bulk_value").input(value)
    at.button(key="upload_bulk_apply").click().run()
    assert not at.exception, at.exception
    return at


def memo(at: AppTest):  # type: ignore[no-untyped-def]
    """(validation, fixed sheet) the page validated last."""
    return at.session_state["upload_memo"][1], at.session_state["upload_memo"][2]


def test_problems_name_the_persons_headers_and_can_be_filtered_by_column_and_kind() -> None:
    messy = ATTENDEES + b"grace@,webinar_attended,2024-11-20 14:40,Grace,pro\n"  # row 9
    at = upload(open_app("upload"), "attendees.csv", messy)
    assert problems_table(at)["column"].tolist() == ["Email Address", "Event", "Date",
                                                     "Email Address"]
    at.selectbox(key="upload_problem_column").set_value("Email Address").run()
    assert problems_table(at)["row"].tolist() == [4, 9]
    assert fix_table(at).index.tolist() == [4, 9]  # the grid follows the filter
    kinds = at.selectbox(key="upload_problem_kind").options
    assert kinds == ["email has a domain without a dot", "email has no domain"]
    at.selectbox(key="upload_problem_column").set_value(None).run()
    at.selectbox(key="upload_problem_kind").set_value("date is not a date this tool can read")
    at.run()
    assert problems_table(at)["row"].tolist() == [7]


def test_the_fix_grid_shows_problem_columns_first_and_marks_bad_cells() -> None:
    data = (b"First Name,Plan,Email Address,Event\n"
            b"Jane,pro,jane@example,webinar_attended\n"
            b"Bob,free,bob@example.com,\n")
    at = upload(open_app("upload"), "people.csv", data)
    table = fix_table(at)
    assert table.columns.tolist() == ["\u26a0 Email Address", "Email Address", "\u26a0 Event",
                                      "Event", "First Name", "Plan", "problems"]
    assert table["\u26a0 Email Address"].tolist() == ["email has a domain without a dot", ""]
    assert table["\u26a0 Event"].tolist() == ["", "type is missing"]
    grid = fix_grid(at).proto
    assert "a61b1b" in grid.arrow_data.styler.styles  # the marks are painted red
    assert json.loads(grid.columns)["\u26a0 Email Address"]["disabled"] is True  # read-only


def test_bulk_fixes_apply_to_a_column_and_undo_the_last() -> None:
    at = attendees()
    bulk(at, "Email Address", REPLACE, find="carol@example", value="carol@example.com")
    assert metrics(at)["Ready to send"] == "4"
    bulk(at, "Event", FILL, value="webinar_attended")
    assert metrics(at)["Ready to send"] == "5"
    at.button(key="upload_undo_last").click().run()
    assert metrics(at)["Ready to send"] == "4"
    original = at.session_state["upload_loaded"][1]
    assert original.loc[4, "Email Address"] == "carol@example"  # the upload is unchanged


def test_trim_and_lower_case_a_column() -> None:
    data = b"Email Address,Event\n  JANE@Example.COM ,webinar_attended\n"
    at = upload(open_app("upload"), "people.csv", data)
    bulk(at, "Email Address", TRIM)
    bulk(at, "Email Address", LOWER)
    _, fixed = memo(at)
    assert fixed.loc[2, "Email Address"] == "jane@example.com"
    assert "Email Address" in " ".join(m.value for m in at.markdown)  # the fixes list


def test_drop_a_row() -> None:
    at = attendees()
    at.number_input(key="upload_drop_row").set_value(7).run()
    at.button(key="upload_drop").click().run()
    assert metrics(at)["With errors"] == "2"
    assert fix_table(at).index.tolist() == [4, 5]
    assert any("Row 7 dropped" in m.value for m in at.markdown)


def test_the_amount_unit_is_a_fix_too() -> None:
    data = (b"Email,Type,Order ID,Amount,Currency\n"
            b"a@example.com,$purchase,o-1,49,USD\n"
            b"b@example.com,$purchase,o-2,,USD\n")  # row 3: no amount
    at = upload(open_app("upload"), "orders.csv", data)
    assert at.radio(key="upload_amounts").value == "minor"
    at.selectbox(key="upload_bulk_column").set_value("Amount").run()
    assert "Amounts are in currency units (49.99)" in at.selectbox(
        key="upload_bulk_action").options
    at.selectbox(key="upload_bulk_action").set_value("unit:major").run()
    at.button(key="upload_bulk_apply").click().run()
    assert at.radio(key="upload_amounts").value == "major"
    validation, _ = memo(at)
    assert validation.valid["details.value.amount"].tolist() == ["4900"]
    at.button(key="upload_undo_last").click().run()
    assert at.radio(key="upload_amounts").value == "minor"


def test_fixes_survive_a_browser_refresh_and_are_listed() -> None:
    at = attendees()
    edit_data_editor(at, str(at.session_state["upload_fix_key"]),
                     {0: {"Email Address": "carol@example.com"}})
    assert metrics(at)["Ready to send"] == "4"
    again = attendees()  # a new session: what a refresh gives
    assert metrics(again)["Ready to send"] == "4"
    assert any("set to 'carol@example.com'" in m.value for m in again.markdown)
    again.button(key="upload_undo_fixes").click().run()
    assert metrics(again)["Ready to send"] == "3"
    assert metrics(attendees())["Ready to send"] == "3"  # undoing all forgot them


def test_rows_to_fix_come_back_in_the_persons_layout_and_upload_again() -> None:
    at = attendees()
    bulk(at, "Event", FILL, value="webinar_attended")  # row 5 fixed, rows 4 and 7 not
    validation, fixed = memo(at)
    mapping = at.session_state["upload_mappings"][tuple(fixed.columns)]
    out = rows_to_fix_file(fixed, person_problems(validation.problems, mapping))
    assert out.columns.tolist() == ["Email Address", "Event", "Date", "First Name", "Plan",
                                    "problems"]
    assert out.index.tolist() == [4, 7]
    assert out.loc[4, "problems"].startswith("Email Address: email 'carol@example'")
    text = csv_bytes(out)
    fixed_text = text.replace(b"carol@example,", b"carol@example.com,").replace(
        b"not a date", b"2024-11-20 15:00")
    again = upload(open_app("upload"), "attendees-rows-to-fix.csv", fixed_text)
    assert metrics(again)["With errors"] == "0"
    assert "No problems: every row can be sent." in texts(again.success)
    sent_columns = memo(again)[0].valid.columns
    assert not any("problems" in c for c in sent_columns)  # the notes are not sent


def test_ready_rows_are_the_cleaned_file_and_downloads_are_offered() -> None:
    at = attendees()
    labels = [b.label for b in at.download_button]
    assert "Download the rows to fix (CSV)" in labels
    assert "Download the ready rows (CSV)" in labels
    bulk(at, "Email Address", REPLACE, find="carol@example", value="carol@example.com")
    validation, fixed = memo(at)
    ready = read_table(io.BytesIO(csv_bytes(ready_rows_file(fixed, validation))), name="r.csv")
    assert ready.columns.tolist() == ["Email Address", "Event", "Date", "First Name", "Plan"]
    assert ready["Email Address"].tolist() == ["jane@example.com", "bob@example.com",
                                               "carol@example.com", "frank@example.com"]


def test_names_and_kinds() -> None:
    assert download_name("attendees.xlsx", "problems") == "attendees-problems.csv"
    assert download_name("C:/x/attendees.csv", "rows-to-fix") == "attendees-rows-to-fix.csv"
    assert problem_kind("email 'x@' has no domain: use name@example.com") == \
        "email has no domain"
    assert problem_kind("date 'a: b' is not a date this tool can read: use 2024-01-05") == \
        "date is not a date this tool can read"


def test_failed_rows_carry_bentos_reasons_in_the_persons_layout() -> None:
    sheet = pd.DataFrame({"Email Address": ["a@example.com", "b@example.com"],
                          "Event": ["x", "y"]}, index=pd.Index([2, 3]))
    failures = pd.DataFrame([{"row": 3, "email": "b@example.com", "type": "y",
                              "error": "subscriber is unsubscribed"}])
    out = failed_rows_file(sheet, failures)
    assert out.index.tolist() == [3]
    assert out.columns.tolist() == ["Email Address", "Event", "problems"]
    assert out.loc[3, "problems"] == "Bento: subscriber is unsubscribed"


def test_fix_operations_and_their_store(tmp_path) -> None:  # type: ignore[no-untyped-def]
    sheet = pd.DataFrame({"a": [" X ", ""], "b": ["1", "2"]}, index=pd.Index([2, 3]),
                         dtype="str")
    fixes = [Fix(TRIM, "a"), Fix(LOWER, "a"), Fix(FILL, "a", value="z"),
             Fix(SET, "b", row=2, value="9"), Fix(DROP, row=3)]
    fixed = apply_fixes(sheet, fixes)
    assert fixed.loc[2].tolist() == ["x", "9"] and fixed.loc[3].tolist() == ["", ""]
    assert sheet.loc[2, "a"] == " X "  # the original is not changed
    assert edits_of(sheet, fixes) == {2: {"a": "x", "b": "9"}, 3: {"b": ""}}
    env = {"BENTO_UI_HOME": str(tmp_path)}
    save_fixes("ab" * 32, "Sheet1", fixes, env)
    assert load_fixes("ab" * 32, "Sheet1", env) == fixes
    assert load_fixes("ab" * 32, "Other", env) == []
    (tmp_path / "fixes" / f"{'ab' * 32}.json").write_text("{not json")
    assert load_fixes("ab" * 32, "Sheet1", env) == []  # damaged: start again, no crash


def test_after_a_send_the_refused_rows_come_back_in_the_persons_layout() -> None:
    at = attendees()
    sandbox().add_faults([{"failed": 1}])  # Bento refuses the last valid event by name
    send_valid(at)
    assert "Download the refused rows in your layout (CSV)" in [
        b.label for b in at.download_button]
    _, fixed = memo(at)
    refused = job_for_upload(at).report().failures_table
    out = failed_rows_file(fixed, refused)
    assert out.index.tolist() == [8]
    assert out.columns.tolist() == ["Email Address", "Event", "Date", "First Name", "Plan",
                                    "problems"]
    assert out.loc[8, "problems"].startswith("Bento: ")


def job_for_upload(at: AppTest):  # type: ignore[no-untyped-def]
    source = at.session_state["upload_loaded"][0]
    return at.session_state["upload_jobs"][source][-1]


def test_the_person_keeps_their_place_after_a_fix() -> None:
    rows = b"".join(b"user%d@,signed_up\n" % i for i in range(120))  # rows 2-121
    at = upload(open_app("upload"), "big.csv", b"email,type\n" + rows)
    at.number_input(key="upload_fix_page").set_value(2).run()
    assert fix_table(at).index[0] == 52
    edit_data_editor(at, str(at.session_state["upload_fix_key"]),
                     {0: {"email": "user50@example.com"}})
    assert "Saved. Row 52 has no errors now." in texts(at.success)
    assert at.number_input(key="upload_fix_page").value == 2
    assert fix_table(at).index[0] == 53  # the next row to fix, where the person was
    bulk(at, "email", REPLACE, find="user7", value="user7x")  # fixes nothing, keeps place
    assert at.number_input(key="upload_fix_page").value == 2

