"""'Copy as curl': the exact request of a batch, with the keys left to the shell."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from typing import Any

import pytest

from bento_ui.client import USER_AGENT, batch_body
from bento_ui.curl import curl_command
from bento_ui.emulator import Emulator

EVENTS: list[dict[str, Any]] = [
    {"type": "$purchase", "email": "o'brien@example.com",
     "fields": {"first_name": "Zoë", "note": 'say "hi" $HOME `x`'},
     "details": {"unique": {"key": "#1001"}, "value": {"amount": 1999, "currency": "EUR"}}},
    {"type": "webinar_attended", "email": "ana@example.com", "date": "2026-11-30T10:00:00Z"},
]


def test_the_command_holds_no_key_and_the_client_s_exact_body(emulator: Emulator) -> None:
    credentials = emulator.credentials
    command = curl_command(credentials, EVENTS)
    assert credentials.publishable_key not in command
    assert credentials.secret_key not in command
    assert '-u "$BENTO_PUBLISHABLE_KEY:$BENTO_SECRET_KEY"' in command
    words = shlex.split(command.replace("\\\n", " "))
    assert words[words.index("--data-raw") + 1].encode("utf-8") == batch_body(EVENTS)
    assert f"User-Agent: {USER_AGENT}" in words
    assert "Content-Type: application/json" in words
    assert f"{credentials.events_url}?site_uuid={credentials.site_uuid}" in words


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_running_the_command_records_the_same_events(emulator: Emulator) -> None:
    credentials = emulator.credentials
    env = {**os.environ, "BENTO_PUBLISHABLE_KEY": credentials.publishable_key,
           "BENTO_SECRET_KEY": credentials.secret_key}
    done = subprocess.run(["sh", "-c", curl_command(credentials, EVENTS) + " --silent"],
                          env=env, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert '"results":2' in done.stdout.replace(" ", "")
    assert emulator.events() == EVENTS


def test_an_event_that_cannot_be_json_is_refused_like_the_client_does() -> None:
    from bento_ui.config import Credentials

    credentials = Credentials("site", "pk_x", "sk_y", "http://127.0.0.1:1")
    with pytest.raises(ValueError):
        curl_command(credentials, [{"type": "x", "email": "a@b.co",
                                    "fields": {"n": float("nan")}}])
