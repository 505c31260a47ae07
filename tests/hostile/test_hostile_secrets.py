"""Bento's answers that echo the keys: no key, in any form, reaches the terminal, the
history, the ledger or the report. Over a real socket, with a known secret searched in
every output and file."""

from __future__ import annotations

import base64
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bento_ui import BentoClient, Credentials, Emulator
from bento_ui.cli import main


def forms(credentials: Credentials) -> list[str]:
    pair = f"{credentials.publishable_key}:{credentials.secret_key}"
    return [
        credentials.secret_key,
        credentials.publishable_key,
        pair,
        base64.b64encode(pair.encode()).decode(),
    ]


def bodies(credentials: Credentials) -> dict[str, str]:
    pair = f"{credentials.publishable_key}:{credentials.secret_key}"
    header = "Authorization: Basic " + base64.b64encode(pair.encode()).decode()
    # The 200-character cut of the extract falls three characters before the secret ends.
    start = 199 - len(credentials.secret_key) + 3
    split = "x" * (start - len("Bad request: ") - 1) + " " + credentials.secret_key + " end"
    return {
        "header": f"Bad request, you sent {header}",
        "pair": f'{{"error": "keys {pair} are not allowed here"}}',
        "split": f"Bad request: {split}",
    }


@pytest.fixture
def sheet(tmp_path: Path) -> Path:
    path = tmp_path / "events.csv"
    path.write_text("email,type\njane@example.com,signup\n")
    return path


@pytest.mark.parametrize("case", ["header", "pair", "split"])
def test_an_answer_echoing_the_keys_leaks_nowhere(
    case: str,
    sheet: Path,
    tmp_path: Path,
    emulator: Emulator,
    bento_ui_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    credentials = emulator.credentials
    monkeypatch.setenv("BENTO_API_URL", credentials.base_url)
    monkeypatch.setenv("BENTO_SITE_UUID", credentials.site_uuid)
    monkeypatch.setenv("BENTO_PUBLISHABLE_KEY", credentials.publishable_key)
    monkeypatch.setenv("BENTO_SECRET_KEY", credentials.secret_key)
    emulator.add_faults([{"status": 400, "body": bodies(credentials)[case]}])
    report = tmp_path / "report.csv"
    main(["send", str(sheet), "--report", str(report)])
    main(["history", "--json"])
    printed = capsys.readouterr()
    assert "HTTP 400" in printed.out + printed.err
    texts = [printed.out, printed.err, report.read_text()]
    texts += [
        p.read_bytes().decode("utf-8", "replace") for p in bento_ui_home.rglob("*") if p.is_file()
    ]
    for text in texts:
        for form in forms(credentials):
            assert form not in text
        assert credentials.secret_key[:-4] not in text  # nor the part before a cut


class _Redirect(http.server.BaseHTTPRequestHandler):
    location = ""

    def do_POST(self) -> None:
        self.send_response(302)
        self.send_header("Location", self.location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def redirecting() -> Iterator[tuple[str, list[str]]]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Redirect)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/api/v1", []
    finally:
        server.shutdown()
        server.server_close()


def test_a_redirect_carrying_the_keys_is_not_followed_nor_shown(
    redirecting: tuple[str, list[str]],
) -> None:
    base_url, _ = redirecting
    credentials = Credentials("site", "pk_known_publishable", "sk_known_secret_0123", base_url)
    pair = f"{credentials.publishable_key}:{credentials.secret_key}"
    token = base64.b64encode(pair.encode()).decode()
    _Redirect.location = f"http://{pair}@127.0.0.1:9/api/v1/batch/events?auth={token}"
    with BentoClient(credentials, requests_per_minute=None, max_attempts=1) as client:
        outcome = client.send_batch([{"type": "signup", "email": "jane@example.com"}])
    assert outcome.status == 302 and "redirect" in outcome.message
    for form in forms(credentials):
        assert form not in outcome.message


@pytest.mark.parametrize("odd", ["\u200b", "\n", "é"])
def test_a_key_with_an_odd_character_is_refused_without_showing_it(
    odd: str, sheet: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = f"sk_known_secret{odd}0123456789"
    monkeypatch.setenv("BENTO_SITE_UUID", "site-uuid")
    monkeypatch.setenv("BENTO_PUBLISHABLE_KEY", "pk_known_publishable")
    monkeypatch.setenv("BENTO_SECRET_KEY", secret)
    assert main(["send", str(sheet)]) == 2
    printed = capsys.readouterr()
    assert "secret key" in printed.err and "Traceback" not in printed.err
    assert "sk_known_secret" not in printed.out + printed.err
