"""The notebook composer, driven as a person drives it, without a browser.

Files arrive through `Composer.upload.value` (as ipywidgets' own tests set it) or
`Composer.load`; mapping widgets are changed, the confirmation ticked and
`send_button.click()` pressed; then what the sandbox recorded and `report` are checked.
"""

from __future__ import annotations

import base64
import datetime
import html
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest

from bento_ui import BentoUIError, Ledger
from bento_ui.emulator import Emulator
from bento_ui.notebook import Composer
from bento_ui.notebook.state import ComposerState
from bento_ui.outcomes import RunState

ROOT = Path(__file__).resolve().parent.parent
SEND_TIMEOUT = 30  # seconds a background send may take before the test gives up

ATTENDEES = (
    b"Email,First Name,Plan\n"
    b"jane@example.com,Jane,pro\n"
    b"bob@example,Bob,free\n"
    b"carl@example.com,Carl,team\n"
)


@pytest.fixture
def composer(emulator: Emulator) -> Iterator[Composer]:
    widget = Composer(emulator=emulator)
    yield widget
    if widget.job is not None:
        widget.job.cancel()
        widget.job.wait(SEND_TIMEOUT)
    widget.state.close()


def upload(composer: Composer, name: str, data: bytes) -> None:
    """What the browser does when a file is chosen in the FileUpload."""
    composer.upload.value = ({
        "name": name, "type": "text/csv", "size": len(data), "content": memoryview(data),
        "last_modified": datetime.datetime.now(datetime.UTC),
    },)  # fmt: skip


def send(composer: Composer) -> None:
    composer.confirm.value = True
    composer.send_button.click()
    assert composer.job is not None, composer.status.value
    assert composer.job.wait(SEND_TIMEOUT), "the send did not end"


def text(html_value: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html_value)).strip())


def test_an_uploaded_csv_is_mapped_checked_and_sent_to_the_sandbox(
    composer: Composer, emulator: Emulator
) -> None:
    assert "the sandbox" in text(composer.target_info.value)
    assert "inbox holds 0 events" in text(composer.target_info.value)
    upload(composer, "attendees.csv", ATTENDEES)
    # No type column: the composer says so, and nothing can be sent.
    assert "No column goes to type" in text(composer.mapping_info.value)
    assert composer.send_button.disabled

    composer.default_type.value = "webinar_attended"
    goes, name = composer.column_choices["Plan"]
    goes.value = "detail"  # the suggestion was a field: the person moves it to details
    assert name.value == "plan"
    assert composer.summary == {"rows": 3, "valid": 2, "with errors": 1,
                                "with warnings": 0, "empty skipped": 0}  # fmt: skip
    assert "bob@example" in text(composer.problems_table.value)
    assert '"webinar_attended"' in text(composer.preview.value)
    assert composer.send_button.disabled  # not before the tick

    send(composer)

    assert emulator.events() == [
        {"type": "webinar_attended", "email": "jane@example.com",
         "fields": {"first_name": "Jane"}, "details": {"plan": "pro"}},
        {"type": "webinar_attended", "email": "carl@example.com",
         "fields": {"first_name": "Carl"}, "details": {"plan": "team"}},
    ]  # fmt: skip
    report = composer.report
    assert report is not None and report.ok
    assert report.totals["recorded"] == 2
    batches = text(composer.batches.value)
    assert "2, 4" in batches and "accepted" in batches  # spreadsheet rows, state
    assert "2 recorded" in text(composer.status.value)
    assert "inbox holds 2 events" in text(composer.target_info.value)
    assert composer.valid is not None and list(composer.valid.index) == [2, 4]


def test_a_second_click_sends_nothing_twice(composer: Composer, emulator: Emulator) -> None:
    composer.load(ATTENDEES, name="attendees.csv")
    composer.default_type.value = "webinar_attended"
    send(composer)
    requests = emulator.request_count
    first = composer.report

    assert composer.confirm.disabled and composer.send_button.disabled
    assert "Nothing to send" in text(composer.send_info.value)
    composer.confirm.value = True  # even ticked and clicked by code
    composer.send_button.click()

    assert emulator.request_count == requests
    assert len(emulator.events()) == 2
    assert composer.report is first  # no new send
    assert "sent to this site" in text(composer.status.value)


