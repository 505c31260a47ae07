"""The Sandbox inbox page: what the sandbox received, and practice failures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from test_app_helpers import isolated, metrics, open_app, screen_text, texts

from bento_ui import BentoClient, sandbox


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from isolated(monkeypatch)


def record(*emails: str) -> None:
    with BentoClient(sandbox().credentials, requests_per_minute=None) as client:
        outcome = client.send_batch([
            {"type": "webinar_attended", "email": e, "details": {"n": i}}
            for i, e in enumerate(emails)
        ])
    assert outcome.state == "accepted"


def test_empty_inbox() -> None:
    at = open_app("inbox")
    assert at.title[0].value == "Sandbox inbox"
    assert "has not received any events yet" in " ".join(texts(at.info))
    assert metrics(at)["Events received"] == "0"


def test_inbox_shows_what_was_received_and_can_be_searched_and_emptied() -> None:
    record("jane@example.com", "bob@example.com")
    at = open_app("inbox")
    assert metrics(at)["Events received"] == "2"
    table = at.dataframe[0].value
    assert table["email"].tolist() == ["bob@example.com", "jane@example.com"]  # newest first
    assert table["details"].tolist() == ['{"n": 1}', '{"n": 0}']
    code = at.code[0].value
    assert code.index("bob@example.com") < code.index("jane@example.com")
    at.text_input(key="inbox_search").input("bob").run()
    assert at.dataframe[0].value["email"].tolist() == ["bob@example.com"]
    assert "bob@example.com" in at.code[0].value  # the JSON follows the search
    assert "jane@example.com" not in at.code[0].value
    at.button(key="inbox_reset").click().run()
    assert "The sandbox is empty again." in texts(at.success)
    assert sandbox().events() == []
    assert "Sandbox inbox: 0 received" in screen_text(at)


def test_practice_failure_reaches_the_next_send() -> None:
    at = open_app("inbox")
    at.selectbox(key="inbox_fault").set_value("401").run()
    at.button(key="inbox_add_fault").click().run()
    assert any("wrong keys" in s for s in texts(at.success))
    with BentoClient(sandbox().credentials, requests_per_minute=None) as client:
        outcome = client.send_batch([{"type": "t", "email": "a@example.com"}])
    assert outcome.status == 401
