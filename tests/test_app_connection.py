"""The connection sidebar: sandbox by default, live keys from secrets, env or typing.

Keys must never be rendered: these tests search every element on screen (values,
labels, help, table cells, code) for the secret and the publishable key.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from test_app_helpers import ROOT, isolated, open_app, screen_text, texts

from bento_ui import sandbox

SECRET = "sk_live_do_not_show_9f8e7d6c5b4a"
PUBLISHABLE = "pk_live_do_not_show_1a2b3c4d"
SITE = "site-uuid-4242"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from isolated(monkeypatch)


def assert_keys_hidden(at: AppTest, *keys: str) -> None:
    shown = screen_text(at)
    for key in keys:
        assert key not in shown


def type_keys(at: AppTest, site: str, publishable: str, secret: str, url: str = "") -> AppTest:
    at.radio(key="conn_mode").set_value("live").run()
    at.text_input(key="conn_site_uuid").input(site)
    at.text_input(key="conn_publishable_key").input(publishable)
    at.text_input(key="conn_secret_key").input(secret)
    if url:
        at.text_input(key="conn_api_url").input(url)
    at.button(key="conn_use_keys").click().run()
    assert not at.exception, at.exception
    return at


def test_sandbox_is_the_default_and_says_so() -> None:
    at = open_app()
    sidebar = " ".join(texts(at.sidebar.success))
    assert "Sandbox" in sidebar and "Nothing leaves this computer" in sidebar
    assert "Sandbox inbox: 0 received" in screen_text(at)
    assert "records nothing" in " ".join(texts(at.sidebar.caption)).lower()


def test_keys_from_secrets_make_the_target_live_and_stay_hidden() -> None:
    at = open_app(secrets={"BENTO_SITE_UUID": SITE, "BENTO_PUBLISHABLE_KEY": PUBLISHABLE,
                           "BENTO_SECRET_KEY": SECRET})
    warning = " ".join(texts(at.sidebar.warning))
    assert "Live Bento" in warning and SITE in warning
    assert "Keys set (from .streamlit/secrets.toml)" in warning
    at.text_input(key="compose_custom_type").input("webinar_attended")
    at.text_input(key="compose_email").input("jane@example.com").run()
    at.button(key="compose_add").click().run()
    confirm = at.checkbox(key="compose_confirm").label
    assert "for real" in confirm and "emails to real people" in confirm
    assert f"Bento site {SITE}" in confirm
    assert_keys_hidden(at, SECRET, PUBLISHABLE)


def test_incomplete_secrets_are_explained_without_a_traceback() -> None:
    at = open_app(secrets={"BENTO_SITE_UUID": SITE})
    at.radio(key="conn_mode").set_value("live").run()
    assert not at.exception
    errors = " ".join(texts(at.sidebar.error))
    assert "secrets.toml" in errors and "BENTO_SECRET_KEY" in errors


def test_keys_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENTO_SITE_UUID", SITE)
    monkeypatch.setenv("BENTO_PUBLISHABLE_KEY", PUBLISHABLE)
    monkeypatch.setenv("BENTO_SECRET_KEY", SECRET)
    at = open_app()
    assert "Keys set (from the environment)" in " ".join(texts(at.sidebar.warning))
    assert_keys_hidden(at, SECRET, PUBLISHABLE)


@pytest.mark.skipif((ROOT / ".streamlit" / "secrets.toml").exists()
                    or (Path.home() / ".streamlit" / "secrets.toml").exists(),
                    reason="a secrets.toml exists on this machine")
def test_no_secrets_file_is_fine() -> None:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    assert not at.exception
    assert not at.sidebar.error
    assert "Sandbox" in " ".join(texts(at.sidebar.success))


def test_typed_keys_are_never_shown_again_and_can_be_tested() -> None:
    bento = sandbox()
    creds = bento.credentials
    at = open_app()
    at.radio(key="conn_mode").set_value("live").run()
    assert at.text_input(key="conn_secret_key").proto.type == 1  # PASSWORD
    at = type_keys(at, creds.site_uuid, creds.publishable_key, creds.secret_key, bento.base_url)
    warning = " ".join(texts(at.sidebar.warning))
    assert creds.site_uuid in warning and "Keys set (typed in this session)" in warning
    assert "conn_secret_key" not in [t.key for t in at.text_input]
    assert_keys_hidden(at, creds.secret_key, creds.publishable_key)

    at.button(key="conn_test").click().run()
    assert any("the keys and the site UUID work" in s for s in texts(at.sidebar.success))
    assert bento.events() == []  # testing records nothing
    assert_keys_hidden(at, creds.secret_key, creds.publishable_key)

    # Send with them: the keys stay hidden through the whole send and its report.
    at.text_input(key="compose_custom_type").input("webinar_attended")
    at.text_input(key="compose_email").input("jane@example.com").run()
    at.button(key="compose_add").click().run()
    at.checkbox(key="compose_confirm").check().run()
    at.button(key="compose_send").click().run()
    assert "The event was recorded by Bento." in texts(at.success)
    assert len(bento.events()) == 1
    assert_keys_hidden(at, creds.secret_key, creds.publishable_key)

    at.button(key="conn_forget").click().run()
    assert "conn_typed" not in at.session_state
    at.radio(key="conn_mode").set_value("live").run()
    assert at.text_input(key="conn_secret_key").value == ""


def test_forget_these_keys_goes_back_to_the_sandbox() -> None:
    bento = sandbox()
    at = type_keys(open_app(), bento.site_uuid, PUBLISHABLE, SECRET, bento.base_url)
    assert at.radio(key="conn_mode").value == "live"
    at.button(key="conn_forget").click().run()
    assert not at.exception, at.exception
    assert at.radio(key="conn_mode").value == "sandbox"
    assert "Nothing leaves this computer" in " ".join(texts(at.sidebar.success))
    assert not at.sidebar.error


def test_keys_of_an_unusual_format_get_a_warning_but_are_used() -> None:
    bento = sandbox()
    odd_publishable, odd_secret = "0123456789abcdef-publishable", "fedcba9876543210-secret"
    at = type_keys(open_app(), bento.site_uuid, odd_publishable, odd_secret, bento.base_url)
    warnings = " ".join(texts(at.sidebar.warning)).replace("\\_", "_")  # markdown-escaped
    assert "does not start with pk_" in warnings and "does not start with sk_" in warnings
    assert "Keys set (typed in this session)" in warnings  # used all the same
    assert_keys_hidden(at, odd_publishable, odd_secret)
    at = type_keys(open_app(), bento.site_uuid, PUBLISHABLE, SECRET, bento.base_url)
    assert "does not start" not in " ".join(texts(at.sidebar.warning))


def test_wrong_typed_keys_fail_the_test_in_plain_words() -> None:
    bento = sandbox()
    at = type_keys(open_app(), bento.site_uuid, "pk_wrong", SECRET, bento.base_url)
    at.button(key="conn_test").click().run()
    errors = " ".join(texts(at.sidebar.error))
    assert "rejected the keys" in errors
    assert_keys_hidden(at, SECRET)


def test_incomplete_typed_keys_are_refused() -> None:
    at = type_keys(open_app(), SITE, "", SECRET)
    assert any("BENTO_PUBLISHABLE_KEY" in e or "publishable" in e.lower()
               for e in texts(at.sidebar.error))
    assert_keys_hidden(at, SECRET)
    assert "conn_typed" not in at.session_state
