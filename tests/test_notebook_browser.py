"""The notebook composer in JupyterLab, in Debian's Chromium: the example notebook runs,
a CSV goes in through the widget's file input, Send, and the per-batch table shows.

JupyterLab is started by the test (`jupyter lab --no-browser`, a free port, a token of
its own) on a temporary folder holding a copy of examples/composer.ipynb.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_support import (
    ROOT,
    VIEWPORT,
    launch,
    run_all_cells,
    running_jupyter_lab,
    upload_and_send,
)
from playwright.sync_api import Page, expect, sync_playwright

pytestmark = pytest.mark.browser

ATTENDEES = ROOT / "examples" / "attendees.csv"


@pytest.fixture
def lab_page(tmp_path: Path) -> Iterator[Page]:
    folder = tmp_path / "lab"
    folder.mkdir()
    shutil.copy(ROOT / "examples" / "composer.ipynb", folder)
    with running_jupyter_lab(folder, log=tmp_path / "jupyter.log") as (url, token), \
            sync_playwright() as playwright:  # fmt: skip
        browser = launch(playwright)
        page = browser.new_page(viewport=VIEWPORT)  # type: ignore[arg-type]
        try:
            page.goto(f"{url}/lab/tree/composer.ipynb?token={token}")
            yield page
        finally:
            browser.close()


def test_the_composer_runs_in_jupyterlab_and_sends_an_uploaded_file(lab_page: Page) -> None:
    composer = run_all_cells(lab_page)
    expect(composer.get_by_text("Events go to the sandbox")).to_be_visible()
    upload_and_send(lab_page, composer, ATTENDEES)
    batches = composer.locator(".bento-table").filter(has_text="accepted")
    expect(batches).to_contain_text("2-3, 8")  # the valid rows, as the sheet numbers them
    expect(composer).to_contain_text("3 recorded")
    expect(composer).to_contain_text("inbox holds 3 events")
