"""The Upload page: reading, mapping, problems, fixing in place and sending valid rows.

Files go through AppTest's own file_uploader support, as a browser would send them.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
from openpyxl import Workbook
from streamlit.testing.v1 import AppTest
from test_app_helpers import (
    edit_data_editor,
    isolated,
    metrics,
    no_errors_on_screen,
    open_app,
    texts,
    upload,
)

import bento_ui
from bento_ui import sandbox
from bento_ui.errors import TimezoneError
from ui.logic import goes_to_kind

ATTENDEES = (
    b"Email Address,Event,Date,First Name,Plan\n"
    b"jane@example.com,webinar_attended,2024-11-20 14:00,Jane,pro\n"  # row 2
    b"bob@example.com,webinar_attended,2024-11-20 14:05,Bob,free\n"  # row 3
    b"carol@example,webinar_attended,2024-11-20 14:07,Carol,pro\n"  # row 4: bad email
    b"dave@example.com,,2024-11-20 14:10,Dave,free\n"  # row 5: no type
    b",,,,\n"  # row 6: empty
    b"erin@example.com,webinar_attended,not a date,Erin,pro\n"  # row 7: bad date
    b"frank@example.com,webinar_attended,2024-11-20 14:30,Frank,team\n"  # row 8
)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from isolated(monkeypatch)


def attendees() -> AppTest:
    return upload(open_app("upload"), "attendees.csv", ATTENDEES)


def problems_table(at: AppTest):  # type: ignore[no-untyped-def]
    return next(d.value for d in at.dataframe if "severity" in d.value.columns)


def mapping_key(at: AppTest) -> str:
    return str(at.session_state["upload_mapping_key"])


def send_valid(at: AppTest, batch_size: int | None = None) -> AppTest:
    if "upload_choice" in [r.key for r in at.radio]:
        at.radio(key="upload_choice").set_value("send_valid").run()
    if batch_size is not None:
        at.number_input(key="upload_batch_size").set_value(batch_size).run()
    at.checkbox(key="upload_confirm").check().run()
    at.button(key="upload_send").click().run()
    no_errors_on_screen(at)
    return at


def test_empty_state_offers_templates() -> None:
    at = open_app("upload")
    assert "Upload a file to start" in " ".join(texts(at.info))
    labels = [b.label for b in at.download_button]
    assert labels == ["Template (CSV)", "Template (Excel)"]
    # The template's rows, as a table and as CSV text to copy.
    assert at.dataframe[0].value["type"].tolist() == ["webinar_attended", "$purchase", "$tag"]
    assert at.code[0].value.splitlines()[0].startswith("type,email,date,")
    assert at.file_uploader(key="upload_file").allowed_type == [
        ".csv", ".tsv", ".txt", ".xlsx", ".xls", ".ods", ".jsonl", ".ndjson"]


def test_a_file_with_errors_is_summarised_and_listed() -> None:
    at = attendees()
    assert metrics(at) == {"Rows": "7", "Ready to send": "3", "With errors": "3",
                           "With warnings": "0", "Empty, skipped": "1"}
    problems = problems_table(at)
    assert problems["row"].tolist() == [4, 5, 7]
    assert problems["column"].tolist() == ["Email Address", "Event", "Date"]  # theirs
    assert problems["value"].tolist() == ["carol@example", "", "not a date"]
    assert set(problems["severity"]) == {"error"}
    assert "use name@example.com" in problems["message"][0]
    assert "Download the problems (CSV)" in [b.label for b in at.download_button]
    # The suggested mapping, shown for editing.
    mapping = next(d.value for d in at.data_editor if "goes to" in d.value.columns)
    assert mapping["goes to"].map(goes_to_kind).tolist() == [
        "email", "type", "date", "field", "field"]
    assert mapping["name"].tolist() == ["", "", "", "first_name", "plan"]


def test_one_type_for_rows_without_one() -> None:
    at = attendees()
    at.text_input(key="upload_default_type").input("webinar_attended").run()
    assert metrics(at)["Ready to send"] == "4"
    assert metrics(at)["With errors"] == "2"


def test_errors_only_filter() -> None:
    data = ATTENDEES + b"jane@example.com,webinar_attended,2024-11-20 14:00,Jane,pro\n"
    at = upload(open_app("upload"), "attendees.csv", data)
    assert "warning" in set(problems_table(at)["severity"])  # row 9 repeats row 2
    at.toggle(key="upload_errors_only").set_value(True).run()
    assert set(problems_table(at)["severity"]) == {"error"}


def test_mapping_problems_stop_before_validation() -> None:
    at = attendees()
    edit_data_editor(at, mapping_key(at), {3: {"goes to": "email"}})
    assert any("all go to email" in e for e in texts(at.error))
    assert not at.metric


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        (TimezoneError("'Mars/Olympus' is not a time zone: choose one from the list"),
         "is not a time zone"),
        (RuntimeError("a bug"), "Something unexpected went wrong"),  # the app's own apology
    ],
    ids=["refused", "a bug"],
)
def test_a_first_check_that_fails_says_why_and_leaves_no_summary_half_drawn(
    error: Exception, shown: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a file is checked the first time, the summary shows "…" in its place; when
    the check is refused, or fails on a bug, the page says so and no "…" is left behind
    to say the rows are still being checked."""

    def fail(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(bento_ui, "validate", fail)
    at = attendees()
    assert any(shown in e for e in texts(at.error))
    assert not at.metric
    assert not any("Checking every row" in c for c in texts(at.caption))
    monkeypatch.undo()
    at.text_input(key="upload_default_type").input("signed_up").run()  # checked again
    assert metrics(at)["Rows"] == "7"


def test_mapping_choices_change_the_events_and_are_remembered() -> None:
    at = attendees()
    edit_data_editor(at, mapping_key(at), {4: {"goes to": "detail", "name": "plan.name"}})
    at.text_input(key="upload_default_type").input("signed_up").run()
    # Another file with the same headers gets the same choices.
    other = ATTENDEES.replace(b"jane@", b"jane.doe@")
    at = upload(at, "attendees-2.csv", other)
    assert any("same columns earlier in this session" in i for i in texts(at.info))
    mapping = next(d.value for d in at.data_editor if "goes to" in d.value.columns)
    assert goes_to_kind(mapping["goes to"].tolist()[4]) == "detail"
    assert mapping["name"].tolist()[4] == "plan.name"
    assert at.text_input(key="upload_default_type").value == "signed_up"
    at = send_valid(at)
    plans = [e.get("details") for e in sandbox().events()]
    assert {"plan": {"name": "pro"}} in plans
    assert all("plan" not in e.get("fields", {}) for e in sandbox().events())


def test_ambiguous_dates_ask_for_the_order() -> None:
    data = b"email,date\na@example.com,05/01/2024\nb@example.com,06/02/2024\n"
    at = upload(open_app("upload"), "dates.csv", data)
    at.text_input(key="upload_default_type").input("visited").run()
    assert metrics(at)["With errors"] == "2"
    assert at.radio(key="upload_date_order").value is None  # never guessed
    at.radio(key="upload_date_order").set_value("day-first").run()
    assert metrics(at)["Ready to send"] == "2"
    assert at.selectbox(key="upload_tz").value == "UTC"
    send_valid(at)
    assert [e["date"] for e in sandbox().events()] == ["2024-01-05T00:00:00Z",
                                                       "2024-02-06T00:00:00Z"]


def test_fix_rows_in_place_keeps_the_original() -> None:
    at = attendees()
    fix_key = str(at.session_state["upload_fix_key"])
    fix_table = next(d.value for d in at.data_editor if "problems" in d.value.columns)
    assert fix_table.index.tolist() == [4, 5, 7]
    assert "ERROR: email 'carol@example'" in fix_table["problems"][4]
    edit_data_editor(at, fix_key, {0: {"Email Address": "carol@example.com"}})
    assert "Saved. Row 4 has no errors now." in texts(at.success)
    assert metrics(at)["Ready to send"] == "4"
    original = at.session_state["upload_loaded"][1]
    assert original.loc[4, "Email Address"] == "carol@example"
    fix_table = next(d.value for d in at.data_editor if "problems" in d.value.columns)
    assert fix_table.index.tolist() == [5, 7]
    at.button(key="upload_undo_fixes").click().run()
    assert metrics(at)["Ready to send"] == "3"


def test_send_only_valid_rows_to_the_sandbox_in_batches() -> None:
    at = attendees()
    at.radio(key="upload_choice").set_value("fix_first").run()
    assert "upload_send" not in [b.key for b in at.button]
    at = send_valid(at, batch_size=2)
    assert "All 3 events were recorded by the sandbox." in texts(at.success)
    report = next(d.value for d in at.dataframe if "batch" in d.value.columns)
    assert report["rows"].tolist() == ["2-3", "8"]
    assert report["events"].tolist() == [2, 1]
    assert report["results"].tolist() == ["2", "1"]  # as shown: a count, or - before the answer
    assert report["failed"].tolist() == ["0", "0"]
    assert metrics(at)["Recorded"] == "3"
    emails = [e["email"] for e in sandbox().events()]
    assert emails == ["jane@example.com", "bob@example.com", "frank@example.com"]
    assert "Download the per-batch report (CSV)" in [b.label for b in at.download_button]


def test_rows_fixed_after_a_send_go_on_their_own() -> None:
    at = send_valid(attendees())
    assert len(sandbox().events()) == 3
    edit_data_editor(at, str(at.session_state["upload_fix_key"]),
                     {0: {"Email Address": "carol@example.com"}})
    assert "Rows not sent yet" in [s.value for s in at.subheader]
    at.checkbox(key="upload_confirm").check().run()
    at.button(key="upload_send").click().run()
    emails = [e["email"] for e in sandbox().events()]
    assert emails.count("jane@example.com") == 1
    assert emails[-1] == "carol@example.com"
    assert len(emails) == 4


def test_a_failing_target_and_an_unknown_batch() -> None:
    at = attendees()
    sandbox().add_faults([{"status": 401}])
    at = send_valid(at, batch_size=2)
    assert any("rejected the keys" in e for e in texts(at.error))
    report = next(d.value for d in at.dataframe if "batch" in d.value.columns)
    assert report["state"].tolist() == ["rejected", "skipped"]
    assert metrics(at)["Not sent"] == "3"

    sandbox().add_faults([{"drop": "after_body"}])
    at.button(key="upload_retry").click().run()
    report = next(d.value for d in at.dataframe if "batch" in d.value.columns)
    assert report["state"].tolist() == ["unknown", "accepted"]
    assert any("may have recorded them" in w for w in texts(at.warning))
    assert at.button(key="upload_retry_unknown").disabled
    at.checkbox(key="upload_confirm_unknown").check().run()
    at.button(key="upload_retry_unknown").click().run()
    report = next(d.value for d in at.dataframe if "batch" in d.value.columns)
    assert report["state"].tolist() == ["accepted", "accepted"]
    # The emulator recorded the dropped batch too: resending it was the person's call.
    assert len(sandbox().events()) == 5


def test_workbook_sheets_can_be_chosen() -> None:
    workbook = Workbook()
    first = workbook.active
    first.title = "notes"
    first.append(["email", "type"])
    first.append(["a@example.com", "first_sheet"])
    second = workbook.create_sheet("events")
    second.append(["email", "type"])
    second.append(["b@example.com", "second_sheet"])
    second.append(["c@example.com", "second_sheet"])
    out = io.BytesIO()
    workbook.save(out)
    at = upload(open_app("upload"), "book.xlsx", out.getvalue(),
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert at.selectbox(key="upload_sheet").options == ["notes", "events"]
    assert metrics(at)["Rows"] == "1"
    at.selectbox(key="upload_sheet").set_value("events").run()
    assert metrics(at)["Rows"] == "2"


def test_an_unreadable_file_is_a_sentence_not_a_traceback() -> None:
    at = upload(open_app("upload"), "photo.csv", b"\x89PNG\r\n\x1a\n" + b"0" * 100)
    assert any("doesn't look like a CSV or spreadsheet" in e for e in texts(at.error))
    no_errors_on_screen(at)


def test_long_problem_lists_are_paged() -> None:
    rows = b"".join(b"user%d@,signed_up\n" % i for i in range(1200))
    at = upload(open_app("upload"), "big.csv", b"email,type\n" + rows)
    assert metrics(at)["With errors"] == "1,200"
    assert len(problems_table(at)) == 500
    at.number_input(key="upload_problems_page").set_value(3).run()
    assert len(problems_table(at)) == 200
    assert problems_table(at)["row"].iloc[0] == 1002
    fix_table = next(d.value for d in at.data_editor if "problems" in d.value.columns)
    assert len(fix_table) == 50


def test_a_new_file_does_not_inherit_the_choice_to_send() -> None:
    at = attendees()
    at.radio(key="upload_choice").set_value("send_valid").run()
    assert "upload_send" in [b.key for b in at.button]
    at = upload(at, "other.csv", ATTENDEES.replace(b"bob@", b"robert@"))
    assert at.radio(key="upload_choice").value is None
    assert "upload_send" not in [b.key for b in at.button]


def away_and_back(at: AppTest) -> AppTest:
    at.switch_page("app_pages/compose.py").run()
    assert at.title[0].value == "Compose events"
    at.switch_page("app_pages/upload.py").run()
    no_errors_on_screen(at)
    return at


def test_leaving_the_page_and_coming_back_keeps_the_file_and_every_choice() -> None:
    at = attendees()
    at.text_input(key="upload_default_type").input("signed_up").run()
    at.selectbox(key="upload_tz").set_value("Europe/Berlin").run()
    edit_data_editor(at, str(at.session_state["upload_fix_key"]),
                     {0: {"Email Address": "carol@example.com"}})
    at.radio(key="upload_choice").set_value("send_valid").run()
    at.number_input(key="upload_batch_size").set_value(2).run()
    before = metrics(at)
    assert before["Ready to send"] == "5"

    at = away_and_back(at)
    assert any("Using **attendees.csv**" in i for i in texts(at.info))
    assert metrics(at) == before
    assert at.text_input(key="upload_default_type").value == "signed_up"
    assert at.selectbox(key="upload_tz").value == "Europe/Berlin"
    assert at.radio(key="upload_choice").value == "send_valid"
    assert at.number_input(key="upload_batch_size").value == 2
    at = send_valid(at)
    assert "All 5 events were recorded by the sandbox." in texts(at.success)
    dates = {e["email"]: e["date"] for e in sandbox().events()}
    assert dates["jane@example.com"] == "2024-11-20T13:00:00Z"  # 14:00 in Berlin
    assert dates["carol@example.com"] == "2024-11-20T13:07:00Z"  # the fixed row
    # Still there after another rerun on the page, and the uploader's x removes it.
    at.run()
    assert any("Using **attendees.csv**" in i for i in texts(at.info))
    at.button(key="upload_remove_file").click().run()
    assert "Upload a file to start" in " ".join(texts(at.info))


def test_the_uploaders_x_removes_the_file() -> None:
    at = attendees()
    at.file_uploader(key="upload_file").set_value(None).run()
    assert "Upload a file to start" in " ".join(texts(at.info))
    assert not at.metric


def test_a_send_is_shown_where_it_stands_after_coming_back() -> None:
    at = attendees()
    at.selectbox(key="upload_tz").set_value("America/New_York").run()
    at = send_valid(at, batch_size=1)
    jobs = at.session_state["upload_jobs"]
    (job_source, history), = jobs.items()
    job = history[-1]
    assert job.done
    at = away_and_back(at)
    assert "All 3 events were recorded by the sandbox." in texts(at.success)
    assert at.session_state["upload_jobs"][job_source][-1] is job  # the same send, shown
    report = next(d.value for d in at.dataframe if "batch" in d.value.columns)
    assert report["rows"].tolist() == ["2", "3", "8"]
    assert [e["date"] for e in sandbox().events()] == [
        "2024-11-20T19:00:00Z", "2024-11-20T19:05:00Z", "2024-11-20T19:30:00Z"]


def test_the_events_are_shown_as_json_before_sending() -> None:
    at = attendees()
    shown = json.loads(at.code[0].value)["events"]
    assert [e["email"] for e in shown] == ["jane@example.com", "bob@example.com",
                                           "frank@example.com"]
    assert shown[0] == {"type": "webinar_attended", "email": "jane@example.com",
                        "date": "2024-11-20T14:00:00Z",
                        "fields": {"first_name": "Jane", "plan": "pro"}}
    at.number_input(key="upload_preview_row").set_value(8).run()
    assert "Row 8 becomes 1 event:" in texts(at.caption)
    assert json.loads(at.code[0].value)["events"][0]["email"] == "frank@example.com"
    at.number_input(key="upload_preview_row").set_value(4).run()
    assert "Row 4 has errors, so it is not sent: see the problems above." in texts(at.info)
    at.number_input(key="upload_preview_row").set_value(60).run()
    assert "There is no row 60 in this sheet: its rows are 2 to 8." in texts(at.info)
    at = send_valid(at)
    assert sandbox().events()[:3] == shown  # what was shown is what was sent


def test_rows_bento_refused_are_listed_and_offered_again() -> None:
    sandbox().add_faults([{"failed": 1}])  # the sandbox refuses row 8 by name
    at = send_valid(attendees())
    refused = next(d.value for d in at.dataframe if "error" in d.value.columns)
    assert refused["row"].tolist() == [8]
    assert refused["email"].tolist() == ["frank@example.com"]
    assert "Download the refused events (CSV)" in [b.label for b in at.download_button]
    assert "Rows not sent yet" in [s.value for s in at.subheader]
    at.checkbox(key="upload_confirm").check().run()
    at.button(key="upload_send").click().run()
    emails = [e["email"] for e in sandbox().events()]
    assert emails == ["jane@example.com", "bob@example.com", "frank@example.com"]


def test_the_steps_are_numbered_without_a_gap_when_nothing_needs_fixing() -> None:
    # Before, a clean file went from "2. What was found" to "4. Send".
    clean = b"Email Address,Event\njane@example.com,webinar_attended\n"
    steps = [s.value for s in upload(open_app("upload"), "clean.csv", clean).subheader]
    assert [s for s in steps if s[:2] in ("1.", "2.", "3.", "4.")] == [
        "1. Where each column goes", "2. What was found", "3. Send"]
    steps = [s.value for s in attendees().subheader]
    assert "3. Fix rows in place" in steps and "4. Send" in steps
