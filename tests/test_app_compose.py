"""The Compose page: one event at a time, problems next to the inputs, the outbox, sending."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest
from streamlit.testing.v1 import AppTest
from test_app_helpers import edit_data_editor, isolated, metrics, open_app, screen_text, texts

from bento_ui import Ledger, plan_send, sandbox
from bento_ui.sending import BatchResult, Origin, SendReport
from ui.logic import SendJob, outbox_table


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from isolated(monkeypatch)


def fill(at: AppTest, email: str, event_type: str = "webinar_attended") -> AppTest:
    at.text_input(key="compose_custom_type").input(event_type)
    at.text_input(key="compose_email").input(email)
    return at.run()


def add(at: AppTest, email: str, event_type: str = "webinar_attended") -> AppTest:
    fill(at, email, event_type)
    at.button(key="compose_add").click().run()
    assert not at.exception
    return at


def preview(at: AppTest) -> dict[str, object]:
    """The JSON preview of the event being composed."""
    return dict(json.loads(at.code[0].value))


def send(at: AppTest, batch_size: int | None = None) -> AppTest:
    if batch_size is not None:
        at.number_input(key="compose_batch_size").set_value(batch_size).run()
    at.checkbox(key="compose_confirm").check().run()
    at.button(key="compose_send").click().run()
    assert not at.exception, at.exception
    return at


def test_empty_form_and_outbox() -> None:
    at = open_app()
    assert at.title[0].value == "Compose events"
    assert "The outbox is empty" in " ".join(texts(at.info))
    assert not at.error  # a fresh form is not covered in red
    assert "Sandbox" in " ".join(texts(at.sidebar.success))


def test_missing_values_are_shown_when_adding() -> None:
    at = open_app()
    at.button(key="compose_add").click().run()
    errors = " ".join(texts(at.error))
    assert "Email is missing" in errors
    assert "Type is missing" in errors
    assert "This event has problems" in errors
    assert "The outbox is empty" in " ".join(texts(at.info))


def test_bad_email_is_shown_before_adding() -> None:
    at = fill(open_app(), "jane@")
    assert any("email 'jane@'" in e.lower() for e in texts(at.error))
    assert "once the form has no errors" in " ".join(texts(at.caption))


def test_custom_event_preview_is_what_bento_receives() -> None:
    at = fill(open_app(), "jane@example.com")
    assert preview(at) == {"type": "webinar_attended", "email": "jane@example.com"}


def test_fields_and_nested_details_from_the_editors() -> None:
    at = fill(open_app(), "jane@example.com")
    at.session_state["compose_fields_0"] = {
        "edited_rows": {0: {"key": "first_name", "value": "Jane"}}, "added_rows": [],
        "deleted_rows": [],
    }
    edit_data_editor(at, "compose_details_0", {0: {"key": "order.id", "value": "A-17"},
                                               1: {"key": "plan", "value": "pro"}})
    assert preview(at) == {
        "type": "webinar_attended", "email": "jane@example.com",
        "fields": {"first_name": "Jane"}, "details": {"order": {"id": "A-17"}, "plan": "pro"},
    }


def test_field_names_must_be_flat() -> None:
    at = fill(open_app(), "jane@example.com")
    edit_data_editor(at, "compose_fields_0", {0: {"key": "address.city", "value": "Oslo"}})
    assert any("Field names cannot contain dots" in e for e in texts(at.error))


def test_details_as_json_with_an_error() -> None:
    at = fill(open_app(), "jane@example.com")
    at.radio(key="compose_details_mode").set_value("json").run()
    at.text_area(key="compose_details_json").input('{"plan": ').run()
    assert any("Details is not valid JSON" in e for e in texts(at.error))
    at.text_area(key="compose_details_json").input('{"plan": {"name": "pro"}}').run()
    assert not at.error
    assert preview(at)["details"] == {"plan": {"name": "pro"}}


def test_purchase_inputs_and_their_problems() -> None:
    at = open_app()
    at.selectbox(key="compose_kind").set_value("$purchase").run()
    at.text_input(key="compose_email").input("bob@example.com")
    at.text_input(key="compose_purchase_key").input("ORDER-1001")
    at.text_input(key="compose_purchase_amount").input("49.99")
    at.text_input(key="compose_purchase_currency").input("US!").run()
    assert any("3-letter currency code" in e for e in texts(at.error))
    at.text_input(key="compose_purchase_currency").input("USD").run()
    assert not at.error
    assert preview(at) == {
        "type": "$purchase", "email": "bob@example.com",
        "details": {"unique": {"key": "ORDER-1001"}, "value": {"amount": 4999, "currency": "USD"}},
    }
    assert any("49.99 USD = 4999 cents" in c for c in texts(at.caption))


def test_compose_takes_the_amount_in_either_unit_and_never_truncates() -> None:
    at = open_app()
    at.selectbox(key="compose_kind").set_value("$purchase").run()
    at.text_input(key="compose_email").input("bob@example.com")
    at.text_input(key="compose_purchase_key").input("ORDER-1001")
    at.text_input(key="compose_purchase_amount").input("49.99").run()
    at.radio(key="compose_amount_unit").set_value("minor").run()
    # Before: 49.99 typed in the cents box was sent as 49.
    assert any("amount '49.99' has decimals" in e.lower() for e in texts(at.error))
    at.text_input(key="compose_purchase_amount").input("4999").run()
    assert not at.error
    assert preview(at)["details"]["value"] == {"amount": 4999, "currency": "USD"}
    assert any("49.99 USD = 4999 cents" in c for c in texts(at.caption))
    at.radio(key="compose_amount_unit").set_value("major").run()
    at.text_input(key="compose_purchase_currency").input("JPY")
    at.text_input(key="compose_purchase_amount").input("1500").run()
    assert preview(at)["details"]["value"] == {"amount": 1500, "currency": "JPY"}


def test_tag_input() -> None:
    at = open_app()
    at.selectbox(key="compose_kind").set_value("$tag").run()
    at.text_input(key="compose_email").input("carol@example.com")
    at.button(key="compose_add").click().run()
    assert any("needs details.tag" in e for e in texts(at.error))
    at.text_input(key="compose_tag").input("vip").run()
    assert preview(at)["details"] == {"tag": "vip"}


def test_backfill_date_in_a_time_zone_is_sent_as_utc() -> None:
    at = fill(open_app(), "jane@example.com")
    at.checkbox(key="compose_has_date").check().run()
    at.date_input(key="compose_date").set_value(dt.date(2024, 1, 5))
    at.time_input(key="compose_time").set_value(dt.time(13, 45))
    at.selectbox(key="compose_tz").set_value("Europe/Paris").run()
    assert preview(at)["date"] == "2024-01-05T12:45:00Z"


def test_outbox_table_json_edit_and_remove() -> None:
    at = add(open_app(), "jane@example.com")
    assert "Added to the outbox as #1." in texts(at.success)
    assert at.text_input(key="compose_email").value == ""  # the form is ready for the next
    at = add(at, "bob@example.com")
    table = at.dataframe[-1].value
    assert list(table["email"]) == ["jane@example.com", "bob@example.com"]
    sent = json.loads(at.code[-1].value)
    assert [e["email"] for e in sent["events"]] == ["jane@example.com", "bob@example.com"]

    at.selectbox(key="compose_pick").set_value(0).run()
    at.button(key="compose_edit").click().run()
    assert at.text_input(key="compose_email").value == "jane@example.com"
    at.text_input(key="compose_email").input("janet@example.com").run()
    at.button(key="compose_add").click().run()
    assert "Entry #1 was updated." in texts(at.success)

    at.selectbox(key="compose_pick").set_value(1).run()
    at.button(key="compose_remove").click().run()
    assert list(at.dataframe[-1].value["email"]) == ["janet@example.com"]


def test_duplicate_events_in_the_outbox_are_flagged() -> None:
    at = add(open_app(), "jane@example.com")
    at = add(at, "jane@example.com")
    assert any("the same event as row 1" in w.lower() for w in texts(at.warning))


def test_send_outbox_to_sandbox_in_batches() -> None:
    at = open_app()
    for email in ("a@example.com", "b@example.com", "c@example.com"):
        at = add(at, email)
    at = send(at, batch_size=2)
    assert "All 3 events were recorded by the sandbox." in texts(at.success)
    report = at.dataframe[-1].value
    assert list(report["batch"]) == [1, 2]
    assert list(report["rows"]) == ["1-2", "3"]
    assert list(report["results"]) == ["2", "1"]  # as shown: a count, or - before the answer
    assert list(report["state"]) == ["accepted", "accepted"]
    assert metrics(at)["Recorded"] == "3"
    assert [e["email"] for e in sandbox().events()] == ["a@example.com", "b@example.com",
                                                        "c@example.com"]
    # The sent outbox is locked, and running the page again sends nothing more.
    assert at.button(key="compose_add").disabled
    at.run()
    at.run()
    assert len(sandbox().events()) == 3
    at.button(key="compose_new_outbox").click().run()
    assert "The outbox is empty" in " ".join(texts(at.info))


def test_a_failing_target_reads_as_plain_language_and_can_be_retried() -> None:
    at = add(open_app(), "jane@example.com")
    sandbox().add_faults([{"status": 401}])
    at = send(at)
    assert any("rejected the keys" in e for e in texts(at.error))
    assert metrics(at)["Not sent"] == "1"
    report = at.dataframe[-1].value
    assert report["state"].tolist() == ["rejected"]
    assert "check the publishable key" in report["message"][0]
    assert sandbox().events() == []

    at.button(key="compose_retry").click().run()
    assert "The event was recorded by the sandbox." in texts(at.success)
    assert len(sandbox().events()) == 1


def test_send_needs_the_confirmation() -> None:
    at = add(open_app(), "jane@example.com")
    assert "Target: **the sandbox**" in screen_text(at)
    assert "1 event** in **1 batch**" in screen_text(at)
    assert at.button(key="compose_send").disabled
    at.checkbox(key="compose_confirm").check().run()
    assert not at.button(key="compose_send").disabled
    assert sandbox().events() == []


def test_an_interrupted_send_resumes_without_sending_a_batch_twice() -> None:
    """A rerun in the middle of a send (a double click) sends only unanswered batches."""
    at = open_app()
    for email in ("a@example.com", "b@example.com", "c@example.com"):
        at = add(at, email)
    box = outbox_table([entry["row"] for entry in at.session_state["compose_outbox"]])
    with Ledger() as ledger:  # SendJob.plan/begin are replaced by SendJob.start(plan, ...)
        plan = plan_send(box, sandbox().credentials, ledger=ledger,
                         origin=Origin(name="Compose outbox"), batch_size=1)
        job = SendJob.start(plan, source="outbox-1", table=box, target="the sandbox")

        def on_start(report: SendReport) -> None:  # what the page does
            job.run_id = report.run_id
            job.plan = None

        def on_batch(result: BatchResult) -> None:
            job.record(result)
            if result.number == 1:
                raise _Stopped  # the run was stopped right after batch 1 was answered

        with pytest.raises(_Stopped):
            plan.send(on_batch=on_batch, on_start=on_start)
    at.session_state["compose_jobs"] = {"outbox-1": [job]}
    at.run()
    assert [e["email"] for e in sandbox().events()] == ["a@example.com", "b@example.com",
                                                        "c@example.com"]
    assert sandbox().request_count == 3
    assert "All 3 events were recorded by the sandbox." in texts(at.success)


def outbox_events(at: AppTest) -> list[dict[str, object]]:
    """The outbox's JSON tab: the events as they will be sent."""
    return list(json.loads(at.code[-1].value)["events"])


