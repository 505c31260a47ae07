"""A batch's request as a curl command, to try it by hand or show Bento's support.

    print(curl_command(credentials, batch.events))

The command is the exact request `BentoClient.send_batch` makes: the same URL (with
the site UUID), the same headers and the same body bytes (`client.batch_body`), so it
cannot drift from what the app sends. The keys are never in it: `-u` names the
environment variables BENTO_PUBLISHABLE_KEY and BENTO_SECRET_KEY, which the shell fills
in when the person runs it.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Any

import requests

from bento_ui.client import POST_HEADERS, batch_body
from bento_ui.config import ENV_PUBLISHABLE_KEY, ENV_SECRET_KEY, Credentials

KEYS_PLACEHOLDER = f'"${ENV_PUBLISHABLE_KEY}:${ENV_SECRET_KEY}"'


def request_url(credentials: Credentials) -> str:
    """The URL a batch is posted to, encoded as `requests` encodes it for the client."""
    prepared = requests.Request(
        "POST", credentials.events_url, params={"site_uuid": credentials.site_uuid}
    ).prepare()
    return str(prepared.url)


def curl_command(credentials: Credentials, events: Sequence[dict[str, Any]]) -> str:
    """A shell command that posts `events` exactly as the client would, keys left out.

    Raises TypeError or ValueError when an event cannot be written as JSON (the client
    would not send it either)."""
    body = batch_body(list(events)).decode("utf-8")
    lines = [f"curl -X POST {shlex.quote(request_url(credentials))}",
             f"-u {KEYS_PLACEHOLDER}"]
    lines += [f"-H {shlex.quote(f'{name}: {value}')}" for name, value in POST_HEADERS]
    lines.append(f"--data-raw {shlex.quote(body)}")
    return " \\\n  ".join(lines)
