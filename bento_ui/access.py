"""Who may use the app: the access password, decided without Streamlit.

The app sends with the team's Bento keys when they are configured (environment or
`.streamlit/secrets.toml`). Served on 127.0.0.1 (what `make run` and `bento-ui app`
do), only this computer can reach it. Served on any other address, anybody on the
network could open it and send with those keys, so the app then asks for an access
password before it shows anything:

- the password comes from `BENTO_UI_PASSWORD` in the secrets or the environment;
- with live keys configured, a non-loopback address and no password, the app refuses to
  start and says how to set one;
- without live keys there is nothing to protect (people type their own keys, which stay
  in their session), so no password is asked.

Streamlit with no `server.address` listens on every interface: that counts as exposed.

    decision = decide(address, live_keys=..., password=...)
    decision.state                      # OPEN, ASK or REFUSE
    password_matches(typed, password)   # constant-time comparison
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bento_ui.config import ENV_PUBLISHABLE_KEY, ENV_SECRET_KEY, ENV_SITE_UUID

ENV_PASSWORD = "BENTO_UI_PASSWORD"
OPEN, ASK, REFUSE = "open", "ask", "refuse"

_KEY_NAMES = (ENV_SITE_UUID, ENV_PUBLISHABLE_KEY, ENV_SECRET_KEY)

HOW_TO_SET = (
    f"Set an access password: `{ENV_PASSWORD}` in the environment of the command that "
    f"starts the app, or `{ENV_PASSWORD} = \"...\"` in `.streamlit/secrets.toml`, then "
    "restart it. Or serve the app on 127.0.0.1 only (`make run` and `bento-ui app` do)."
)


def is_loopback(address: str | None) -> bool:
    """True when a server bound to `address` is reachable from this computer only.

    None or "" (Streamlit's default: every interface), 0.0.0.0, :: and any host name
    other than localhost are not.
    """
    text = (address or "").strip().strip("[]").lower()
    if not text:
        return False
    if text == "localhost" or text.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False


def _value(source: Mapping[str, Any], name: str) -> str:
    value = source.get(name)
    return str(value).strip() if value is not None else ""


def live_keys_configured(secrets: Mapping[str, Any], environ: Mapping[str, str]) -> bool:
    """True when Bento keys (even incomplete ones) are in the secrets or the environment."""
    return any(_value(secrets, n) or _value(environ, n) for n in _KEY_NAMES)


def configured_password(secrets: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    """The access password: secrets first, then the environment; "" when there is none."""
    return _value(secrets, ENV_PASSWORD) or _value(environ, ENV_PASSWORD)


def password_matches(typed: str, password: str) -> bool:
    """Constant-time comparison; an empty password never matches."""
    if not password:
        return False
    return hmac.compare_digest(typed.encode("utf-8"), password.encode("utf-8"))


def unlock_token(password: str) -> str:
    """What a session keeps once unlocked: a digest, so changing the password locks it."""
    return hashlib.sha256(b"bento-ui access\n" + password.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Access:
    """Whether to show the app: OPEN, ASK (for the password) or REFUSE (with `message`)."""

    state: str
    message: str = ""

    @property
    def open(self) -> bool:
        return self.state == OPEN


def decide(
    address: str | None, *, live_keys: bool, password: str, unlocked: bool = False
) -> Access:
    """What the app does for a server bound to `address` (see the module docstring)."""
    if is_loopback(address) or not live_keys:
        return Access(OPEN)
    if not password:
        where = f"on {address}" if address else "on every network address"
        return Access(
            REFUSE,
            f"This app is served {where} and Bento keys are configured, so anyone who can "
            f"reach it could send events with them. It stays closed until it has an access "
            f"password. {HOW_TO_SET}",
        )
    if unlocked:
        return Access(OPEN)
    return Access(
        ASK,
        "This app can send events with your team's Bento keys and is reachable from the "
        "network: enter the access password to continue.",
    )