def test_a_second_composer_on_the_same_sandbox_is_held_back_by_the_ledger(
    emulator: Emulator,
) -> None:
    widgets = []
    for _ in range(2):  # the notebook cell run twice: a new widget, the same sandbox
        widget = Composer(emulator=emulator)
        widget.load(ATTENDEES, name="attendees.csv")
        widget.default_type.value = "webinar_attended"
        widgets.append(widget)
        if len(widgets) == 1:
            send(widget)
    second = widgets[1]
    assert "sent to this site" in text(second.send_info.value)
    assert second.confirm.disabled
    second.confirm.value = True
    second.send_button.click()
    assert second.job is None
    assert len(emulator.events()) == 2
    for widget in widgets:
        widget.state.close()


def test_batches_fill_the_table_with_bentos_reasons_for_refused_rows(
    composer: Composer, emulator: Emulator
) -> None:
    rows = b"email,type\n" + b"".join(b"p%d@example.com,signup\n" % i for i in range(5))
    composer.load(rows, name="people.csv")
    composer.batch_size.value = 2
    assert "5 events in 3 batches" in text(composer.send_info.value)
    emulator.add_faults([{}, {"failed": 1}])  # Bento refuses the last event of batch 2

    send(composer)

    report = composer.report
    assert report is not None
    assert [str(r.state) for r in report.results] == ["accepted", "partial", "accepted"]
    assert len(emulator.events()) == 4
    table = text(composer.batches.value)
    assert "partial" in table and "5" in table
    failures = text(composer.failures.value)
    assert "Refused by Bento" in failures and "p3@example.com" in failures
    assert "5" in failures  # spreadsheet row of the refused event (row 5)
    assert [f.row for f in report.failures] == [5]
    assert composer.progress.value == 3


def test_cancel_stops_after_the_batch_being_sent_and_send_again_sends_the_rest(
    composer: Composer, emulator: Emulator
) -> None:
    rows = b"email,type\n" + b"".join(b"p%d@example.com,signup\n" % i for i in range(6))
    composer.load(rows, name="people.csv")
    composer.batch_size.value = 2
    emulator.add_faults([{"delay": 3}])  # the first batch is still on its way at Cancel
    composer.confirm.value = True
    composer.send_button.click()
    assert composer.job is not None and not composer.cancel_button.disabled
    composer.cancel_button.click()
    assert composer.job.wait(SEND_TIMEOUT)

    assert len(emulator.events()) == 2  # the batch being sent, no other
    report = composer.report
    assert report is not None and composer.job.cancelled
    assert [r.number for r in report.results] == [1]
    assert "Cancelled after batch 1" in text(composer.status.value)
    assert report.run_id is not None
    with Ledger() as ledger:
        assert ledger.run(report.run_id).state == RunState.INTERRUPTED

    assert "4 events in 2 batches" in text(composer.send_info.value)
    send(composer)
    emails = [e["email"] for e in emulator.events()]
    assert sorted(emails) == sorted(f"p{i}@example.com" for i in range(6))  # each once


def test_the_sandbox_is_the_default_and_live_sending_needs_keys_and_a_tick(
    emulator: Emulator,
) -> None:
    without = Composer(emulator=emulator)
    assert without.target.options == ("Sandbox",)
    assert "BENTO_SITE_UUID" in text(without.target_box.children[2].value)
    without.state.close()

    with Emulator() as live_site:
        widget = Composer(credentials=live_site.credentials, emulator=emulator)
        assert widget.target.value == "Sandbox"  # keys given, still the sandbox first
        widget.load(ATTENDEES, name="attendees.csv")
        widget.default_type.value = "webinar_attended"
        widget.confirm.value = True
        widget.target.value = "Bento (live)"
        assert widget.emulator is None
        assert widget.confirm.value is False  # the sandbox tick does not carry over
        assert live_site.site_uuid in text(widget.target_info.value)
        assert "for real" in widget.confirm.description
        assert widget.send_button.disabled
        send(widget)
        widget.state.close()
        assert len(live_site.events()) == 2
    assert emulator.events() == []


