"""What the app tests share: starting the app, reading the screen, uploading files.

Every app test starts the real `app.py` (st.navigation and the connection sidebar
included) with Streamlit's AppTest, sends to the process-wide sandbox (reset around each
test) and never sees credentials from the machine it runs on: BENTO_* variables are
removed (but for BENTO_UI_HOME: each test has its own send ledger, see conftest.py) and
st.secrets is replaced by a harmless placeholder unless a test gives its own. The app is
taken to be served on 127.0.0.1, as `make run` serves it (`serve_on` changes that).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit import config
from streamlit.testing.v1 import AppTest

from bento_ui import sandbox

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"
PAGES = {"compose": "app_pages/compose.py", "upload": "app_pages/upload.py",
         "history": "app_pages/history.py", "inbox": "app_pages/sandbox_inbox.py"}
NO_SECRETS = {"APP_TEST": "no Bento keys here"}


def isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A fresh sandbox and no BENTO_* variables for one app test.

    Each app test module turns this into an autouse fixture:
    `yield from isolated(monkeypatch)`.
    """
    for name in list(os.environ):
        if name.startswith("BENTO_") and name != "BENTO_UI_HOME":
            monkeypatch.delenv(name)
    sandbox().reset()
    with serve_on("127.0.0.1"):
        yield
    sandbox().reset()


@contextlib.contextmanager
def serve_on(address: str | None) -> Iterator[None]:
    """The app as if served on `address` (None: Streamlit's default, every interface)."""
    before = config.get_option("server.address")
    config.set_option("server.address", address)
    try:
        yield
    finally:
        config.set_option("server.address", before)


def open_app(page: str = "compose", secrets: dict[str, Any] | None = None) -> AppTest:
    """The app, run once and switched to `page` (compose, upload or inbox)."""
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.secrets = dict(secrets if secrets is not None else NO_SECRETS)
    at.run()
    if page != "compose":
        at.switch_page(PAGES[page]).run()
    assert not at.exception, at.exception
    return at


def screen_text(at: AppTest) -> str:
    """Everything on screen, main area and sidebar: each element's protobuf text (labels,
    help, table cells, code, markdown) and each widget's current value.
    """
    parts = []
    for root in (at.main, at.sidebar):
        for node in root:
            proto = getattr(node, "proto", None)
            if proto is not None:
                parts.append(str(proto))
            if getattr(node, "key", None) is not None or hasattr(node, "_value"):
                with contextlib.suppress(Exception):  # elements without a readable value
                    parts.append(str(node.value))
    return "\n".join(parts)


def texts(elements: Any) -> list[str]:
    """The `.value` of every element of a list (errors, warnings, markdown, ...)."""
    return [str(e.value) for e in elements]


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def upload(at: AppTest, name: str, data: bytes, mime: str = "text/csv") -> AppTest:
    at.file_uploader(key="upload_file").set_value((name, data, mime))
    at.run()
    assert not at.exception, at.exception
    return at


def edit_data_editor(at: AppTest, key: str, edited_rows: dict[int, dict[str, Any]]) -> AppTest:
    """Type into a data editor the way the browser reports it, then rerun."""
    at.session_state[key] = {"edited_rows": edited_rows, "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.exception, at.exception
    return at


def no_errors_on_screen(at: AppTest) -> None:
    assert not at.exception, at.exception
    assert not [e for e in texts(at.error) if "unexpected" in e.lower()]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from isolated(monkeypatch)


def test_screen_text_sees_widget_values() -> None:
    at = open_app()
    at.text_input(key="compose_email").input("someone@example.com").run()
    assert "someone@example.com" in screen_text(at)


def test_open_every_page_without_errors() -> None:
    for page in PAGES:
        at = open_app(page)
        no_errors_on_screen(at)
        assert at.title[0].value
