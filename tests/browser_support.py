"""Start the real app with `streamlit run` and drive it in Debian's Chromium.

Shared by tests/test_browser.py and docs/screenshots/take.py: `running_app()` serves the
app, `launch()` starts Chromium (a clear error when it is missing), and a few helpers
do what Streamlit's canvas-drawn tables and inner scroll container make awkward.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page, Playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
# The machine has no network but the package registries: keep Chromium from trying.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 1000}
START_TIMEOUT_MS = 30_000  # first page load: the app imports pandas and friends


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_app(
    env: dict[str, str] | None = None, timeout: float = 60, log: Path | None = None
) -> Iterator[str]:
    """The app served on a free port of 127.0.0.1; yields its URL.

    The server's output goes to `log` (a temporary file when not given), never to an
    unread pipe that would block the server once full; it is shown if the app does
    not start.
    """
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BENTO_")}
    with tempfile.TemporaryDirectory(prefix="bento-app-") as tmp:
        # Its own user data folder (ledger, remembered mappings): never the person's.
        clean["BENTO_UI_HOME"] = str(Path(tmp) / "home")
        log_path = log or Path(tmp) / "streamlit.log"
        with open(log_path, "w", encoding="utf-8") as out:
            proc = subprocess.Popen(
                [
                    sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
                    "--server.headless", "true", "--server.address", "127.0.0.1",
                    "--server.port", str(port), "--browser.gatherUsageStats", "false",
                    # No file watcher: an edit to bento_ui/ during a run would reload the
                    # library and with it start a new, empty sandbox.
                    "--server.fileWatcherType", "none",
                ],
                cwd=ROOT, env=clean | (env or {}), stdout=out, stderr=subprocess.STDOUT,
                text=True,
            )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        with _served(proc, f"{url}/_stcore/health", "the app", log_path, timeout, stop=10):
            yield url


@contextmanager
def _served(
    proc: subprocess.Popen[str], ready: str, what: str, log_path: Path, timeout: float,
    stop: float,
) -> Iterator[None]:
    """Wait until `ready` answers (or say why `what` did not start, with its output),
    then, when done, stop the server (killed if it does not stop within `stop` seconds)."""
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(ready, timeout=2):
                    break  # an answer of 2xx: urlopen raises for the others
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                output = log_path.read_text(encoding="utf-8", errors="replace")
                raise RuntimeError(f"{what} did not start:\n{output}")
            time.sleep(0.3)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=stop)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def launch(playwright: Playwright) -> Browser:
    """Debian's Chromium, driven by Playwright; a clear error when it is not installed."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError(
            f"{CHROMIUM} is missing: the browser tests need Debian's Chromium "
            "(apt-get install chromium); Playwright's own browsers are not used."
        )
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def open_app(page: Page, url: str, heading: str) -> None:
    """Load a page of the app and wait until its title is drawn."""
    from playwright.sync_api import expect

    page.goto(url)
    expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible(
        timeout=START_TIMEOUT_MS)


# What Streamlit marks, greyed out, as drawn by the run before while the page runs again.
STALE = '[data-stale="true"]'


def until_idle(page: Page) -> None:
    """Wait, as a person does, until the app has finished its run: no "Running..." icon
    and no greyed-out element of the run before (a click on one may do nothing)."""
    from playwright.sync_api import expect

    expect(page.get_by_test_id("stStatusWidgetRunningIcon")).to_have_count(
        0, timeout=STEP_TIMEOUT_MS)
    expect(page.locator(STALE)).to_have_count(0, timeout=STEP_TIMEOUT_MS)


def current(locator: Locator) -> Locator:
    """`locator` among what the page's current run drew. While the page runs again, what
    the run before drew stays on screen, greyed out (`data-stale`) until it is drawn anew,
    and an element that moved is there twice for a moment: a click then finds two (a test
    run found two "Add to outbox" buttons once, and CI two "With errors" metrics). This waits
    for the new one instead."""
    return locator.and_(locator.page.locator(f":not({STALE} *)"))


def pick_option(page: Page, box: Locator, option: str, *, typed: bool = False) -> None:
    """Open an st.selectbox (`box`) and click `option`, as a person does; `typed`: type
    the option's name first, to narrow a long list. When the list closes before the
    option is clicked (the page redrew the box at that moment; or, in an expander just
    opened, the list shut by itself a moment after it opened: both happened in CI), wait
    for the page and open it again."""
    from playwright.sync_api import Error

    choice = page.get_by_role("option", name=option).first
    for attempt in range(3):
        box.get_by_role("combobox").click()
        if typed:
            page.keyboard.press("ControlOrMeta+A")  # what an earlier try typed goes
            page.keyboard.type(option)
        try:
            choice.click(timeout=5_000)
            return
        except Error:
            if attempt == 2:
                raise
            until_idle(page)


def edit_cell(page: Page, grid: Locator, row: int, x: float, text: str) -> None:
    """Type `text` into a cell of an st.data_editor (a canvas: no DOM cell to click).

    `row` counts data rows from 0; `x` is where the column is, as a fraction of the
    grid's width. A click selects the cell, Enter opens its editor, Enter saves it; then
    the cell must show `text` in the grid's accessible table. A rerun of the page can
    swallow a click or close the editor: then it is tried again.
    """
    from playwright.sync_api import Error, expect

    canvas = grid.get_by_test_id("data-grid-canvas")
    editor = page.locator("#portal textarea.gdg-input")
    saved = grid.locator(f"[role=row][aria-rowindex='{row + 2}'] [role=gridcell]").filter(
        has_text=exactly(text))
    header, height = 36, 35  # Streamlit's header and row heights, in CSS pixels
    for _ in range(5):
        try:
            canvas.scroll_into_view_if_needed()
            canvas.focus()  # a click alone may leave the keys with the grid used last
            box = canvas.bounding_box()
            assert box is not None, "the data editor is not drawn"
            page.mouse.click(box["x"] + box["width"] * x,
                             box["y"] + header + height * (row + 0.5))
            page.keyboard.press("Enter")
            expect(editor).to_be_visible(timeout=2_000)
            opened = editor.bounding_box()
            inside = opened is not None and box["y"] <= opened["y"] <= box["y"] + box["height"]
            assert inside, "the editor opened on another grid"
            editor.fill(text, timeout=2_000)
            editor.press("Enter", timeout=2_000)
            expect(saved).to_have_count(1, timeout=3_000)
            return
        except (AssertionError, Error):
            if editor.is_visible():
                page.keyboard.press("Escape")  # leave the editor without saving
    raise AssertionError(f"could not type {text!r} into row {row} of the data editor")


