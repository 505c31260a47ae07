"""The duplicate guard in the app: events a site received before are not sent again.

Every send is recorded in the send ledger; before the next send of the same events to
the same site the app says what it holds back and, by default, does not send it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from streamlit.testing.v1 import AppTest
from test_app_helpers import isolated, metrics, no_errors_on_screen, open_app, texts, upload
from test_app_upload import ATTENDEES, attendees, send_valid

from bento_ui import Emulator, sandbox
from bento_ui.ledger import Ledger


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from isolated(monkeypatch)


def emails() -> Counter[str]:
    return Counter(e["email"] for e in sandbox().events())


def ready(at: AppTest) -> AppTest:
    """Past the "rows with errors" question, at the send panel."""
    at.radio(key="upload_choice").set_value("send_valid").run()
    no_errors_on_screen(at)
    return at


def test_the_same_file_again_sends_nothing_by_default() -> None:
    send_valid(attendees())
    assert len(sandbox().events()) == 3
    at = ready(attendees())  # another session, the same file
    warning = " ".join(texts(at.warning))
    assert "3 of these events were sent to this site on" in warning
    assert "and accepted by it" in warning and "They are skipped" in warning
    assert any("Nothing to send" in i for i in texts(at.info))
    assert "upload_send" not in [b.key for b in at.button]
    assert len(sandbox().events()) == 3

    # Sending again is an explicit choice.
    assert at.checkbox(key="upload_send_again").value is False
    at.checkbox(key="upload_send_again").check().run()
    assert "**3 events** in **1 batch** of up to 1,000." in texts(at.markdown)
    at.checkbox(key="upload_confirm").check().run()
    at.button(key="upload_send").click().run()
    no_errors_on_screen(at)
    assert emails()["jane@example.com"] == 2
    with Ledger() as ledger:
        assert len(ledger.runs()) == 2


def test_only_the_new_rows_of_a_grown_file_are_sent() -> None:
    send_valid(attendees())
    grown = ATTENDEES + b"grace@example.com,webinar_attended,2024-11-20 15:00,Grace,pro\n"
    at = ready(upload(open_app("upload"), "attendees.csv", grown))
    assert any("3 of these events were sent to this site" in w for w in texts(at.warning))
    assert "**1 event** in **1 batch** of up to 1,000." in texts(at.markdown)
    at.checkbox(key="upload_confirm").check().run()
    at.button(key="upload_send").click().run()
    no_errors_on_screen(at)
    assert any("The event sent was recorded by the sandbox." in s for s in texts(at.success))
    assert any("3 events were held back" in i for i in texts(at.info))
    assert metrics(at)["Events in"] == "4" and metrics(at)["Not sent"] == "3"
    assert emails() == Counter({"jane@example.com": 1, "bob@example.com": 1,
                                "frank@example.com": 1, "grace@example.com": 1})
    # The held-back rows are not offered again as "rows not sent yet".
    assert "Rows not sent yet" not in [s.value for s in at.subheader]


def test_start_over_in_the_same_session_meets_the_guard() -> None:
    at = send_valid(attendees())
    at.button(key="upload_start_over").click().run()
    at = ready(at)
    assert any("were sent to this site" in w for w in texts(at.warning))
    assert "upload_send" not in [b.key for b in at.button]
    assert len(sandbox().events()) == 3


def test_events_of_an_unknown_batch_wait_for_a_confirmation() -> None:
    at = attendees()
    sandbox().add_faults([{"drop": "after_body"}])  # recorded, then no answer
    at = send_valid(at)
    report = next(d.value for d in at.dataframe if "batch" in d.value.columns)
    assert report["state"].tolist() == ["unknown"]
    assert len(sandbox().events()) == 3

    at = ready(attendees())
    warning = " ".join(texts(at.warning))
    assert "in batches whose outcome is unknown" in warning and "may have recorded" in warning
    assert "rows 2-3, 8" in warning
    assert "upload_send" not in [b.key for b in at.button]
    at.checkbox(key="upload_resend_unknown").check().run()
    at.checkbox(key="upload_confirm").check().run()
    at.button(key="upload_send").click().run()
    no_errors_on_screen(at)
    assert len(sandbox().events()) == 6  # the person's call, after checking


def test_the_guard_is_per_site() -> None:
    """The same events to another site are not held back."""
    send_valid(attendees())
    with Emulator() as other:
        at = open_app("upload")
        at.radio(key="conn_mode").set_value("live").run()
        c = other.credentials
        at.text_input(key="conn_site_uuid").input(c.site_uuid)
        at.text_input(key="conn_publishable_key").input(c.publishable_key)
        at.text_input(key="conn_secret_key").input(c.secret_key)
        at.text_input(key="conn_api_url").input(c.base_url)
        at.button(key="conn_use_keys").click().run()
        at = ready(upload(at, "attendees.csv", ATTENDEES))
        assert not [w for w in texts(at.warning) if "sent to this site" in w]
        at.checkbox(key="upload_confirm").check().run()
        at.button(key="upload_send").click().run()
        no_errors_on_screen(at)
        assert len(other.events()) == 3
    with Ledger() as ledger:
        assert [r.site_uuid for r in ledger.runs()] == [other.site_uuid, sandbox().site_uuid]


def test_compose_meets_the_guard_too() -> None:
    def add_and_send(at: AppTest) -> AppTest:
        at.text_input(key="compose_custom_type").input("webinar_attended")
        at.text_input(key="compose_email").input("jane@example.com").run()
        at.button(key="compose_add").click().run()
        return at

    at = add_and_send(open_app())
    at.checkbox(key="compose_confirm").check().run()
    at.button(key="compose_send").click().run()
    at.button(key="compose_new_outbox").click().run()
    at = add_and_send(at)
    assert any("1 of these events was sent to this site" in w for w in texts(at.warning))
    assert "compose_send" not in [b.key for b in at.button]
    assert len(sandbox().events()) == 1


def test_send_again_means_what_it_means_in_the_cli_and_the_library() -> None:
    # Rows 2-3 accepted, row 8 in a batch whose answer was lost: "send again" sends all
    # three, as `--send-again` and `Resend(send_again=True)` do; it includes the uncertain.
    sandbox().add_faults([{}, {"drop": "after_body"}])
    send_valid(attendees(), batch_size=2)
    assert len(sandbox().events()) == 3
    at = ready(attendees())
    assert "upload_send" not in [b.key for b in at.button]
    at.checkbox(key="upload_send_again").check().run()
    assert "upload_resend_unknown" not in [c.key for c in at.checkbox]  # included
    assert "**3 events** in **1 batch** of up to 1,000." in texts(at.markdown)
    at.checkbox(key="upload_confirm").check().run()
    at.button(key="upload_send").click().run()
    no_errors_on_screen(at)
    assert emails()["frank@example.com"] == 2 and emails()["jane@example.com"] == 2
