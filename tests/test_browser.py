"""The real app in a real browser: `streamlit run app.py` driven by Playwright in Chromium.

One app server for the module, a fresh browser context (a new Streamlit session) per
test. Every wait is on something on screen, with a timeout. Streamlit draws its tables
on a canvas; their text is read from the accessible table the grid keeps in the DOM
(`[role=gridcell]`), never from pixels.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_support import (
    SEND_TIMEOUT_MS,
    STEP_TIMEOUT_MS,
    VIEWPORT,
    cells,
    current,
    edit_cell,
    grid_cells,
    launch,
    open_app,
    pick_option,
    preview,
    running_app,
    table_with_column,
)
from browser_support import page_text as text_of
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

pytestmark = pytest.mark.browser

expect.set_options(timeout=STEP_TIMEOUT_MS)

# Rows 2-9 as a spreadsheet numbers them (the header is row 1).
EVENTS_CSV = """\
Email Address,Event,First Name
ada@example.com,webinar_attended,Ada
grace@example.com,webinar_attended,Grace
carol@example,webinar_attended,Carol
dave@example.com,,Dave
,,
linus@example.com,webinar_attended,Linus
ken@example.com,webinar_attended,Ken
barbara@example.com,webinar_attended,Barbara
"""


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(URL, server log) of one app for the module, with its own send-ledger folder."""
    home = tmp_path_factory.mktemp("browser-home")
    log = home / "streamlit.log"
    with running_app(env={"BENTO_UI_HOME": str(home)}, log=log) as url:
        yield url, log


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        try:
            chromium = launch(playwright)
        except RuntimeError as exc:
            problem = str(exc)
        else:
            yield chromium
            chromium.close()
            return
    pytest.fail(problem, pytrace=False)  # CI installs Chromium: missing fails, never skips


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    context.set_default_timeout(STEP_TIMEOUT_MS)
    yield context.new_page()
    context.close()


def assert_no_traceback(page: Page) -> None:
    expect(page.get_by_test_id("stException")).to_have_count(0)
    text = text_of(page)
    assert "Traceback" not in text
    assert "Something unexpected went wrong" not in text


def metric_box(page: Page, label: str) -> Locator:
    """The st.metric with this label drawn by the page's current run (see `current`: a
    summary that moved down the page is there twice for a moment, the new "…" and the
    old count)."""
    return current(page.get_by_test_id("stMetric")).filter(
        has=page.get_by_test_id("stMetricLabel").get_by_text(label, exact=True))


def metric(page: Page, label: str) -> str:
    """The value of the st.metric with this label."""
    return metric_box(page, label).get_by_test_id("stMetricValue").inner_text().strip()


def expect_metric(page: Page, label: str, value: str) -> None:
    expect(metric_box(page, label).get_by_test_id("stMetricValue")).to_have_text(value)


def go_to(page: Page, link: str, heading: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=link).click()
    expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()


def test_compose_and_send_one_event_to_the_sandbox(app: tuple[str, Path], page: Page) -> None:
    url, _ = app
    open_app(page, url, "Compose events")
    expect(page.get_by_text("Sandbox (practice)")).to_be_visible()

    name = page.get_by_role("textbox", name="Event name", exact=True)
    name.fill("webinar_attended")
    name.press("Tab")
    email = page.get_by_role("textbox", name="Email", exact=True)
    email.fill("ada.compose@example.com")
    email.press("Tab")
    json_preview = preview(page)
    expect(json_preview).to_contain_text('"ada.compose@example.com"')

    fields = page.get_by_test_id("stDataFrame").first  # the Fields editor, under Email
    edit_cell(page, fields, 0, 0.3, "first_name")
    edit_cell(page, fields, 0, 0.8, "Ada")
    expect(json_preview).to_contain_text('"first_name": "Ada"')
    assert cells(fields)[:2] == ["first_name", "Ada"]

    page.get_by_role("button", name="Add to outbox").click()
    expect(page.get_by_text("Added to the outbox as #1.")).to_be_visible()
    expect(page.get_by_text("1 event in the outbox.")).to_be_visible()
    outbox = page.get_by_test_id("stDataFrame").filter(has_text="ada.compose@example.com")
    expect(outbox).to_have_count(1)

    send = page.get_by_role("button", name="Send 1 event")
    expect(send).to_be_disabled()  # nothing goes before the confirmation
    page.get_by_text("Send this event to the sandbox (nothing leaves this computer).").click()
    expect(send).to_be_enabled()
    send.click()

    expect(page.get_by_text("The event was recorded by the sandbox.")).to_be_visible(
        timeout=SEND_TIMEOUT_MS)
    expect(page.get_by_text("Done: 1 batch: 1 accepted.")).to_be_visible()
    expect_metric(page, "Events in", "1")
    expect_metric(page, "Recorded", "1")
    expect_metric(page, "Failed", "0")
    report = table_with_column(page, "state")
    expect(grid_cells(report, "accepted")).to_have_count(1)
    row = cells(report)  # batch, outbox entries, events, recorded, failed, state, message
    assert row[:6] == ["1", "1", "1", "1", "0", "accepted"], row
    assert_no_traceback(page)

    go_to(page, "Sandbox inbox", "Sandbox inbox")
    inbox = table_with_column(page, "email")
    expect(grid_cells(inbox, "ada.compose@example.com")).to_have_count(1)
    received = cells(inbox)
    where = received.index("ada.compose@example.com")
    assert received[where - 1] == "webinar_attended"
    assert '{"first_name": "Ada"}' in received
    assert int(metric(page, "Events received")) >= 1
    assert_no_traceback(page)


