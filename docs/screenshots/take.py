"""Take the README's screenshots of the app: `.venv/bin/python docs/screenshots/take.py`.

Starts the real app (tests/browser_support.py), drives one session through Compose,
Upload, the Sandbox inbox and the Send history in Debian's Chromium, and writes the PNGs
next to this file.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from browser_support import (  # noqa: E402
    VIEWPORT,
    edit_cell,
    fit_to_content,
    launch,
    open_app,
    preview,
    running_app,
    table_with_column,
)
from playwright.sync_api import Locator, Page, expect, sync_playwright  # noqa: E402

WIDTH = VIEWPORT["width"]
SEND_TIMEOUT_MS = 20_000


def settle(page: Page) -> None:
    """Wait until Streamlit has finished running the script, then a moment for drawing."""
    expect(page.get_by_test_id("stStatusWidget")).to_be_hidden(timeout=SEND_TIMEOUT_MS)
    page.wait_for_timeout(700)


def top_of(element: Locator) -> float:
    box = element.bounding_box()
    assert box is not None, f"{element} is not on the page"
    return float(box["y"])


def bottom_of(element: Locator) -> float:
    box = element.bounding_box()
    assert box is not None, f"{element} is not on the page"
    return float(box["y"] + box["height"])


def shoot(page: Page, name: str, start: Locator | None = None, end: Locator | None = None,
          last: Locator | None = None) -> None:
    """The whole page, or from `start` down to just above `end` / just below `last`."""
    page.mouse.move(1, 1)  # no hover toolbar over a table
    page.locator("body").evaluate("() => document.activeElement?.blur()")  # no focus ring
    fit_to_content(page)
    settle(page)
    size = page.viewport_size
    assert size is not None
    top = 0.0 if start is None else max(0.0, top_of(start) - 16)
    bottom = float(size["height"])
    if end is not None:
        bottom = top_of(end) - 8
    elif last is not None:
        bottom = bottom_of(last) + 32
    path = HERE / name
    page.screenshot(path=path, clip={"x": 0, "y": top, "width": WIDTH, "height": bottom - top})
    page.set_viewport_size(VIEWPORT)  # type: ignore[arg-type]
    print(f"{path.relative_to(ROOT)}: {path.stat().st_size // 1024} KB")


def show_sidebar(page: Page, shown: bool) -> None:
    """Fold the sidebar away for pages whose tables need the whole width, or unfold it."""
    sidebar = page.get_by_test_id("stSidebar")
    if shown:
        page.get_by_test_id("stExpandSidebarButton").click()
        expect(sidebar).to_have_attribute("data-collapsed", "false")
    else:
        sidebar.hover()
        page.get_by_test_id("stSidebarCollapseButton").get_by_role("button").click()
        expect(sidebar).to_have_attribute("data-collapsed", "true")
    # Tables size their columns while the sidebar slides; a resize after it has settled
    # sizes them again for the final width.
    page.wait_for_timeout(600)
    page.set_viewport_size({"width": WIDTH - 100, "height": VIEWPORT["height"]})
    page.wait_for_timeout(300)
    page.set_viewport_size(VIEWPORT)  # type: ignore[arg-type]


def heading(page: Page, text: str) -> Locator:
    return page.get_by_role("heading", name=text, exact=True)


def compose_event(page: Page, email: str, first_name: str, webinar: str) -> None:
    box = page.get_by_role("textbox", name="Email", exact=True)
    box.fill(email)
    box.press("Tab")
    json_preview = preview(page)
    expect(json_preview).to_contain_text(email)
    fields, details = page.get_by_test_id("stDataFrame").all()[:2]
    edit_cell(page, fields, 0, 0.3, "first_name")
    edit_cell(page, fields, 0, 0.8, first_name)
    edit_cell(page, details, 0, 0.3, "webinar")
    edit_cell(page, details, 0, 0.8, webinar)
    expect(json_preview).to_contain_text(webinar)
    for grid in (fields, details):  # no selected cell in the picture
        grid.get_by_test_id("data-grid-canvas").focus()
        page.keyboard.press("Escape")


def compose(page: Page, url: str) -> None:
    open_app(page, url, "Compose events")
    name = page.get_by_role("textbox", name="Event name", exact=True)
    name.fill("webinar_attended")
    name.press("Tab")
    compose_event(page, "grace@example.com", "Grace", "Bento 101")
    page.get_by_role("button", name="Add to outbox").click()
    expect(page.get_by_text("Added to the outbox as #1.")).to_be_visible()
    compose_event(page, "ada@example.com", "Ada", "Bento 101")
    shoot(page, "compose.png", end=heading(page, "Outbox"))

    page.get_by_role("button", name="Add to outbox").click()
    expect(page.get_by_text("Added to the outbox as #2.")).to_be_visible()
    expect(page.get_by_text("2 events in the outbox.")).to_be_visible()
    page.get_by_text("Send these 2 events to the sandbox").click()
    page.get_by_role("button", name="Send 2 events").click()
    expect(page.get_by_text("All 2 events were recorded by the sandbox.")).to_be_visible(
        timeout=SEND_TIMEOUT_MS)
    shoot(page, "compose_sent.png", start=heading(page, "Outbox"),
          last=page.get_by_role("button", name="Start over"))


def upload(page: Page) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Upload a spreadsheet").click()
    expect(heading(page, "Upload a spreadsheet")).to_be_visible()
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
        ROOT / "examples" / "attendees.csv")
    expect(page.get_by_text("attendees.csv: 7 rows, 5 columns.")).to_be_visible()
    default_type = page.get_by_role(
        "textbox", name="Event type for rows whose type cell is empty", exact=True)
    default_type.fill("webinar_attended")
    default_type.press("Enter")
    expect(page.get_by_text("Send only the 4 valid rows now")).to_be_visible()
    expect(table_with_column(page, "severity")).to_be_visible()
    show_sidebar(page, False)  # the problems' messages are long: the whole width for them
    shoot(page, "upload_problems.png", end=heading(page, "3. Fix rows in place"))
    show_sidebar(page, True)

    page.get_by_text("Send only the 4 valid rows now").click()
    size = page.get_by_role("spinbutton", name="Batch size (events per request)")
    size.fill("2")
    size.press("Enter")
    expect(page.get_by_text("4 events in 2 batches of up to 2.")).to_be_visible()
    page.get_by_text("Send these 4 events to the sandbox").click()
    page.get_by_role("button", name="Send 4 events").click()
    expect(page.get_by_text("All 4 events were recorded by the sandbox.")).to_be_visible(
        timeout=SEND_TIMEOUT_MS)
    shoot(page, "upload_sent.png", start=heading(page, "4. Send"),
          last=page.get_by_role("button", name="Start over"))


def inbox(page: Page) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Sandbox inbox").click()
    expect(heading(page, "Sandbox inbox")).to_be_visible()
    expect(table_with_column(page, "email")).to_be_visible()
    show_sidebar(page, False)  # six columns of events: the whole width for them
    shoot(page, "inbox.png", last=page.get_by_text("Practice failures"))


def history(page: Page) -> None:
    show_sidebar(page, True)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Send history").click()
    expect(heading(page, "Send history")).to_be_visible()
    expect(page.get_by_text("Run ", exact=False).first).to_be_visible()
    shoot(page, "history.png")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bento-shots-") as home, \
            running_app(env={"BENTO_UI_HOME": home}) as url, sync_playwright() as playwright:
        browser = launch(playwright)
        context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
        context.set_default_timeout(15_000)
        expect.set_options(timeout=15_000)
        page = context.new_page()
        try:
            compose(page, url)
            upload(page)
            inbox(page)
            history(page)
        except Exception:
            failure = Path(tempfile.gettempdir()) / "bento-screenshots-failure.png"
            page.screenshot(path=failure)
            print(f"Failed: the page at that moment is in {failure}", file=sys.stderr)
            raise
        finally:
            browser.close()


if __name__ == "__main__":
    main()
