"""The Upload page in a real browser: upload, fix, leave and come back, money, send.

The same app server and browser set-up as test_browser.py (its fixtures, imported), in a
module of its own so that the two halves of the browser tests run side by side.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from browser_support import (
    START_TIMEOUT_MS,
    cells,
    edit_cell,
    grid_cells,
    open_app,
    table_with_column,
    until_idle,
)
from playwright.sync_api import Page, expect
from test_browser import (  # noqa: F401 - app, browser and page are fixtures
    EVENTS_CSV,
    SEND_TIMEOUT_MS,
    app,
    assert_no_traceback,
    browser,
    choose,
    expect_metric,
    go_to,
    metric,
    page,
)

pytestmark = pytest.mark.browser


def test_upload_with_errors_and_send_the_valid_rows(
    app: tuple[str, Path], page: Page, tmp_path: Path
) -> None:
    url, _ = app
    path = tmp_path / "webinar.csv"
    path.write_text(EVENTS_CSV, encoding="utf-8")
    open_app(page, f"{url}/upload", "Upload a spreadsheet")

    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(path)
    expect(page.get_by_text("webinar.csv: 8 rows, 3 columns.")).to_be_visible(
        timeout=START_TIMEOUT_MS)
    expect_metric(page, "Rows", "8")
    expect_metric(page, "Ready to send", "5")
    expect_metric(page, "With errors", "2")
    expect_metric(page, "With warnings", "0")
    expect_metric(page, "Empty, skipped", "1")

    mapping = table_with_column(page, "goes to")
    expect(grid_cells(mapping, "first_name")).to_have_count(1)
    problems = table_with_column(page, "severity")
    expect(grid_cells(problems, "carol@example")).to_have_count(1)
    found = cells(problems)  # row, column, value, severity, message; two problems
    assert len(found) == 10, found
    bad_email, no_type = found[:5], found[5:]
    assert bad_email[:4] == ["4", "Email Address", "carol@example", "error"]  # their header
    assert "use name@example.com" in bad_email[4]
    assert no_type[:4] == ["5", "Event", "", "error"]
    assert no_type[4].startswith("type is missing")

    page.get_by_text("Send only the 5 valid rows now").click()
    size = page.get_by_role("spinbutton", name="Batch size (events per request)")
    size.fill("2")
    size.press("Enter")
    expect(page.get_by_text("5 events in 3 batches of up to 2.")).to_be_visible()
    page.get_by_text("Send these 5 events to the sandbox").click()
    page.get_by_role("button", name="Send 5 events").click()

    expect(page.get_by_text("All 5 events were recorded by the sandbox.")).to_be_visible(
        timeout=SEND_TIMEOUT_MS)
    expect(page.get_by_text("Done: 3 batches: 3 accepted.")).to_be_visible()
    for label, value in [("Events in", "5"), ("Recorded", "5"), ("Failed", "0"),
                         ("Unknown", "0"), ("Not sent", "0")]:
        expect_metric(page, label, value)
    report = table_with_column(page, "spreadsheet rows")
    expect(grid_cells(report, "accepted")).to_have_count(3)
    rows = cells(report)
    batches = [rows[i:i + 7] for i in range(0, len(rows), 7)]
    # batch, spreadsheet rows, events, recorded, failed, state (then Bento's message)
    assert [b[:6] for b in batches] == [
        ["1", "2-3", "2", "2", "0", "accepted"],
        ["2", "7-8", "2", "2", "0", "accepted"],
        ["3", "9", "1", "1", "0", "accepted"],
    ], batches
    assert_no_traceback(page)


def test_a_bulk_fix_then_the_rows_to_fix_come_back_and_upload_clean(
    app: tuple[str, Path], page: Page, tmp_path: Path
) -> None:
    url, _ = app
    path = tmp_path / "webinar.csv"
    path.write_text(EVENTS_CSV, encoding="utf-8")
    open_app(page, f"{url}/upload", "Upload a spreadsheet")
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(path)
    expect_metric(page, "With errors", "2")

    choose(page, "Column to fix", "Event")
    choose(page, "What to do", "Fill empty cells with")
    value = page.get_by_role("textbox", name="Value")
    value.fill("webinar_attended")
    value.press("Enter")
    until_idle(page)  # Enter reruns the page: a click on its greyed-out Apply may be lost
    page.get_by_role("button", name="Apply", exact=True).click()
    expect_metric(page, "With errors", "1")  # row 5 has its type; row 6 stays empty
    expect_metric(page, "Empty, skipped", "1")

    until_idle(page)
    with page.expect_download() as info:
        page.get_by_role("button", name="Download the rows to fix (CSV)").click()
    download = info.value
    assert download.suggested_filename == "webinar-rows-to-fix.csv"
    lines = Path(download.path()).read_text(encoding="utf-8").splitlines()
    assert lines[0] == "Email Address,Event,First Name,problems"  # their layout
    assert lines[1].startswith("carol@example,webinar_attended,Carol,Email Address: email")
    assert len(lines) == 2
    fixed = tmp_path / "webinar-rows-to-fix.csv"
    fixed.write_text("\n".join([lines[0], lines[1].replace("carol@example,",
                                                           "carol@example.com,", 1)]) + "\n",
                     encoding="utf-8")
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(fixed)
    expect(page.get_by_text("webinar-rows-to-fix.csv: 1 rows, 4 columns.")).to_be_visible()
    expect_metric(page, "With errors", "0")
    expect(page.get_by_text("No problems: every row can be sent.")).to_be_visible()
    assert_no_traceback(page)


TIMED_CSV = "Email Address,Event,Date,First Name\n" + "".join(
    f"away{n}@example.com,webinar_attended,2024-11-20 14:0{n},Name{n}\n" for n in range(6))


def test_leaving_upload_mid_send_and_coming_back(
    app: tuple[str, Path], page: Page, tmp_path: Path
) -> None:
    url, _ = app
    path = tmp_path / "timed.csv"
    path.write_text(TIMED_CSV, encoding="utf-8")
    open_app(page, f"{url}/sandbox_inbox", "Sandbox inbox")
    page.get_by_text("Practice failures").click()
    choose(page, "Next request", "Slow answers")
    page.get_by_role("button", name="Make the next request fail this way").click()
    expect(page.get_by_text("The next send to the sandbox will meet: slow answers")
           ).to_be_visible()

    go_to(page, "Upload a spreadsheet", "Upload a spreadsheet")
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(path)
    expect(page.get_by_text("timed.csv: 6 rows, 4 columns.")).to_be_visible(
        timeout=START_TIMEOUT_MS)
    choose(page, "Time zone of dates written without one", "America/New_York")
    mapping = table_with_column(page, "goes to")
    edit_cell(page, mapping, 3, 0.9, "given_name")  # First Name's field name
    preview_json = page.get_by_test_id("stExpander").filter(has_text="What Bento will receive")
    expect(preview_json).to_contain_text('"date": "2024-11-20T19:00:00Z"')
    expect(preview_json).to_contain_text('"given_name": "Name0"')
    size = page.get_by_role("spinbutton", name="Batch size (events per request)")
    size.fill("1")
    size.press("Enter")
    expect(page.get_by_text("6 events in 6 batches of up to 1.")).to_be_visible()
    page.get_by_text("Send these 6 events to the sandbox").click()
    page.get_by_role("button", name="Send 6 events").click()
    expect(page.get_by_text("Batch 1: accepted.")).to_be_visible(timeout=SEND_TIMEOUT_MS)

    go_to(page, "Compose", "Compose events")  # mid-send: batches 2-6 are not answered yet
    go_to(page, "Upload a spreadsheet", "Upload a spreadsheet")
    expect(page.get_by_text("Using timed.csv")).to_be_visible()
    expect(page.get_by_text("Sending continues where it stopped")).to_be_visible()
    expect(page.get_by_role("combobox", name="Time zone of dates written without one")
           ).to_have_value("America/New_York")
    expect(grid_cells(table_with_column(page, "goes to"), "given_name")).to_have_count(1)
    expect(page.get_by_text("All 6 events were recorded by the sandbox.")).to_be_visible(
        timeout=3 * SEND_TIMEOUT_MS)  # six answers a second apart, on a loaded machine
    report = table_with_column(page, "spreadsheet rows")
    expect(grid_cells(report, "accepted")).to_have_count(6)
    assert [cells(report)[i * 7 + 1] for i in range(6)] == ["2", "3", "4", "5", "6", "7"]
    assert_no_traceback(page)

    go_to(page, "Sandbox inbox", "Sandbox inbox")
    page.get_by_role("tab", name=re.compile("^JSON of the newest")).click()
    received = json.loads(page.get_by_test_id("stCode").inner_text())["events"]
    mine = [e for e in received if e["email"].startswith("away")][::-1]  # newest first
    assert mine == [  # every batch once, in order, dates in New York's time
        {"type": "webinar_attended", "email": f"away{n}@example.com",
         "date": f"2024-11-20T19:0{n}:00Z", "fields": {"given_name": f"Name{n}"}}
        for n in range(6)
    ]
    page.get_by_role("button", name="Empty the sandbox").click()  # no slow answer left over
    expect(page.get_by_text("The sandbox is empty again.")).to_be_visible()


SHOP_CSV = """Order ID,Email,Amount,Currency,Date
#1001,shop1@example.com,32.00,USD,2024-11-20 14:00
#1002,shop2@example.com,"1,299.00",usd,2024-11-20 14:05
#1003,shop3@example.com,1500,JPY,2024-11-20 14:10
"""


def test_the_money_unit_is_suggested_shown_and_sent_in_cents(
    app: tuple[str, Path], page: Page, tmp_path: Path
) -> None:
    url, _ = app
    path = tmp_path / "orders.csv"
    path.write_text(SHOP_CSV, encoding="utf-8")
    open_app(page, f"{url}/upload", "Upload a spreadsheet")
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(path)
    expect(page.get_by_text("orders.csv: 3 rows, 5 columns.")).to_be_visible(
        timeout=START_TIMEOUT_MS)
    kind = page.get_by_test_id("stTextInput").filter(has_text="Event type for every row").locator(
        "input")
    kind.fill("$purchase")
    kind.press("Tab")
    units = page.get_by_role("radiogroup").filter(has_text="Currency units (49.99)")
    expect(units.get_by_role("radio", name="Currency units (49.99)")).to_be_checked()
    expect(page.get_by_text("holds amounts with decimals (like 32.00)", exact=False)
           ).to_be_visible()
    preview_json = page.get_by_test_id("stExpander").filter(has_text="What Bento will receive")
    expect(preview_json).to_contain_text('"amount": 3200')
    expect(preview_json).to_contain_text('"amount": 129900')
    expect(preview_json).to_contain_text('"amount": 1500')

    units.get_by_text("Cents, or the currency's minor units (4999)").click()
    expect_metric(page, "Ready to send", "1")  # 32.00 and 1,299.00 are no cents: errors
    # The problems grid says why, in its (canvas-drawn) cells' text.
    expect(page.get_by_text(re.compile("'32.00' has decimals, but the column is"))
           ).not_to_have_count(0)
    units.get_by_text("Currency units (49.99)").click()
    expect_metric(page, "Ready to send", "3")

    page.get_by_text("Send these 3 events to the sandbox").click()
    page.get_by_role("button", name="Send 3 events").click()
    expect(page.get_by_text("All 3 events were recorded by the sandbox.")).to_be_visible(
        timeout=SEND_TIMEOUT_MS)
    go_to(page, "Sandbox inbox", "Sandbox inbox")
    page.get_by_role("tab", name=re.compile("^JSON of the newest")).click()
    received = json.loads(page.get_by_test_id("stCode").inner_text())["events"]
    sent = {e["email"]: e["details"]["value"] for e in received if e["email"].startswith("shop")}
    assert sent == {
        "shop1@example.com": {"amount": 3200, "currency": "USD"},
        "shop2@example.com": {"amount": 129900, "currency": "USD"},  # usd: upper-cased
        "shop3@example.com": {"amount": 1500, "currency": "JPY"},
    }
    assert_no_traceback(page)


