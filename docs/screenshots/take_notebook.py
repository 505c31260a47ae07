"""Take the README's screenshot of the notebook composer in JupyterLab:
`.venv/bin/python docs/screenshots/take_notebook.py`.

Starts JupyterLab on a temporary copy of examples/composer.ipynb (tests/browser_support.py),
runs it in Debian's Chromium, uploads examples/attendees.csv through the widget, sends
it to the sandbox and writes notebook_composer.png next to this file.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from browser_support import launch, run_all_cells, running_jupyter_lab, upload_and_send  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bento-shot-") as tmp:
        folder = Path(tmp)
        shutil.copy(ROOT / "examples" / "composer.ipynb", folder)
        with running_jupyter_lab(folder) as (url, token), sync_playwright() as playwright:
            browser = launch(playwright)
            # Tall enough that the whole widget is drawn: the notebook scrolls inside.
            page = browser.new_page(viewport={"width": 1200, "height": 3200})
            page.goto(f"{url}/lab/tree/composer.ipynb?token={token}")
            composer = run_all_cells(page)
            upload_and_send(page, composer, ROOT / "examples" / "attendees.csv")
            page.wait_for_timeout(500)  # the last redraw of the inbox count
            composer.screenshot(path=HERE / "notebook_composer.png")
            browser.close()
    print(HERE / "notebook_composer.png")


if __name__ == "__main__":
    main()