def test_half_set_keys_in_the_environment_are_said_and_the_sandbox_stays(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BENTO_SITE_UUID", "site-1")
    monkeypatch.delenv("BENTO_PUBLISHABLE_KEY", raising=False)
    monkeypatch.delenv("BENTO_SECRET_KEY", raising=False)
    widget = Composer(emulator=emulator)
    assert widget.target.options == ("Sandbox",)
    assert "BENTO_PUBLISHABLE_KEY and BENTO_SECRET_KEY are not" in text(
        widget.target_box.children[2].value)


def test_a_workbook_offers_its_sheets(composer: Composer, tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    first = book.active
    assert first is not None
    first.title = "Notes"
    first.append(["note"])
    first.append(["nothing to send here"])
    orders = book.create_sheet("Attendees")
    orders.append(["email", "event"])
    orders.append(["ann@example.com", "webinar_attended"])
    path = tmp_path / "book.xlsx"
    book.save(path)

    composer.load(path)
    assert composer.sheet_picker.layout.display != "none"
    assert composer.sheet_picker.options == ("Notes", "Attendees")
    assert "No column goes to email" in text(composer.mapping_info.value)
    composer.sheet_picker.value = "Attendees"
    assert composer.summary is not None and composer.summary["valid"] == 1
    assert composer.state.origin(1000, composer._resend()).options["sheet"] == "Attendees"


def test_amounts_in_currency_units_are_suggested_and_sent_as_cents(
    composer: Composer, emulator: Emulator
) -> None:
    rows = (b"email,type,order id,amount,currency\n"
            b"ann@example.com,$purchase,A1,32.00,USD\n")  # fmt: skip
    composer.load(rows, name="orders.csv")
    assert composer.amounts.layout.display != "none"
    assert composer.amounts.value == "major"
    assert '"amount": 3200' in text(composer.preview.value)

    composer.amounts.value = "minor"  # the person says they are cents: 32.00 is no cent
    assert composer.summary is not None and composer.summary["with errors"] == 1

    composer.amounts.value = "major"
    send(composer)
    assert emulator.events()[0]["details"]["value"] == {"amount": 3200, "currency": "USD"}


def test_dates_are_read_in_the_chosen_time_zone(composer: Composer, emulator: Emulator) -> None:
    composer.load(b"email,type,date\nann@example.com,visit,2024-11-20 14:00\n", name="d.csv")
    assert composer.timezone.layout.display != "none"
    composer.timezone.value = "Europe/Berlin"
    send(composer)
    assert emulator.events()[0]["date"] == "2024-11-20T13:00:00Z"


def test_problems_are_paged_and_their_download_cannot_run_formulas(composer: Composer) -> None:
    rows = b"email,type\n" + b"".join(b"=HYPERLINK(%d),signup\n" % i for i in range(25))
    composer.load(rows, name="bad.csv")
    assert composer.page_info.value.startswith("page 1 of 2")
    assert "row" in text(composer.problems_table.value)
    composer.next_page.click()
    assert composer.page_info.value.startswith("page 2 of 2")
    assert "26" in text(composer.problems_table.value)  # the last data row, in sheet numbers

    encoded = re.search(r"base64,([^\"]+)", composer.download.value)
    assert encoded is not None
    csv_text = base64.b64decode(encoded.group(1)).decode("utf-8")
    assert "'=HYPERLINK(0)" in csv_text
    assert "\n=HYPERLINK" not in csv_text and ",=HYPERLINK" not in csv_text


def test_one_composed_event_goes_through_the_same_checks(
    composer: Composer, emulator: Emulator
) -> None:
    composer.form_type.value = "$purchase"
    composer.form_email.value = "ann@example.com"
    composer.form_fields.value = "first_name: Ann"
    composer.form_details.value = '{"value": {"amount": 4999, "currency": "USD"}}'
    composer.form_check.click()
    assert composer.summary is not None and composer.summary["with errors"] == 1
    assert "unique" in text(composer.problems_table.value)  # $purchase needs its key

    composer.form_details.value = (
        '{"value": {"amount": 4999, "currency": "USD"}, "unique": {"key": "A1"}}')
    composer.form_check.click()
    assert composer.summary is not None and composer.summary["valid"] == 1
    send(composer)
    assert emulator.events() == [{
        "type": "$purchase", "email": "ann@example.com", "fields": {"first_name": "Ann"},
        "details": {"value": {"amount": 4999, "currency": "USD"}, "unique": {"key": "A1"}},
    }]  # fmt: skip


def test_a_form_field_with_a_dot_is_refused_with_a_reason(composer: Composer) -> None:
    composer.form_type.value = "signup"
    composer.form_email.value = "ann@example.com"
    composer.form_fields.value = "address.city: Paris"
    composer.form_check.click()
    assert "cannot contain dots" in text(composer.form_info.value)
    assert composer.summary is None


def test_a_file_that_is_not_a_table_gets_a_message_not_a_traceback(composer: Composer) -> None:
    upload(composer, "photo.csv", b"\x89PNG\r\n\x1a\n" + bytes(100))
    assert composer.file_info.value.startswith('<p class="bento-error">')
    assert composer.summary is None and composer.send_button.disabled
    composer.load(ROOT / "no-such-file.csv")
    assert "cannot be read" in text(composer.file_info.value)


def test_the_state_works_without_a_widget(emulator: Emulator) -> None:
    state = ComposerState(emulator=emulator)
    state.load(ATTENDEES, "attendees.csv")
    state.set_default_type("webinar_attended")
    assert state.preview().events == 2
    assert state.send(confirmed=False) == "Tick the confirmation first."
    job = state.send(confirmed=True)
    assert not isinstance(job, str) and job.wait(SEND_TIMEOUT)
    assert state.report is not None and state.report.totals["recorded"] == 2
    state.close()


def test_bento_ui_imports_without_ipywidgets_and_the_composer_says_what_to_install() -> None:
    script = (
        "import sys; sys.modules['ipywidgets'] = None\n"
        "import bento_ui\n"
        "from bento_ui import BentoUIError\n"
        "try:\n"
        "    from bento_ui.notebook import Composer\n"
        "except ImportError as exc:\n"
        "    assert isinstance(exc, BentoUIError)\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=ROOT, timeout=60, check=True)  # fmt: skip
    assert "pip install 'bento-ui[notebook]'" in out.stdout


def test_the_parts_come_top_to_bottom_as_the_issue_lists(composer: Composer) -> None:
    parts = [type(child).__name__ for child in composer.children]
    assert parts[0] == "HTML" and composer.target_box in composer.children
    order = [composer.children.index(p) for p in
             (composer.target_box, composer.file_box, composer.mapping_box, composer.found_box,
              composer.form, composer.send_box)]  # fmt: skip
    assert order == sorted(order)
    with pytest.raises(BentoUIError):
        composer.state.go_live(True)


def test_dates_that_read_two_ways_are_asked_about(composer: Composer, emulator: Emulator) -> None:
    composer.load(b"email,type,date\nann@example.com,visit,05/01/2024\n", name="d.csv")
    assert composer.date_order.layout.display != "none"
    assert composer.summary is not None and composer.summary["valid"] == 0
    composer.date_order.value = "day-first"
    send(composer)
    assert emulator.events()[0]["date"] == "2024-01-05T00:00:00Z"


def test_keys_from_the_environment_offer_bento_and_never_show(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Emulator() as live_site:
        keys = live_site.credentials
        monkeypatch.setenv("BENTO_SITE_UUID", keys.site_uuid)
        monkeypatch.setenv("BENTO_PUBLISHABLE_KEY", keys.publishable_key)
        monkeypatch.setenv("BENTO_SECRET_KEY", keys.secret_key)
        monkeypatch.setenv("BENTO_API_URL", keys.base_url)
        widget = Composer(emulator=emulator)
        assert widget.target.options == ("Sandbox", "Bento (live)")
        widget.target.value = "Bento (live)"
        widget.load(ATTENDEES, name="attendees.csv")
        widget.default_type.value = "webinar_attended"
        send(widget)
        assert len(live_site.events()) == 2
        shown = []
        stack: list[object] = [widget]
        while stack:
            item = stack.pop()
            for attribute in ("value", "description", "placeholder", "tooltip"):
                shown.append(str(getattr(item, attribute, "")))
            stack.extend(getattr(item, "children", ()))
        shown_text = "\n".join(shown)
        assert keys.site_uuid in shown_text  # the site is said ...
        assert keys.secret_key not in shown_text and keys.publishable_key not in shown_text
        widget.state.close()


def test_the_forms_date_is_utc_whatever_zone_the_file_was_read_in(
    composer: Composer, emulator: Emulator
) -> None:
    composer.load(b"email,type,date\nann@example.com,visit,2024-11-20 14:00\n", name="d.csv")
    composer.timezone.value = "Europe/Berlin"  # the file's dates are Berlin time
    composer.form_type.value = "visit"
    composer.form_email.value = "bo@example.com"
    composer.form_date.value = "2024-11-20 14:00"
    composer.form_check.click()
    send(composer)
    assert emulator.events()[0]["date"] == "2024-11-20T14:00:00Z"
