"""The access password: asked before anything else when the app is reachable from the
network and sends with the team's keys; never asked on 127.0.0.1.

The decision is plain Python (`bento_ui.access`); the app tests serve the app on another
address with `serve_on` and check what a visitor sees.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from test_app_helpers import isolated, open_app, screen_text, serve_on, texts

from bento_ui.access import (
    ASK,
    OPEN,
    REFUSE,
    configured_password,
    decide,
    is_loopback,
    live_keys_configured,
    password_matches,
)

SITE = "site-uuid-for-the-team"
PASSWORD = "correct horse battery staple"
KEYS = {"BENTO_SITE_UUID": SITE, "BENTO_PUBLISHABLE_KEY": "pk_team_key",
        "BENTO_SECRET_KEY": "sk_team_secret_key_123"}


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from isolated(monkeypatch)


# --- the decision --------------------------------------------------------------------------


@pytest.mark.parametrize("address,loopback", [
    ("127.0.0.1", True), ("127.1.2.3", True), ("localhost", True), ("::1", True),
    ("[::1]", True), ("0.0.0.0", False), ("::", False), ("", False), (None, False),
    ("192.168.1.20", False), ("bento.example.com", False),
])  # fmt: skip
def test_loopback_addresses(address: str | None, loopback: bool) -> None:
    assert is_loopback(address) is loopback


def test_the_decision() -> None:
    assert decide("127.0.0.1", live_keys=True, password="").state == OPEN
    assert decide("0.0.0.0", live_keys=False, password="").state == OPEN
    refused = decide("0.0.0.0", live_keys=True, password="")
    assert refused.state == REFUSE and "BENTO_UI_PASSWORD" in refused.message
    assert decide(None, live_keys=True, password="").state == REFUSE  # every interface
    assert decide("0.0.0.0", live_keys=True, password="pw").state == ASK
    assert decide("0.0.0.0", live_keys=True, password="pw", unlocked=True).state == OPEN


def test_where_keys_and_password_come_from() -> None:
    assert not live_keys_configured({}, {})
    assert live_keys_configured({"BENTO_SECRET_KEY": "sk"}, {})
    assert live_keys_configured({}, {"BENTO_SITE_UUID": "x"})
    assert not live_keys_configured({"BENTO_SECRET_KEY": "  "}, {})
    assert configured_password({"BENTO_UI_PASSWORD": "a"}, {"BENTO_UI_PASSWORD": "b"}) == "a"
    assert configured_password({}, {"BENTO_UI_PASSWORD": " b "}) == "b"
    assert password_matches("pw", "pw")
    assert not password_matches("PW", "pw")
    assert not password_matches("", "")  # no password configured: nothing unlocks


# --- what a visitor sees -------------------------------------------------------------------


def test_on_localhost_nothing_is_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    at = open_app()
    assert "access_password" not in [t.key for t in at.text_input]
    assert at.title[0].value == "Compose events"


def test_on_the_network_without_keys_nothing_is_asked() -> None:
    with serve_on("0.0.0.0"):
        at = open_app()
    assert at.title[0].value == "Compose events"


def test_exposed_with_keys_the_password_comes_first(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("BENTO_UI_PASSWORD", PASSWORD)
    with serve_on("0.0.0.0"):
        at = open_app()
        assert at.title[0].value == "Bento Event Composer"
        assert at.text_input(key="access_password").proto.type == 1  # PASSWORD
        shown = screen_text(at)
        assert SITE not in shown and "Compose events" not in shown  # nothing else
        assert not at.sidebar.radio  # no sidebar: nobody can pick a target

        at.text_input(key="access_password").input("guess")
        at.button(key="access_open").click().run()
        assert "That is not the access password. Try again." in texts(at.error)
        assert at.text_input(key="access_password").value == ""
        assert SITE not in screen_text(at)

        at.text_input(key="access_password").input(PASSWORD)
        at.button(key="access_open").click().run()
        assert not at.exception
        assert at.title[0].value == "Compose events"
        assert SITE in " ".join(texts(at.sidebar.warning))
        assert PASSWORD not in screen_text(at)

        at.run()  # unlocked for the rest of the session
        assert at.title[0].value == "Compose events"


def test_password_from_secrets_and_every_interface_counts_as_exposed() -> None:
    with serve_on(None):  # Streamlit's default: listens on every interface
        at = open_app(secrets={**KEYS, "BENTO_UI_PASSWORD": PASSWORD})
        assert "access_password" in [t.key for t in at.text_input]
        at.text_input(key="access_password").input(PASSWORD)
        at.button(key="access_open").click().run()
        assert at.title[0].value == "Compose events"


def test_exposed_with_keys_and_no_password_stays_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    with serve_on("192.168.1.20"):
        at = open_app()
    message = " ".join(texts(at.error))
    assert "It stays closed until it has an access password" in message
    assert "BENTO_UI_PASSWORD" in message
    assert not at.text_input
    assert SITE not in screen_text(at)
