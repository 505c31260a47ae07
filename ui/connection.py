"""The connection sidebar, on every page: where events go, and whether the keys work.

Sandbox (the built-in Bento emulator) when no keys are configured; Bento itself when
keys come from the environment, `.streamlit/secrets.toml` or the sidebar. Typed keys
live in this session only and are never shown again: after entry the sidebar shows the
site UUID and "keys set". Pages ask `current_target()` where to send.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

from bento_ui import BentoClient, BentoUIError, ConfigError, Credentials, sandbox
from bento_ui.config import (
    DEFAULT_BASE_URL,
    ENV_API_URL,
    ENV_PUBLISHABLE_KEY,
    ENV_SECRET_KEY,
    ENV_SITE_UUID,
    key_warnings,
)
from ui.logic import escape_markdown

SANDBOX, LIVE = "sandbox", "live"
TEST_CAPTION = "Asks Bento for the site's tags; records nothing."
TARGET_KEY = "conn_target"  # the Target the pages send to (None: nowhere yet)
TYPED_KEY = "conn_typed"  # Credentials typed in the sidebar, for this session only
CHECK_KEY = "conn_check"  # (target id, ok, message) of the last "Test connection"


@dataclass(frozen=True)
class Target:
    """Where events go: the sandbox or a Bento site, and where the keys came from."""

    kind: str
    credentials: Credentials
    source: str

    @property
    def is_live(self) -> bool:
        return self.kind == LIVE

    @property
    def id(self) -> str:
        return f"{self.kind}|{self.credentials.site_uuid}|{self.credentials.base_url}"

    @property
    def label(self) -> str:
        """How the target reads in a sentence: 'the sandbox', 'Bento site abc123'."""
        if not self.is_live:
            return "the sandbox"
        where = "" if self.credentials.is_bento else f" at {self.credentials.base_url}"
        return f"Bento site {self.credentials.site_uuid}{where}"


def _secrets() -> dict[str, Any]:
    """st.secrets as a dict; {} when there is no secrets.toml (or it cannot be read)."""
    try:
        return dict(st.secrets.to_dict())
    except Exception:  # no secrets file, or an unreadable one: not this app's business
        return {}


def configured() -> tuple[Credentials | None, str, str]:
    """Keys from secrets.toml or the environment: (credentials, source, problem)."""
    secrets = _secrets()
    names = (ENV_SITE_UUID, ENV_PUBLISHABLE_KEY, ENV_SECRET_KEY)
    if any(str(secrets.get(n, "")).strip() for n in names):
        try:
            creds = Credentials.from_values(
                site_uuid=str(secrets.get(ENV_SITE_UUID, "")),
                publishable_key=str(secrets.get(ENV_PUBLISHABLE_KEY, "")),
                secret_key=str(secrets.get(ENV_SECRET_KEY, "")),
                base_url=str(secrets.get(ENV_API_URL, "") or DEFAULT_BASE_URL),
            )
        except ConfigError as exc:
            return None, "", f"In .streamlit/secrets.toml: {exc}"
        return creds, "from .streamlit/secrets.toml", ""
    try:
        creds = Credentials.from_env()
    except ConfigError as exc:
        return None, "", f"In the environment: {exc}"
    return (creds, "from the environment", "") if creds is not None else (None, "", "")


def current_target() -> Target | None:
    """The target the sidebar chose in this run (None: Bento chosen but no keys yet)."""
    if TARGET_KEY not in st.session_state:
        return _resolve(_default_mode())[0]
    target: Target | None = st.session_state[TARGET_KEY]
    return target


def _default_mode() -> str:
    creds, _, _ = configured()
    return LIVE if creds is not None or st.session_state.get(TYPED_KEY) else SANDBOX


def _resolve(mode: str) -> tuple[Target | None, str]:
    """The target for a mode, and a problem to show (bad configuration, no emulator)."""
    if mode == SANDBOX:
        try:
            return Target(SANDBOX, sandbox().credentials, "sandbox"), ""
        except BentoUIError as exc:
            return None, str(exc)
    typed: Credentials | None = st.session_state.get(TYPED_KEY)
    if typed is not None:
        return Target(LIVE, typed, "typed in this session"), ""
    creds, source, problem = configured()
    if creds is not None:
        return Target(LIVE, creds, source), ""
    return None, problem


def sidebar(inbox_page: Any = None) -> Target | None:
    """Draw the connection block in the sidebar and remember the chosen target."""
    with st.sidebar:
        st.subheader("Where events go")
        mode = st.radio(
            "Send events to",
            [SANDBOX, LIVE],
            index=0 if _default_mode() == SANDBOX else 1,
            format_func=lambda m: "Sandbox (practice)" if m == SANDBOX else "Bento (live)",
            key="conn_mode",
            help="The sandbox is a practice Bento inside this app: nothing leaves this "
            "computer. Bento is your real site: events can start automations and emails.",
        )
        target, problem = _resolve(mode)
        st.session_state[TARGET_KEY] = target
        if mode == SANDBOX:
            _sandbox_block(target, problem, inbox_page)
        else:
            _live_block(target, problem)
        if target is not None:
            _test_connection(target)
    return target


def _sandbox_block(target: Target | None, problem: str, inbox_page: Any) -> None:
    if target is None:
        st.error(f"The sandbox could not start: {escape_markdown(problem)}")
        return
    count = len(sandbox().events())
    st.success(
        "**Sandbox.** Events go to a practice Bento running inside this app. "
        "Nothing leaves this computer and no one gets an email."
    )
    if inbox_page is not None:
        st.page_link(inbox_page, label=f"Sandbox inbox: {count:,} received",
                     icon=":material/inbox:")
    creds, source, _ = configured()
    if creds is not None:
        st.caption(f"Keys for Bento are set ({source}): choose Bento (live) to use them.")


def _live_block(target: Target | None, problem: str) -> None:
    typed = st.session_state.get(TYPED_KEY)
    if target is not None:
        st.warning(
            f"**Live Bento.** Events go to site {escape_markdown(target.credentials.site_uuid)}"
            + ("" if target.credentials.is_bento
               else f" at {escape_markdown(target.credentials.base_url)}")
            + f". Keys set ({target.source})."
        )
        for warning in key_warnings(target.credentials):  # a warning: Bento is the judge
            st.warning(escape_markdown(warning), icon=":material/key:")
    elif problem:
        st.error(escape_markdown(problem))
    if typed is not None:
        st.button("Forget these keys", key="conn_forget", on_click=_forget_keys,
                  help="Removes the keys typed in this session and goes back to the sandbox.")
        return
    if target is None:
        st.info("Enter your Bento keys to send to your site. They stay in this browser "
                "session only and are never shown again.")
        _keys_form()
    else:
        with st.expander("Use other keys for this session"):
            _keys_form()


def _forget_keys() -> None:
    """on_click of "Forget these keys": the keys go, and so does the live target (the
    sidebar is back on the sandbox, not on a Bento with no keys)."""
    st.session_state.pop(TYPED_KEY, None)
    st.session_state.pop(CHECK_KEY, None)
    st.session_state["conn_mode"] = SANDBOX


KEY_FIELDS = ("conn_site_uuid", "conn_publishable_key", "conn_secret_key", "conn_api_url")


def _keys_form() -> None:
    with st.form("conn_keys_form", clear_on_submit=True, border=False):
        st.text_input("Site UUID", key="conn_site_uuid", help="In Bento: Settings, API keys.")
        st.text_input("Publishable key", type="password", key="conn_publishable_key")
        st.text_input("Secret key", type="password", key="conn_secret_key")
        st.text_input("API address (optional)", key="conn_api_url",
                      placeholder=DEFAULT_BASE_URL, help="Leave empty to use Bento.")
        st.form_submit_button("Use these keys", key="conn_use_keys", on_click=_use_keys)
    problem = st.session_state.pop("conn_keys_error", None)
    if problem:
        st.error(escape_markdown(problem))


def _use_keys() -> None:
    """on_click of "Use these keys": keep valid keys for the session, then empty the inputs.

    The inputs are emptied whatever happens, so a key typed once is never sent back to
    the browser, not even after a mistake.
    """
    site, publishable, secret, api_url = (
        str(st.session_state.get(k) or "") for k in KEY_FIELDS
    )
    for key in KEY_FIELDS:
        st.session_state[key] = ""
    try:
        creds = Credentials.from_values(site, publishable, secret, api_url or DEFAULT_BASE_URL)
    except ConfigError as exc:
        st.session_state["conn_keys_error"] = f"{exc} Type the keys again."
        return
    if creds is None:
        st.session_state["conn_keys_error"] = (
            "Enter the site UUID, the publishable key and the secret key."
        )
        return
    st.session_state[TYPED_KEY] = creds
    st.session_state.pop(CHECK_KEY, None)


def _test_connection(target: Target) -> None:
    if st.button("Test connection", key="conn_test", help=TEST_CAPTION):
        with st.spinner("Asking Bento for the site's tags..."):
            client = BentoClient(target.credentials, requests_per_minute=None, max_attempts=1)
            try:
                check = client.check_connection()
            finally:
                client.close()
        st.session_state[CHECK_KEY] = (target.id, check.ok, check.message)
    st.caption(TEST_CAPTION)
    last = st.session_state.get(CHECK_KEY)
    if last and last[0] == target.id:
        (st.success if last[1] else st.error)(escape_markdown(last[2]))
