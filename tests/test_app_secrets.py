"""A known secret key, used by the app for real sends, is found nowhere afterwards.

Live-style keys (from the environment, or typed in the sidebar) point at an emulator
that only accepts that secret. After sends (a refused one included) the secret and the
publishable key must not be on any page, in the send ledger's files, in the per-batch
and history CSVs, or in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from test_app_helpers import isolated, no_errors_on_screen, open_app, screen_text, texts, upload
from test_app_upload import ATTENDEES

from bento_ui import Emulator
from bento_ui.ledger import Ledger, batches_frame, runs_frame
from ui.logic import csv_bytes

SECRET = "sk_known_secret_3f9a7c1e5b2d4068"
PUBLISHABLE = "pk_known_publishable_8e6d4c2a"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from isolated(monkeypatch)


@pytest.fixture
def bento() -> Iterator[Emulator]:
    with Emulator(secret_key=SECRET, publishable_key=PUBLISHABLE) as emulator:
        yield emulator


def nowhere(at: AppTest, home: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Neither key on screen, in any file of the bento-ui folder, in a CSV, in the log."""
    no_errors_on_screen(at)
    shown = screen_text(at)
    files = {p: p.read_bytes() for p in home.rglob("*") if p.is_file()}
    assert any(p.name.startswith("ledger.sqlite3") for p in files)
    with Ledger() as ledger:
        runs = ledger.runs()
    exports = [csv_bytes(runs_frame(runs))] + [csv_bytes(batches_frame(r)) for r in runs]
    for key in (SECRET, PUBLISHABLE):
        assert key not in shown
        for path, data in files.items():
            assert key.encode() not in data, path
        for data in exports:
            assert key.encode() not in data
        assert key not in caplog.text
    for history in at.session_state["upload_jobs"].values():
        for job in history:
            assert SECRET.encode() not in csv_bytes(job.table_view(full=True))
            assert SECRET not in repr(job)


def send_file(at: AppTest) -> AppTest:
    at = upload(at, "attendees.csv", ATTENDEES)
    at.radio(key="upload_choice").set_value("send_valid").run()
    at.number_input(key="upload_batch_size").set_value(2).run()
    assert "for real" in at.checkbox(key="upload_confirm").label
    at.checkbox(key="upload_confirm").check().run()
    at.button(key="upload_send").click().run()
    no_errors_on_screen(at)
    return at


def test_keys_from_the_environment(
    bento: Emulator, bento_ui_home: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    c = bento.credentials
    monkeypatch.setenv("BENTO_SITE_UUID", c.site_uuid)
    monkeypatch.setenv("BENTO_PUBLISHABLE_KEY", c.publishable_key)
    monkeypatch.setenv("BENTO_SECRET_KEY", c.secret_key)
    monkeypatch.setenv("BENTO_API_URL", c.base_url)
    assert c.secret_key == SECRET
    bento.add_faults([{"status": 500}, {"status": 401}])  # a server error, then refused keys
    at = send_file(open_app("upload"))
    assert any("rejected the keys" in e for e in texts(at.error))
    at.button(key="upload_retry").click().run()
    assert any("All 3 events were recorded by Bento." in s for s in texts(at.success))
    assert len(bento.events()) == 3
    nowhere(at, bento_ui_home, caplog)
    at.switch_page("app_pages/history.py").run()
    nowhere(at, bento_ui_home, caplog)


def test_keys_typed_in_the_sidebar(
    bento: Emulator, bento_ui_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    c = bento.credentials
    at = open_app("upload")
    at.radio(key="conn_mode").set_value("live").run()
    at.text_input(key="conn_site_uuid").input(c.site_uuid)
    at.text_input(key="conn_publishable_key").input(c.publishable_key)
    at.text_input(key="conn_secret_key").input(c.secret_key)
    at.text_input(key="conn_api_url").input(c.base_url)
    at.button(key="conn_use_keys").click().run()
    bento.add_faults([{"drop": "after_body"}])  # an unknown batch: its message is kept
    at = send_file(at)
    assert len(bento.events()) == 3
    nowhere(at, bento_ui_home, caplog)
    at.switch_page("app_pages/history.py").run()
    nowhere(at, bento_ui_home, caplog)