def preview(page: Page) -> Locator:
    """Compose's "What Bento will receive" JSON."""
    column = page.get_by_test_id("stColumn").filter(
        has=page.get_by_role("heading", name="What Bento will receive"))
    return column.get_by_test_id("stCode")


def exactly(text: str) -> re.Pattern[str]:
    return re.compile(rf"^\s*{re.escape(text)}\s*$")


def table_with_column(page: Page, column: str) -> Locator:
    """The st.dataframe / st.data_editor that has a column with this header.

    The grid's accessible table sits inside its <canvas>, which Playwright's role
    selectors do not enter: plain [role=...] selectors do.
    """
    header = page.locator("[role=columnheader]").filter(has_text=exactly(column))
    return page.get_by_test_id("stDataFrame").filter(has=header)


def grid_cells(grid: Locator, text: str) -> Locator:
    """The cells of a table whose whole text is `text`."""
    return grid.locator("[role=gridcell]").filter(has_text=exactly(text))


def cells(grid: Locator) -> list[str]:
    """The text of a table's cells, from the accessible table the canvas grid keeps.

    Only the rows and columns in view are in it: enough for a small table.
    """
    return [t.strip() for t in grid.locator("[role=gridcell]").all_inner_texts()]


def page_text(page: Page) -> str:
    return page.locator("body").inner_text()


def fit_to_content(page: Page, width: int = VIEWPORT["width"]) -> None:
    """Make the window as tall as the page, so a screenshot shows all of it.

    Streamlit scrolls inside its <main>, so Playwright's full_page sees one screen.
    """
    for _ in range(5):
        height: Any = page.evaluate(
            "() => document.querySelector('[data-testid=stMain]').scrollHeight")
        if height == page.viewport_size["height"]:  # type: ignore[index]
            return
        page.set_viewport_size({"width": width, "height": max(int(height), 600)})
        page.wait_for_timeout(400)  # a tiny settle: the layout follows the new height


# ---------------------------------------------------------------- JupyterLab


@contextmanager
def running_jupyter_lab(
    root: Path, env: dict[str, str] | None = None, timeout: float = 90, log: Path | None = None
) -> Iterator[tuple[str, str]]:
    """`jupyter lab --no-browser` serving `root` on a free port of 127.0.0.1, with a token
    of its own and its own config, runtime and IPython folders (nothing of the user's is
    read or written); yields its URL and its token.

    The kernel it starts runs this Python with the worktree first on the path.
    """
    port = free_port()
    token = secrets.token_hex(16)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("BENTO_", "JUPYTER"))}
    with tempfile.TemporaryDirectory(prefix="bento-lab-") as tmp:
        home = Path(tmp)
        log_path = log or home / "jupyter.log"
        folders = {"JUPYTER_CONFIG_DIR": home / "config", "JUPYTER_RUNTIME_DIR": home / "run",
                   "IPYTHONDIR": home / "ipython"}  # fmt: skip
        for folder in folders.values():
            folder.mkdir()
        path = os.pathsep.join(p for p in (str(ROOT), clean.get("PYTHONPATH", "")) if p)
        lab_env = clean | {k: str(v) for k, v in folders.items()} | {"PYTHONPATH": path}
        lab_env["BENTO_UI_HOME"] = str(home / "bento-ui")  # never the person's ledger
        with open(log_path, "w", encoding="utf-8") as out:
            proc = subprocess.Popen(
                [
                    sys.executable, "-m", "jupyter", "lab", "--no-browser",
                    "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
                    "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
                    f"--ServerApp.root_dir={root}", "--ServerApp.terminals_enabled=False",
                    # No network: no news, no update checks, no extension listings.
                    "--LabApp.news_url=", "--LabApp.check_for_updates_class="
                    "jupyterlab.NeverCheckForUpdate",
                    "--LabServerApp.extension_manager=readonly",
                    # CI runs as root in a throwaway container.
                    *(["--allow-root"] if os.geteuid() == 0 else []),
                ],
                cwd=root, env=lab_env | (env or {}), stdout=out, stderr=subprocess.STDOUT,
                text=True,
            )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        ready = f"{url}/api/status?token={token}"
        with _served(proc, ready, "JupyterLab", log_path, timeout, stop=15):
            yield url, token


LAB_TIMEOUT_MS = 60_000  # the Lab's first load and the kernel's start
SEND_TIMEOUT_MS = 30_000
# Every other wait for something on screen. Generous: on a busy 2-core machine a rerun of
# the app can take several seconds, and waiting longer costs nothing when it is quick.
STEP_TIMEOUT_MS = 20_000


def run_all_cells(page: Page) -> Locator:
    """Run the open notebook from the Run menu; the composer's output once it is drawn."""
    from playwright.sync_api import expect

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
    """Choose `path` with the composer's upload button, tick, Send; wait for the table."""
    from playwright.sync_api import expect

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
