"""The notebook composer in JupyterLab, in Debian's Chromium: the example notebook runs,
a CSV goes in through the widget's file input, Send, and the per-batch table shows.

JupyterLab is started by the test (`jupyter lab --no-browser`, a free port, a token of
its own) on a temporary folder holding a copy of examples/composer.ipynb.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_support import ROOT, VIEWPORT, launch, running_jupyter_lab
from playwright.sync_api import Locator, Page, expect, sync_playwright

pytestmark = pytest.mark.browser

LAB_TIMEOUT_MS = 60_000  # the Lab's first load and the kernel's start
SEND_TIMEOUT_MS = 30_000
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


def run_all_cells(page: Page) -> Locator:
    """Run the notebook from the Run menu; the composer once it is drawn."""
    expect(page.locator(".jp-Notebook")).to_be_visible(timeout=LAB_TIMEOUT_MS)
    # JupyterLab may ask which kernel to use although the notebook names it: take it.
    choose = page.get_by_role("dialog").get_by_role("button", name="Select Kernel")
    idle = page.get_by_role("button", name=re.compile(r"Python 3 \(ipykernel\) \| Idle"))
    expect(choose.or_(idle).first).to_be_visible(timeout=LAB_TIMEOUT_MS)
    if choose.is_visible():
        choose.click()
    expect(idle).to_be_visible(timeout=LAB_TIMEOUT_MS)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name=re.compile(r"^Run All Cells")).click()
    composer = page.locator(".jp-OutputArea-output").filter(has_text="Bento event composer")
    expect(composer).to_be_visible(timeout=LAB_TIMEOUT_MS)
    return composer


def upload_and_send(page: Page, composer: Locator, path: Path) -> None:
    with page.expect_file_chooser(timeout=SEND_TIMEOUT_MS) as chooser:
        composer.locator(".widget-upload").click()
    chooser.value.set_files(path)
    expect(composer.get_by_text(re.compile(rf"^{re.escape(path.name)}: \d+ rows"))).to_be_visible(
        timeout=SEND_TIMEOUT_MS)
    confirm = composer.locator(".widget-checkbox").filter(has_text="to the sandbox")
    confirm.locator("input[type=checkbox]").check()
    send = composer.locator("button").filter(has_text=re.compile(r"^\s*Send \d+ events?\s*$"))
    expect(send).to_be_enabled(timeout=SEND_TIMEOUT_MS)
    send.click()
    table = composer.locator(".bento-table").filter(has_text="accepted")
    expect(table).to_be_visible(timeout=SEND_TIMEOUT_MS)


def test_the_composer_runs_in_jupyterlab_and_sends_an_uploaded_file(lab_page: Page) -> None:
    composer = run_all_cells(lab_page)
    expect(composer.get_by_text("Events go to the sandbox")).to_be_visible()
    upload_and_send(lab_page, composer, ATTENDEES)
    batches = composer.locator(".bento-table").filter(has_text="accepted")
    expect(batches).to_contain_text("2-3, 8")  # the valid rows, as the sheet numbers them
    expect(composer).to_contain_text("3 recorded")
    expect(composer).to_contain_text("inbox holds 3 events")