def test_one_click_adds_what_was_typed_just_before_it() -> None:
    # Typed, then clicked at once: the new values reach the app in the click's own run.
    at = open_app()
    at.text_input(key="compose_custom_type").input("webinar_attended")
    at.text_input(key="compose_email").input("ada@example.com")
    at.button(key="compose_add").click().run()
    assert "Added to the outbox as #1." in texts(at.success)
    assert outbox_events(at) == [{"type": "webinar_attended", "email": "ada@example.com"}]
    at.text_input(key="compose_email").input("grace@example.com")
    at.button(key="compose_add").click().run()
    assert "Added to the outbox as #2." in texts(at.success)
    assert [e["email"] for e in outbox_events(at)] == ["ada@example.com", "grace@example.com"]


def test_saving_an_edit_saves_the_tag_typed_just_before() -> None:
    at = open_app()
    at.selectbox(key="compose_kind").set_value("$tag").run()
    at.text_input(key="compose_email").input("carol@example.com")
    at.text_input(key="compose_tag").input("vip")
    at.button(key="compose_add").click().run()
    assert outbox_events(at) == [
        {"type": "$tag", "email": "carol@example.com", "details": {"tag": "vip"}}]
    at.selectbox(key="compose_pick").set_value(0).run()
    at.button(key="compose_edit").click().run()
    at.text_input(key="compose_tag").input("newsletter")
    at.button(key="compose_add").click().run()
    assert "Entry #1 was updated." in texts(at.success)
    assert outbox_events(at) == [
        {"type": "$tag", "email": "carol@example.com", "details": {"tag": "newsletter"}}]


def test_leaving_the_page_keeps_the_form_and_its_fields() -> None:
    at = fill(open_app(), "jane@example.com")
    edit_data_editor(at, "compose_fields_0", {0: {"key": "first_name", "value": "Jane"}})
    assert preview(at)["fields"] == {"first_name": "Jane"}
    at.switch_page("app_pages/upload.py").run()
    at.switch_page("app_pages/compose.py").run()
    assert at.text_input(key="compose_email").value == "jane@example.com"
    assert at.text_input(key="compose_custom_type").value == "webinar_attended"
    assert preview(at) == {"type": "webinar_attended", "email": "jane@example.com",
                           "fields": {"first_name": "Jane"}}


class _Stopped(Exception):
    pass
