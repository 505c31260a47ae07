"""The access password, asked before anything else when the app is exposed with live keys.

The decision is `bento_ui.access.decide`; this draws it. A session that typed the right
password keeps a digest of it (`access_token`), so it is asked once per browser session,
and again if the password changes. Session keys: `access_password` (the input, emptied
on every try), `access_token`, `access_error`.
"""

from __future__ import annotations

import hmac
import os
import time

import streamlit as st

from bento_ui.access import (
    REFUSE,
    configured_password,
    decide,
    live_keys_configured,
    password_matches,
    unlock_token,
)
from ui.connection import _secrets

TOKEN_KEY = "access_token"
WRONG_PASSWORD_DELAY = 1.0  # seconds: slows down guessing from one session


def _password() -> str:
    return configured_password(_secrets(), os.environ)


def _unlocked(password: str) -> bool:
    token = st.session_state.get(TOKEN_KEY)
    return bool(password) and isinstance(token, str) and hmac.compare_digest(
        token, unlock_token(password)
    )


def _try_password() -> None:
    """on_click of "Open the app": unlock the session, or say the password is wrong."""
    typed = str(st.session_state.get("access_password") or "")
    st.session_state["access_password"] = ""  # never sent back to the browser
    password = _password()
    if password_matches(typed, password):
        st.session_state[TOKEN_KEY] = unlock_token(password)
        st.session_state.pop("access_error", None)
        return
    time.sleep(WRONG_PASSWORD_DELAY)
    st.session_state["access_error"] = "That is not the access password. Try again."


def gate() -> bool:
    """True when the app may be shown; otherwise draws the password form (or the refusal)."""
    secrets = _secrets()
    password = _password()
    access = decide(
        st.get_option("server.address"),
        live_keys=live_keys_configured(secrets, os.environ),
        password=password,
        unlocked=_unlocked(password),
    )
    if access.open:
        return True
    st.title("Bento Event Composer")
    if access.state == REFUSE:
        st.error(access.message, icon=":material/lock:")
        return False
    st.info(access.message, icon=":material/lock:")
    with st.form("access_form", clear_on_submit=True, border=False):
        st.text_input("Access password", type="password", key="access_password")
        st.form_submit_button("Open the app", key="access_open", type="primary",
                              on_click=_try_password)
    error = st.session_state.pop("access_error", None)
    if error:
        st.error(error)
    return False
