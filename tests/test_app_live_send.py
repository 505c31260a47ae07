"""Guardrails of a live send, and what the send panel shows while and after it sends.

A live target here is a local Bento (the emulator) whose keys are typed in the sidebar,
as a person types their site's keys: the app treats it as Bento itself.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest
from test_app_helpers import isolated, no_errors_on_screen, open_app, screen_text, texts, upload
from test_app_upload import ATTENDEES

from bento_ui import Emulator, apply_mapping, plan_send, read_table, sandbox, suggest_mapping
from bento_ui import validate as validate_table
from bento_ui.resume import source_options
from bento_ui.sending import Origin
from ui.logic import backfill_warning, run_sheet_and_type


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from isolated(monkeypatch)


def people(n: int, date: str = "2024-11-20 14:00") -> bytes:
    rows = "".join(f"u{i}@example.com,webinar_attended,{date}\n" for i in range(n))
    return ("Email,Event,Date\n" + rows).encode()


def live(at: AppTest, bento: Emulator) -> AppTest:
    c = bento.credentials
    at.radio(key="conn_mode").set_value("live").run()
    at.text_input(key="conn_site_uuid").input(c.site_uuid)
    at.text_input(key="conn_publishable_key").input(c.publishable_key)
    at.text_input(key="conn_secret_key").input(c.secret_key)
    at.text_input(key="conn_api_url").input(c.base_url)
    at.button(key="conn_use_keys").click().run()
    return at


def at_send_panel(bento: Emulator | None, data: bytes) -> AppTest:
    at = open_app("upload")
    if bento is not None:
        at = live(at, bento)
    return upload(at, "people.csv", data)


def buttons(at: AppTest) -> dict[str, str]:
    return {b.key: b.label for b in at.button}


def test_a_first_small_batch_then_the_rest_sends_every_event_once() -> None:
    with Emulator() as bento:
        at = at_send_panel(bento, people(120))
        assert buttons(at)["upload_canary"] == "Send the first 10 events"
        assert buttons(at)["upload_send"] == "Send all 120 events"
        at.checkbox(key="upload_confirm").check().run()
        at.button(key="upload_canary").click().run()
        no_errors_on_screen(at)
        assert len(bento.events()) == 10
        assert "All 10 events were recorded by Bento." in texts(at.success)
        assert any("Bento recorded the first batch" in i for i in texts(at.info))
        assert buttons(at)["upload_send"] == "Send the rest: 110 events"
        assert "upload_canary" not in buttons(at)  # no canary of the rest
        at.checkbox(key="upload_confirm").check().run()  # the rest is confirmed again
        at.button(key="upload_send").click().run()
        no_errors_on_screen(at)
        sent = Counter(e["email"] for e in bento.events())
        assert len(sent) == 120 and set(sent.values()) == {1}
        assert "upload_stop_rest" not in buttons(at)


def test_stop_after_the_first_batch_sends_nothing_more() -> None:
    with Emulator() as bento:
        bento.add_faults([{"failed": 1}])  # Bento refuses one of the first events
        at = at_send_panel(bento, people(120))
        at.number_input(key="upload_canary_size").set_value(5).run()
        at.checkbox(key="upload_confirm").check().run()
        at.button(key="upload_canary").click().run()
        no_errors_on_screen(at)
        assert len(bento.events()) == 4
        assert any("did not record all of the first batch" in w for w in texts(at.warning))
        assert buttons(at)["upload_send"] == "Send the rest: 116 events"  # the refused one too
        at.button(key="upload_stop_rest").click().run()
        no_errors_on_screen(at)
        assert any("You stopped after the first batch" in i for i in texts(at.info))
        assert "upload_send" not in buttons(at)
        assert len(bento.events()) == 4


def test_no_first_batch_for_the_sandbox_or_a_small_live_send() -> None:
    at = at_send_panel(None, people(120))
    assert "upload_canary" not in buttons(at)
    assert buttons(at)["upload_send"] == "Send 120 events"
    with Emulator() as bento:
        at = at_send_panel(bento, people(100))
        assert "upload_canary" not in buttons(at)


def test_events_dated_in_the_last_days_get_a_backfill_warning() -> None:
    yesterday = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d %H:%M")
    at = at_send_panel(None, people(3, date=yesterday))
    assert any("dated in the last 3 days" in w and "start automations" in w
               for w in texts(at.warning))
    at = at_send_panel(None, people(3))  # November 2024: history, no warning
    assert not [w for w in texts(at.warning) if "last 3 days" in w]


def test_backfill_warning_counts_only_the_recent_dates() -> None:
    now = pd.Timestamp("2026-12-01 12:00", tz="UTC")
    dates = pd.Series(["2026-11-29T13:00:00Z", "2026-11-20T10:00:00Z", "", "2026-12-01T09:00:00Z"])
    warning = backfill_warning(dates, now)
    assert warning.startswith("2 of the 4 events are dated in the last 3 days")
    assert "29 Nov 2026 to 01 Dec 2026" in warning
    assert backfill_warning(dates[1:3], now) == ""
    assert backfill_warning(pd.Series([], dtype=object), now) == ""


def test_copy_as_curl_shows_the_first_batch_without_the_keys() -> None:
    with Emulator() as bento:
        at = at_send_panel(bento, people(3))
        assert not [c for c in at.code if "curl" in c.value]
        at.toggle(key="upload_curl").set_value(True).run()
        command = next(c.value for c in at.code if c.value.startswith("curl"))
        assert '-u "$BENTO_PUBLISHABLE_KEY:$BENTO_SECRET_KEY"' in command
        assert command.count('"email":') == 3 and "u2@example.com" in command
        shown = screen_text(at)
        assert bento.credentials.secret_key not in shown
        assert bento.credentials.publishable_key not in shown


def test_batches_without_an_answer_show_a_dash_and_the_progress_agrees() -> None:
    at = upload(open_app("upload"), "attendees.csv", ATTENDEES)
    at.radio(key="upload_choice").set_value("send_valid").run()
    sandbox().add_faults([{"status": 401}])  # the run stops after its first batch
    at.number_input(key="upload_batch_size").set_value(1).run()
    at.checkbox(key="upload_confirm").check().run()
    at.button(key="upload_send").click().run()
    no_errors_on_screen(at)
    report = next(d.value for d in at.dataframe if "batch" in d.value.columns)
    assert report["state"].tolist() == ["rejected", "skipped", "skipped"]
    assert report["results"].tolist() == ["-", "-", "-"]
    assert "None" not in report.to_string()
    progress = at.get("progress")[0].proto.text
    assert progress == "Done: 3 batches: 1 rejected, 2 skipped."
    at.switch_page("app_pages/history.py").run()  # the history's batch table too
    batches = next(d.value for d in at.dataframe if "sends" in d.value.columns)
    assert batches["results"].tolist() == ["-", "-", "-"]


def test_the_history_names_the_sheet_and_the_event_type() -> None:
    sheet = read_table(b"email\nann@example.com\n", name="signups.csv")
    mapping = suggest_mapping(sheet.columns)
    mapping = type(mapping)(columns=mapping.columns, default_type="signed_up")
    valid = validate_table(apply_mapping(sheet, mapping)).valid
    from bento_ui.ledger import Ledger

    with Ledger() as ledger:
        origin = Origin(name="signups.xlsx", options=source_options(mapping, sheet="Signups"),
                        target="sandbox")
        plan_send(valid, sandbox().credentials, ledger=ledger, origin=origin).send()
    at = open_app("history")
    runs = next(d.value for d in at.dataframe if "event type" in d.value.columns)
    assert runs["sheet"].tolist() == ["Signups"]
    assert runs["event type"].tolist() == ["signed_up"]
    captions = [c.replace("\\_", "_") for c in texts(at.caption)]  # markdown-escaped or not
    assert "Sheet: Signups · Event type: signed_up" in captions


def test_sheet_and_type_read_from_a_run_s_options() -> None:
    options = {"sheet": None, "mapping": {"columns": {"Email": "email", "Event": "type"},
                                          "default_type": "signup"}}
    assert run_sheet_and_type(options) == ("", "column Event, else signup")
    assert run_sheet_and_type({"origin": "app compose"}) == ("", "")


def test_while_sending_the_progress_sentence_names_the_batch_the_table_marks() -> None:
    from bento_ui.outcomes import BatchState, Outcome
    from bento_ui.sending import BatchResult
    from ui.logic import SendJob, progress_text, with_dashes

    sheet = read_table(people(3), name="people.csv")
    valid = validate_table(apply_mapping(sheet, suggest_mapping(sheet.columns))).valid
    plan = plan_send(valid, sandbox().credentials, ledger=None, batch_size=1)
    job = SendJob.start(plan, source="people.csv", table=valid, target="the sandbox")
    job.record(BatchResult(plan.batches[0], 3, Outcome(BatchState.ACCEPTED, 200, 1, 0, 1)))
    table = with_dashes(job.table_view())
    assert table["state"].tolist() == ["accepted", "sending", "waiting"]
    assert table["results"].tolist() == ["1", "-", "-"]
    share, text = progress_text(job, job.results[1])
    assert text == "Batch 1: accepted. 1 of 3 batches answered; sending batch 2..."
    assert share == pytest.approx(1 / 3)
