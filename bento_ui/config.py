"""Where credentials come from, and how they stay secret.

Bento authenticates with HTTP Basic: the publishable key is the user name and the secret
key the password. Both keys are treated as secrets: they never appear in a repr, a log
line, an exception message or a report.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from bento_ui.errors import ConfigError

DEFAULT_BASE_URL = "https://app.bentonow.com/api/v1"

ENV_SITE_UUID = "BENTO_SITE_UUID"
ENV_PUBLISHABLE_KEY = "BENTO_PUBLISHABLE_KEY"
ENV_SECRET_KEY = "BENTO_SECRET_KEY"
ENV_API_URL = "BENTO_API_URL"

_MASK = "********"


def _check_printable(name: str, value: str) -> None:
    """Keys go into an HTTP header: only printable ASCII can. A key pasted with a
    zero-width space or a line break is refused here, saying where, not showing it."""
    for position, char in enumerate(value, start=1):
        if not " " < char <= "~":
            what = f"U+{ord(char):04X}" if char.isprintable() else "an invisible character"
            if char.isspace():
                what = "a space or line break"
            raise ConfigError(
                f"The Bento {name} holds {what} at character {position}, which a key never "
                f"has: copy the {name} again from your Bento account, without "
                "spaces or anything around it."
            )


@dataclass(frozen=True)
class Credentials:
    """A Bento site and the keys to write to it.

    `repr()` and `str()` show the site and the base URL, never the keys.
    """

    site_uuid: str
    publishable_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    base_url: str = DEFAULT_BASE_URL

    def __post_init__(self) -> None:
        missing = [
            name
            for name, value in (
                ("site UUID", self.site_uuid),
                ("publishable key", self.publishable_key),
                ("secret key", self.secret_key),
            )
            if not str(value).strip()
        ]
        if missing:
            raise ConfigError(f"The Bento {' and '.join(missing)} cannot be empty.")
        for name, value in (
            ("site UUID", self.site_uuid),
            ("publishable key", self.publishable_key),
            ("secret key", self.secret_key),
        ):
            _check_printable(name, value)
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))

    def __repr__(self) -> str:
        return (
            f"Credentials(site_uuid={self.site_uuid!r}, publishable_key={_MASK!r}, "
            f"secret_key={_MASK!r}, base_url={self.base_url!r})"
        )

    __str__ = __repr__

    @property
    def is_bento(self) -> bool:
        """True when these credentials point at Bento itself rather than a local server."""
        return self.base_url.startswith("https://") and "bentonow.com" in self.base_url

    @property
    def events_url(self) -> str:
        return f"{self.base_url}/batch/events"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Credentials | None:
        """Credentials from BENTO_SITE_UUID, BENTO_PUBLISHABLE_KEY and BENTO_SECRET_KEY.

        Returns None when none of the three is set (the caller then uses the sandbox), and
        raises ConfigError naming what is missing when only some are.
        """
        env = os.environ if environ is None else environ
        return cls.from_values(
            site_uuid=env.get(ENV_SITE_UUID, ""),
            publishable_key=env.get(ENV_PUBLISHABLE_KEY, ""),
            secret_key=env.get(ENV_SECRET_KEY, ""),
            base_url=env.get(ENV_API_URL, "") or DEFAULT_BASE_URL,
        )

    @classmethod
    def from_values(
        cls,
        site_uuid: str = "",
        publishable_key: str = "",
        secret_key: str = "",
        base_url: str = DEFAULT_BASE_URL,
    ) -> Credentials | None:
        """Credentials from three values, None when all three are empty."""
        values = {
            ENV_SITE_UUID: site_uuid.strip(),
            ENV_PUBLISHABLE_KEY: publishable_key.strip(),
            ENV_SECRET_KEY: secret_key.strip(),
        }
        given = [name for name, value in values.items() if value]
        if not given:
            return None
        missing = [name for name, value in values.items() if not value]
        if missing:
            raise ConfigError(
                f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} set but "
                f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not: "
                "set all three to send to Bento, or none to use the local sandbox."
            )
        return cls(
            site_uuid=values[ENV_SITE_UUID],
            publishable_key=values[ENV_PUBLISHABLE_KEY],
            secret_key=values[ENV_SECRET_KEY],
            base_url=(base_url or DEFAULT_BASE_URL).strip(),
        )


PUBLISHABLE_PREFIX, SECRET_PREFIX = "pk_", "sk_"  # how Bento's keys start (Settings, API keys)


def key_warnings(credentials: Credentials) -> list[str]:
    """What looks wrong about the keys' format, without showing them: Bento issues
    publishable keys starting `pk_` and secret keys starting `sk_`. Only a warning:
    older or other keys may look different, and Bento itself is the judge."""
    publishable, secret = credentials.publishable_key, credentials.secret_key
    if publishable.startswith(SECRET_PREFIX) and secret.startswith(PUBLISHABLE_PREFIX):
        return ["The publishable key starts with sk_ and the secret key with pk_: they look "
                "swapped. Enter the pk_ key as the publishable key and the sk_ key as the "
                "secret key."]
    found = []
    if not publishable.startswith(PUBLISHABLE_PREFIX):
        found.append("The publishable key does not start with pk_ as Bento's do: check "
                     "you copied it from Settings, API keys.")
    if not secret.startswith(SECRET_PREFIX):
        found.append("The secret key does not start with sk_ as Bento's do: check you "
                     "copied it from Settings, API keys.")
    return found
