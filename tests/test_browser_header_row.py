"""The header row picker in a real browser: a title above the column names, the person
picks the row that holds them, and the problems keep the file's own row numbers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_support import (
    START_TIMEOUT_MS,
    STEP_TIMEOUT_MS,
    VIEWPORT,
    cells,
    grid_cells,
    launch,
    open_app,
    pick_option,
    running_app,
    table_with_column,
    until_idle,
)
from playwright.sync_api import Page, expect, sync_playwright

pytestmark = pytest.mark.browser

TITLED = ('"Webinar attendees, exported 2024-01-05"\n\nEmail,Event,First Name\n'
          "ann@example.com,signup,Ann\nbo@,signup,Bo\n")  # fmt: skip


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    with running_app(env={"BENTO_UI_HOME": str(tmp_path / "home")}) as url, \
            sync_playwright() as playwright:  # fmt: skip
        browser = launch(playwright)
        context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
        context.set_default_timeout(STEP_TIMEOUT_MS)
        page = context.new_page()
        page.app_url = url  # type: ignore[attr-defined]
        yield page
        browser.close()


def test_the_header_row_is_picked_from_the_first_rows(page: Page, tmp_path: Path) -> None:
    path = tmp_path / "titled.csv"
    path.write_text(TITLED, encoding="utf-8")
    open_app(page, f"{page.app_url}/upload", "Upload a spreadsheet")  # type: ignore[attr-defined]
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(path)
    expect(page.get_by_text("Which row holds the column names?", exact=True)).to_be_visible(
        timeout=START_TIMEOUT_MS)
    expect(page.get_by_test_id("stAlert").filter(
        has_text="Row 3 looks like the column names")).to_be_visible()

    until_idle(page)  # a dropdown opened during a run closes when the run redraws it
    picker = page.get_by_test_id("stSelectbox").filter(has_text="Row with the column names")
    pick_option(page, picker, "Row 3: Email, Event, First Name")

    problems = table_with_column(page, "severity")
    expect(grid_cells(problems, "bo@")).to_have_count(1)
    assert cells(problems)[:4] == ["5", "Email", "bo@", "error"]  # the file's row 5
    mapping = table_with_column(page, "goes to")
    expect(grid_cells(mapping, "First Name")).to_have_count(1)
    expect(page.get_by_test_id("stException")).to_have_count(0)
