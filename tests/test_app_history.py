"""The Send history page: past runs, their batches, and resuming an interrupted send.

Interrupted runs are made with the library, the way an interrupted send leaves them: the
send ledger has the run with its first batches answered and the rest `waiting` (the
window was closed, the process killed), or a batch whose answer never came (`unknown`).
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterator

import pytest
from streamlit.testing.v1 import AppTest
from test_app_helpers import (
    isolated,
    metrics,
    no_errors_on_screen,
    open_app,
    screen_text,
    texts,
)
from test_app_upload import ATTENDEES, attendees, send_valid

from bento_ui import (
    Emulator,
    apply_mapping,
    plan_send,
    read_table,
    sandbox,
    suggest_mapping,
    validate,
)
from bento_ui.config import Credentials
from bento_ui.ledger import Ledger, file_hash
from bento_ui.resume import plan_resume, source_options
from bento_ui.sending import BatchResult, Origin, SendReport
from ui.logic import SendJob, outbox_table

PEOPLE = b"email,type\n" + b"".join(b"u%d@example.com,signed_up\n" % i for i in range(6))


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from isolated(monkeypatch)


def interrupted_run(
    credentials: Credentials, *, unknown: bool = False, target: str = "sandbox"
) -> str:
    """A run of `data` in batches of 2: batch 1 accepted, batch 2 unknown (when asked) and
    the rest never sent, as a send cut short leaves it."""
    sheet = read_table(io.BytesIO(PEOPLE), name="people.csv")
    mapping = suggest_mapping(sheet.columns)
    valid = validate(apply_mapping(sheet, mapping)).valid
    last = 2 if unknown else 1

    def on_batch(result: BatchResult) -> None:
        if result.number == 1 and unknown:
            sandbox().add_faults([{"drop": "after_body"}])  # recorded, then no answer
        if result.number == last:
            raise _Cut  # the window was closed, the process killed

    origin = Origin(name="people.csv", file_hash=file_hash(PEOPLE),
                    options=source_options(mapping, batch_size=2), target=target)
    report = SendReport()
    with Ledger() as ledger:
        plan = plan_send(valid, credentials, ledger=ledger, origin=origin, batch_size=2)
        with pytest.raises(_Cut):
            plan.send(on_batch=on_batch, on_start=lambda r: setattr(report, "run_id", r.run_id))
    assert report.run_id is not None
    return report.run_id


class _Cut(Exception):
    pass


def resume_with(at: AppTest, run: str, data: bytes = PEOPLE, name: str = "people.csv") -> AppTest:
    at.file_uploader(key=f"history_file_{run}").set_value((name, data, "text/csv"))
    at.run()
    no_errors_on_screen(at)
    return at


def batch_states(at: AppTest) -> list[str]:
    """The batch table of the chosen run (the ledger's view)."""
    table = next(d.value for d in at.dataframe if "sends" in d.value.columns)
    return list(table["state"])


def emails() -> Counter[str]:
    return Counter(e["email"] for e in sandbox().events())


def test_no_sends_yet() -> None:
    at = open_app("history")
    assert at.title[0].value == "Send history"
    assert any("No sends yet" in i for i in texts(at.info))
    no_errors_on_screen(at)


def test_a_sandbox_send_appears_with_its_batches() -> None:
    send_valid(attendees(), batch_size=2)
    at = open_app("history")
    runs = next(d.value for d in at.dataframe if "where" in d.value.columns)
    assert runs["state"].tolist() == ["finished"]
    assert runs["where"].tolist() == ["the sandbox"]
    assert runs["source_name"].tolist() == ["attendees.csv"]
    assert runs[["events", "recorded", "unknown", "not sent"]].iloc[0].tolist() == [3, 3, 0, 0]
    table = next(d.value for d in at.dataframe if "sends" in d.value.columns)
    assert table["rows"].tolist() == ["2-3", "8"]
    assert table["state"].tolist() == ["accepted", "accepted"]
    assert table["results"].tolist() == ["2", "1"]  # as shown: a count, or - before the answer
    assert metrics(at)["Recorded"] == "3"
    assert "attendees.csv to the sandbox" in " ".join(texts(at.markdown))
    labels = [b.label for b in at.download_button]
    assert "Download the runs (CSV)" in labels and "Download the batches (CSV)" in labels
    assert any("nothing to resume" in s for s in texts(at.success))


def test_runs_are_listed_newest_first_and_can_be_picked() -> None:
    first = interrupted_run(sandbox().credentials)
    send_valid(attendees())
    at = open_app("history")
    runs = next(d.value for d in at.dataframe if "where" in d.value.columns)
    assert runs["source_name"].tolist() == ["attendees.csv", "people.csv"]
    assert at.selectbox(key="history_run").value != first
    at.selectbox(key="history_run").set_value(first).run()
    assert batch_states(at) == ["accepted", "waiting", "waiting"]
    assert "Interrupted" in " ".join(texts(at.markdown))


def test_resume_sends_only_the_batches_bento_did_not_record() -> None:
    run = interrupted_run(sandbox().credentials)
    assert emails() == Counter({"u0@example.com": 1, "u1@example.com": 1})
    at = open_app("history")
    assert batch_states(at) == ["accepted", "waiting", "waiting"]
    assert not at.checkbox  # nothing to confirm before the file is back
    at = resume_with(at, run)
    assert "Batch 1 (2 events) was accepted before: never sent again." in texts(at.info)
    assert "**4 events** in **2 batches** to send now." in texts(at.markdown)
    assert at.button(key="history_resume").disabled
    at.checkbox(key="history_confirm").check().run()
    at.button(key="history_resume").click().run()
    no_errors_on_screen(at)
    assert "All 6 events were recorded by the sandbox." in texts(at.success)
    assert emails() == Counter({f"u{i}@example.com": 1 for i in range(6)})  # none twice
    assert batch_states(at) == ["accepted"] * 3
    at.button(key="history_close").click().run()
    assert any("nothing to resume" in s for s in texts(at.success))
    runs = next(d.value for d in at.dataframe if "where" in d.value.columns)
    assert runs["state"].tolist() == ["finished"]


def test_unknown_batches_are_resent_only_when_confirmed() -> None:
    run = interrupted_run(sandbox().credentials, unknown=True)
    assert len(sandbox().events()) == 4  # the emulator recorded batch 2 before dropping
    at = resume_with(open_app("history"), run)
    warning = " ".join(texts(at.warning))
    assert "Batch 2 (rows 4-5, 2 events) got no answer" in warning
    assert "**2 events** in **1 batch** to send now." in texts(at.markdown)
    at.checkbox(key="history_confirm").check().run()
    at.button(key="history_resume").click().run()
    assert emails()["u2@example.com"] == 1  # the unknown batch was left alone
    assert len(sandbox().events()) == 6
    report = next(d.value for d in at.dataframe
                  if "batch" in d.value.columns and "sends" not in d.value.columns)
    assert report["state"].tolist() == ["accepted", "unknown", "accepted"]

    # A second resume, this time confirming the unknown batch.
    at.button(key="history_close").click().run()
    at = resume_with(at, run)
    assert "**0 events**" not in screen_text(at)
    assert any("Nothing is left to send unless" in i for i in texts(at.info))
    at.checkbox(key="history_resend_unknown").check().run()
    assert "**2 events** in **1 batch** to send now." in texts(at.markdown)
    at.checkbox(key="history_confirm").check().run()
    at.button(key="history_resume").click().run()
    assert emails()["u2@example.com"] == 2  # the person chose to send it again
    assert batch_states(at) == ["accepted"] * 3


def test_a_changed_file_is_refused_with_the_reason() -> None:
    run = interrupted_run(sandbox().credentials)
    changed = PEOPLE.replace(b"u5@", b"someone.else@")
    at = resume_with(open_app("history"), run, changed)
    errors = " ".join(texts(at.error))
    assert "has changed since it was sent" in errors and "SHA-256" in errors
    assert "history_resume" not in [b.key for b in at.button]
    assert len(sandbox().events()) == 2


def test_a_run_to_another_site_is_not_resumed_here() -> None:
    with Emulator() as other:
        interrupted_run(other.credentials, target="server")
    at = open_app("history")
    info = " ".join(texts(at.info))
    assert "set the keys of the run's site to resume it" in info
    assert not [u for u in at.get("file_uploader")]


def test_a_compose_run_cannot_be_rebuilt_from_a_file() -> None:
    at = open_app()
    at.text_input(key="compose_custom_type").input("webinar_attended")
    at.text_input(key="compose_email").input("jane@example.com").run()
    at.button(key="compose_add").click().run()
    sandbox().add_faults([{"status": 422}])
    at.checkbox(key="compose_confirm").check().run()
    at.button(key="compose_send").click().run()
    at.switch_page("app_pages/history.py").run()
    assert batch_states(at) == ["rejected"]
    assert any("not a file the app can check again" in i for i in texts(at.info))


def test_a_stopped_upload_with_fixed_rows_is_resumed_from_the_file() -> None:
    """Cells fixed in the app are kept with the run, so the resume rebuilds those rows."""
    at = attendees()
    at.session_state[str(at.session_state["upload_fix_key"])] = {
        "edited_rows": {0: {"Email Address": "carol@example.com"}},
        "added_rows": [], "deleted_rows": []}
    at.run()
    sandbox().add_faults([{"status": 401}])  # refused keys stop the run at batch 1
    at = send_valid(at, batch_size=2)
    assert len(sandbox().events()) == 0

    at = open_app("history")  # another session: the fixes are gone from memory
    assert batch_states(at) == ["rejected", "skipped"]
    run = str(at.selectbox(key="history_run").value)
    assert "Stopped early" in " ".join(texts(at.markdown))
    at = resume_with(at, run, ATTENDEES, "attendees.csv")
    at.checkbox(key="history_confirm").check().run()
    at.button(key="history_resume").click().run()
    no_errors_on_screen(at)
    assert [e["email"] for e in sandbox().events()] == [
        "jane@example.com", "bob@example.com", "carol@example.com", "frank@example.com"]
    assert batch_states(at) == ["accepted", "accepted"]


def test_a_paused_send_does_not_resend_what_another_send_of_its_run_did() -> None:
    """A send paused on one page (the person left it) and resumed elsewhere meanwhile (the
    history page, the CLI): when the page comes back it takes the ledger's outcomes."""
    at = open_app()
    for email in ("a@example.com", "b@example.com", "c@example.com"):
        at.text_input(key="compose_custom_type").input("webinar_attended")
        at.text_input(key="compose_email").input(email).run()
        at.button(key="compose_add").click().run()
    box = outbox_table([entry["row"] for entry in at.session_state["compose_outbox"]])
    creds = sandbox().credentials
    with Ledger() as ledger:
        # SendJob.plan/begin are replaced by SendJob.start(plan, ...).
        plan = plan_send(box, creds, ledger=ledger, origin=Origin(name="Compose outbox"),
                         batch_size=1)
        job = SendJob.start(plan, source="outbox-1", table=box, target="the sandbox")

        def on_start(report: SendReport) -> None:  # what the page does
            job.run_id = report.run_id
            job.plan = None

        def on_batch(result: BatchResult) -> None:
            job.record(result)
            if result.number == 1:
                raise _Cut  # the page stopped here; then, elsewhere:

        with pytest.raises(_Cut):
            plan.send(on_batch=on_batch, on_start=on_start)
        assert job.run_id is not None
        sandbox().add_faults([{"drop": "after_body"}])
        plan_resume(job.run_id, creds, ledger=ledger, table=box).send()
    assert len(sandbox().events()) == 3
    at.session_state["compose_jobs"] = {"outbox-1": [job]}
    at.run()
    no_errors_on_screen(at)
    assert len(sandbox().events()) == 3  # nothing sent twice, the unknown batch included
    report = next(d.value for d in at.dataframe if "batch" in d.value.columns)
    assert report["state"].tolist() == ["accepted", "unknown", "accepted"]
    assert at.button(key="compose_retry_unknown").disabled  # only after a confirmation