def choose(page: Page, label: str, option: str) -> None:
    """Pick an option of an st.selectbox as a person does: open it, type, click the option."""
    box = page.get_by_test_id("stSelectbox").filter(has_text=label)
    pick_option(page, box, option, typed=True)
    expect(box.get_by_role("combobox")).to_have_value(re.compile(re.escape(option)))


def outbox_json(page: Page) -> list[dict[str, object]]:
    """The events of Compose's outbox, from its "exactly what is sent" tab."""
    page.get_by_role("tab", name="JSON (exactly what is sent)").click()
    code = page.get_by_role("tabpanel").filter(has=page.get_by_test_id("stCode")).last
    events: list[dict[str, object]] = json.loads(code.get_by_test_id("stCode").inner_text())[
        "events"]
    return events


def test_compose_adds_what_was_typed_just_before_the_click(
    app: tuple[str, Path], page: Page
) -> None:
    url, _ = app
    open_app(page, url, "Compose events")
    # Typed, then Add clicked at once: no Tab, no Enter, nothing waited for in between.
    page.get_by_role("textbox", name="Event name", exact=True).press_sequentially(
        "webinar_attended")
    page.get_by_role("textbox", name="Email", exact=True).press_sequentially(
        "ada.click@example.com")
    page.get_by_role("button", name="Add to outbox").click()
    expect(page.get_by_text("Added to the outbox as #1.")).to_be_visible()
    assert outbox_json(page) == [{"type": "webinar_attended", "email": "ada.click@example.com"}]

    choose(page, "Event type", "$tag")
    # The form is drawn again for the new kind (a loaded machine shows the old one greyed
    # beside it for a moment): once it has its Tag field, its fields are used, as a
    # person does.
    tag = current(page.get_by_role("textbox", name="Tag", exact=True))
    expect(tag).to_be_visible()
    current(page.get_by_role("textbox", name="Email", exact=True)).press_sequentially(
        "grace.click@example.com")
    tag.press_sequentially("vip")
    current(page.get_by_role("button", name="Add to outbox")).click()
    expect(page.get_by_text("Added to the outbox as #2.")).to_be_visible()
    assert outbox_json(page)[1] == {"type": "$tag", "email": "grace.click@example.com",
                                    "details": {"tag": "vip"}}

    choose(page, "Entry", "#2")
    current(page.get_by_role("button", name="Edit", exact=True)).click()  # enabled once picked
    expect(tag).to_have_value("vip")
    tag.fill("")
    tag.press_sequentially("newsletter")
    current(page.get_by_role("button", name="Save changes to #2")).click()
    expect(page.get_by_text("Entry #2 was updated.")).to_be_visible()
    assert outbox_json(page) == [
        {"type": "webinar_attended", "email": "ada.click@example.com"},
        {"type": "$tag", "email": "grace.click@example.com", "details": {"tag": "newsletter"}},
    ]
    assert_no_traceback(page)


# Six rows at 14:00-14:05 without a zone: read in New York (UTC-5 in November).
# Each page of the navigation and its title. A page added to the app without an entry
# here fails below with its name, so that it gets visited too.
PAGES = {
    "Compose": "Compose events",
    "Upload a spreadsheet": "Upload a spreadsheet",
    "Send history": "Send history",
    "Sandbox inbox": "Sandbox inbox",
}


def test_no_traceback_on_any_page(app: tuple[str, Path], page: Page) -> None:
    url, log = app
    open_app(page, url, "Compose events")
    links = page.get_by_test_id("stSidebarNav").get_by_role("link")
    expect(links.first).to_be_visible()
    names = [text.strip().splitlines()[-1] for text in links.all_inner_texts()]  # no icon
    assert set(names) == set(PAGES), f"pages in the navigation: {names}"
    for name in names:
        go_to(page, name, PAGES[name])
        assert_no_traceback(page)
    # Nor in the server's log, after everything the tests above did in this app.
    assert "Traceback" not in log.read_text(encoding="utf-8", errors="replace")
