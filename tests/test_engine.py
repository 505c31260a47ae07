"""The one send engine against the emulator over a socket: each event's fate, the guard's
one meaning, resume by batch number, and sends that run at once or lose their ledger."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from bento_ui import Emulator, Ledger, Origin, Resend, plan_resume, plan_send, send
from bento_ui.cli import main
from bento_ui.guard import Held
from bento_ui.ledger import file_hash
from bento_ui.mapping import suggest_mapping
from bento_ui.outcomes import BatchState, RunState
from bento_ui.pipeline import prepare_in_chunks
from bento_ui.resume import source_options


def table(n: int, start: int = 0) -> pd.DataFrame:
    """A valid event table of n rows, indexed by spreadsheet row (2, 3, ...)."""
    return pd.DataFrame(
        {
            "type": ["signup"] * n,
            "email": [f"user{i}@example.com" for i in range(start, start + n)],
            "date": [""] * n,
        },
        index=pd.RangeIndex(start + 2, start + n + 2, name="row"),
    )


@pytest.fixture
def ledger(bento_ui_home: Path) -> Any:
    with Ledger() as book:
        yield book


def keys_of(bento: Emulator) -> dict[str, str]:
    """The environment that sends the CLI to `bento`, as Bento's own keys would."""
    c = bento.credentials
    return {"BENTO_SITE_UUID": c.site_uuid, "BENTO_PUBLISHABLE_KEY": c.publishable_key,
            "BENTO_SECRET_KEY": c.secret_key, "BENTO_API_URL": c.base_url}  # fmt: skip


def use_keys_of(bento: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI, run in-process, sends to `bento`."""
    for name, value in keys_of(bento).items():
        monkeypatch.setenv(name, value)


def recorded(bento: Emulator) -> list[str]:
    return [e["email"] for e in bento.events()]


# --- each event's fate ----------------------------------------------------------------


def test_named_failures_are_reported_with_their_rows_and_kept_in_the_ledger(
    emulator: Emulator, ledger: Ledger
) -> None:
    emulator.add_faults([{"failed": 2}])  # Bento refuses the last two events, by name
    report = send(table(5), emulator.credentials, ledger=ledger, batch_size=5)
    [result] = report.results
    assert result.state == BatchState.PARTIAL
    assert (result.results, result.failed) == (3, 2)
    assert [(f.row, f.email) for f in report.failures] == [
        (5, "user3@example.com"), (6, "user4@example.com"),
    ]  # fmt: skip
    assert all(f.error for f in report.failures)
    assert result.uncertain_events == 0  # every failure is named: nothing is uncertain
    run = ledger.run(report.run_id)
    assert [(f.row, f.email) for f in run.failures] == [
        (5, "user3@example.com"), (6, "user4@example.com"),
    ]  # fmt: skip
    assert report.totals == {"events": 5, "recorded": 3, "failed": 2, "unknown": 0,
                             "not sent": 0}  # fmt: skip


def test_a_streamed_send_keeps_outcomes_and_named_failures_not_the_events(
    emulator: Emulator, tmp_path: Path
) -> None:
    # Before, the report kept every batch's events to the end: a dry run of a 5M-row file
    # peaked at 6.9 GB. Now a batch is let go once answered; its failures are named first.
    path = tmp_path / "people.csv"
    path.write_text("Email Address,Event\n" + "".join(
        f"user{i}@example.com,signup\n" for i in range(30)), encoding="utf-8")  # fmt: skip
    mapping = suggest_mapping(["Email Address", "Event"])
    prepared = prepare_in_chunks(path, mapping, chunk_rows=10)
    emulator.add_faults([{"failed": 1}])
    report = plan_send(prepared, emulator.credentials, ledger=None, batch_size=10).send()
    assert [r.state for r in report.results] == ["partial", "accepted", "accepted"]
    assert [(f.row, f.email) for f in report.failures] == [(11, "user9@example.com")]
    assert [r.batch.size for r in report.results] == [10, 10, 10]
    for result in report.results:
        with pytest.raises(LookupError):
            result.batch.events[0]


def test_sending_the_same_table_again_sends_exactly_the_named_failures(
    emulator: Emulator, ledger: Ledger
) -> None:
    emulator.add_faults([{"failed": 2}])
    send(table(5), emulator.credentials, ledger=ledger, batch_size=5)
    again = plan_send(table(5), emulator.credentials, ledger=ledger)
    assert [h.reason for h in again.held_back] == [Held.SENT_BEFORE]
    assert again.held_back[0].rows == (2, 3, 4)
    report = again.send()
    assert [r.batch.rows for r in report.results] == [(5, 6)]
    assert recorded(emulator).count("user3@example.com") == 1
    assert len(recorded(emulator)) == 5  # every event once


def test_more_than_20_failures_leaves_the_unnamed_ones_uncertain(
    emulator: Emulator, ledger: Ledger
) -> None:
    emulator.add_faults([{"failed": 30}])  # Bento names at most 20
    report = send(table(40), emulator.credentials, ledger=ledger, batch_size=40)
    [result] = report.results
    assert (result.results, result.failed, len(result.failures)) == (10, 30, 20)
    assert result.uncertain_events == 20  # 40 events, 20 named: the others may be either
    again = plan_send(table(40), emulator.credentials, ledger=ledger)
    reasons = {h.reason: h.events for h in again.held_back}
    assert reasons == {Held.UNCERTAIN_BEFORE: 20}
    assert again.events == 20  # the named failures go again
    assert plan_send(table(40), emulator.credentials, ledger=ledger,
                     resend=Resend(resend_unknown=True)).events == 40  # fmt: skip


def test_a_422_in_the_middle_of_a_run_fails_its_events_and_the_run_goes_on(
    emulator: Emulator, ledger: Ledger
) -> None:
    bad = table(6)
    bad.loc[4:5, "email"] = "nobody@localhost"  # the emulator refuses both: 422
    report = send(bad, emulator.credentials, ledger=ledger, batch_size=2)
    states = [r.state for r in report.results]
    assert states == [BatchState.ACCEPTED, BatchState.REJECTED, BatchState.ACCEPTED]
    middle = report.results[1]
    assert (middle.status, middle.results, middle.failed) == (422, 0, 2)
    assert [f.row for f in middle.failures] == [4, 5]
    assert middle.uncertain_events == 0  # refused, not "maybe recorded"
    assert not report.stopped
    assert report.totals["failed"] == 2 and report.totals["recorded"] == 4


@pytest.mark.parametrize(
    "answer",
    ['{"results": 20, "failed": 3}', '{"results": 2, "failed": 1}',
     '{"results": 1, "failed": 1, "errors": [{"index": 7, "error": "x"}]}'],
)  # fmt: skip
def test_counts_that_contradict_the_batch_leave_it_unknown(
    emulator: Emulator, ledger: Ledger, answer: str
) -> None:
    emulator.add_faults([{"body": answer}])
    report = send(table(2), emulator.credentials, ledger=ledger, batch_size=2)
    [result] = report.results
    assert result.state == BatchState.UNKNOWN
    assert "contradicts" in result.message or "expected counts" in result.message
    t = report.totals
    assert t["recorded"] + t["failed"] + t["unknown"] + t["not sent"] == t["events"] == 2


# --- the guard's one meaning ----------------------------------------------------------


def _uncertain_and_accepted(emulator: Emulator, ledger: Ledger) -> None:
    """Rows 2-3 accepted; rows 4-5 in a batch whose answer was lost."""
    emulator.add_faults([{}, {"drop": "after_body"}])
    send(table(4), emulator.credentials, ledger=ledger, batch_size=2)


@pytest.mark.parametrize(
    ("flags", "resend", "sent"),
    [([], Resend(), 0), (["--resend-unknown"], Resend(resend_unknown=True), 2),
     (["--send-again"], Resend(send_again=True), 4)],
)  # fmt: skip
def test_send_again_and_resend_unknown_mean_the_same_in_the_cli_and_the_library(
    emulator: Emulator, ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], flags: list[str], resend: Resend, sent: int,
) -> None:
    _uncertain_and_accepted(emulator, ledger)
    assert plan_send(table(4), emulator.credentials, ledger=ledger, resend=resend).events == sent
    csv = tmp_path / "four.csv"
    table(4).to_csv(csv, index=False)
    use_keys_of(emulator, monkeypatch)
    before = len(emulator.events())
    main(["send", str(csv), *flags])
    assert len(emulator.events()) - before == sent


# --- resume ----------------------------------------------------------------------------


def test_resume_of_a_streamed_run_with_a_numbering_gap_and_an_early_stop_finishes_it(
    emulator: Emulator, ledger: Ledger, tmp_path: Path
) -> None:
    csv = tmp_path / "big.csv"
    table(30).to_csv(csv, index=False)
    # Rows 2-6 were sent before in another run: the stream's first batch is held back
    # whole, so the run's batch numbers start at 2.
    send(table(5), emulator.credentials, ledger=ledger)
    mapping = suggest_mapping(["type", "email", "date"])
    prepared = prepare_in_chunks(csv, mapping, chunk_rows=7)
    plan = plan_send(prepared, emulator.credentials, ledger=ledger, batch_size=5,
                     origin=Origin(csv.name, csv, file_hash(csv), source_options(mapping)))

    def killed_after_batch_3(result: Any) -> None:
        if result.number == 3:
            raise KeyboardInterrupt  # the process ends here, as with Ctrl+C or a kill

    with pytest.raises(KeyboardInterrupt):
        plan.send(on_batch=killed_after_batch_3)
    [run] = [r for r in ledger.runs() if r.source_name == "big.csv"]
    assert [b.number for b in run.batches] == [2, 3]  # the gap: batch 1 held back whole
    assert not run.planning_done and run.state == RunState.INTERRUPTED
    report = plan_resume(run.id, emulator.credentials, ledger=ledger).send()
    assert sorted(recorded(emulator)) == sorted(f"user{i}@example.com" for i in range(30))
    assert len(recorded(emulator)) == 30  # each event once
    assert ledger.run(run.id).state == RunState.FINISHED
    assert {r.state for r in report.results} == {BatchState.ACCEPTED}


def test_history_json_lists_each_batchs_failures(
    emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.add_faults([{"failed": 1}])
    report = send(table(3), emulator.credentials)
    capsys.readouterr()
    assert main(["history", report.run_id or "", "--json"]) == 0
    [run] = json.loads(capsys.readouterr().out)
    assert run["batches"][0]["failures"] == [
        {"row": 4, "email": "user2@example.com", "type": "signup",
         "error": run["batches"][0]["failures"][0]["error"]}
    ]  # fmt: skip


# --- two at once, and a ledger that goes away -----------------------------------------


def test_two_processes_sending_the_same_file_at_once_send_each_event_once(
    emulator: Emulator, tmp_path: Path, bento_ui_home: Path
) -> None:
    csv = tmp_path / "sixty.csv"
    table(60).to_csv(csv, index=False)
    env = {**os.environ, **keys_of(emulator), "BENTO_UI_HOME": str(bento_ui_home)}
    emulator.add_faults([{"delay": 0.05}] * 20)
    command = [sys.executable, "-m", "bento_ui.cli", "send", str(csv), "--batch-size", "5"]
    for _ in range(2):
        both = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
                for _ in range(2)]  # fmt: skip
        outputs = [p.communicate(timeout=60)[0] for p in both]
        assert len(recorded(emulator)) == 60, outputs


def test_a_ledger_deleted_while_sending_stops_the_send_and_says_so(
    emulator: Emulator, ledger: Ledger
) -> None:
    def delete_after_first(result: Any) -> None:
        if result.number == 1:
            os.remove(ledger.path)

    report = plan_send(table(6), emulator.credentials, ledger=ledger, batch_size=2).send(
        on_batch=delete_after_first
    )
    assert "deleted" in report.stopped
    assert [r.state for r in report.results] == [
        BatchState.ACCEPTED, BatchState.SKIPPED, BatchState.SKIPPED,
    ]  # fmt: skip
    assert len(emulator.events()) == 2


@pytest.fixture
def small_disk(tmp_path: Path) -> Any:
    """A 2 MB tmpfs (needs root, as CI has): a disk that fills up for real."""
    where = tmp_path / "disk"
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(where)],
                          capture_output=True)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_full_disk_stops_the_send_before_the_next_request_and_says_what_is_known(
    emulator: Emulator, small_disk: Path
) -> None:
    with Ledger(small_disk / "ledger.sqlite3") as ledger:
        plan = plan_send(table(300), emulator.credentials, ledger=ledger, batch_size=1)

        def fill_the_disk(result: Any) -> None:
            if result.number == 1:
                free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
                (small_disk / "filler").write_bytes(b"x" * max(0, free - 24 * 1024))

        report = plan.send(on_batch=fill_the_disk)
    assert "could not be written" in report.stopped
    sent = [r for r in report.results if r.state == BatchState.ACCEPTED]
    assert len(emulator.events()) == len(sent) < 300  # stopped: nothing sent unrecorded
    assert {r.state for r in report.results} == {BatchState.ACCEPTED, BatchState.SKIPPED}
    t = report.totals
    assert t["recorded"] + t["not sent"] == t["events"] == 300
    (small_disk / "filler").unlink()
    with Ledger(small_disk / "ledger.sqlite3") as ledger:
        run = ledger.run(report.run_id or "")
        known = {b.number for b in run.batches if b.state == BatchState.ACCEPTED}
        # What the ledger does not know it says: the batches the report names, unknown.
        assert known | set(report.unwritten) >= {r.number for r in sent}


# --- waiting and pacing (issue 14) ----------------------------------------------------


def test_a_huge_retry_after_is_capped_and_said(emulator: Emulator) -> None:
    from bento_ui.client import BentoClient

    emulator.add_faults([{"status": 429, "retry_after": 86400}])
    slept: list[float] = []
    said: list[str] = []
    client = BentoClient(emulator.credentials, requests_per_minute=None, sleep=slept.append,
                         on_wait=lambda seconds, why: said.append(why))  # fmt: skip
    report = plan_send(table(2), emulator.credentials, ledger=None).send(client=client)
    assert [r.state for r in report.results] == [BatchState.ACCEPTED]
    assert slept == [120.0]
    assert said == [
        "Bento is rate-limiting requests (HTTP 429): it asked to wait 86,400 s; waiting 120 s, "
        "the longest this tool waits, then trying again (attempt 2 of 5)."
    ]


def test_the_rate_limit_advice_names_an_option_that_exists(
    emulator: Emulator, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from bento_ui.client import BentoClient

    emulator.add_faults([{"status": 429}] * 5)
    client = BentoClient(emulator.credentials, requests_per_minute=None, sleep=lambda s: None)
    [result] = plan_send(table(1), emulator.credentials, ledger=None).send(client=client).results
    assert "--rate" in result.message
    csv = tmp_path / "one.csv"
    table(1).to_csv(csv, index=False)
    with pytest.raises(SystemExit) as exit_:
        main(["send", str(csv), "--rate", "0"])
    assert exit_.value.code == 2
    assert "--rate: must be a number of requests a minute" in capsys.readouterr().err


def test_a_batch_size_given_to_a_resume_is_said_to_be_unused(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    use_keys_of(emulator, monkeypatch)
    csv = tmp_path / "four.csv"
    table(4).to_csv(csv, index=False)
    emulator.add_faults([{}, {"status": 400}])  # batch 2 refused whole: nothing recorded
    main(["send", str(csv), "--batch-size", "2"])
    run = Ledger().runs()[0]
    capsys.readouterr()
    main(["send", "--resume", run.id, "--batch-size", "3"])
    out = capsys.readouterr().out
    assert "--batch-size 3 is not used: a resume sends the run's own batches" in out
    assert len(emulator.events()) == 4


# --- the same rows of the same file, read with other options (issue 9) -----------------


def test_a_file_sent_again_with_another_time_zone_is_held_back_by_row(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    use_keys_of(emulator, monkeypatch)
    dated = table(3)
    dated["date"] = "2024-11-20 14:00"
    csv = tmp_path / "dated.csv"
    dated.to_csv(csv, index=False)
    assert main(["send", str(csv)]) == 0
    capsys.readouterr()
    assert main(["send", str(csv), "--timezone", "Europe/Berlin"]) == 1  # held: maybe twice
    out = capsys.readouterr().out
    assert "3 rows of this file were sent to this site" in out
    assert "read with other options then" in out
    assert "pass --send-again to send them all the same" in out
    assert len(emulator.events()) == 3  # nothing twice
    assert main(["send", str(csv), "--timezone", "Europe/Berlin", "--send-again"]) == 0
    assert [e["date"] for e in emulator.events()][3:] == ["2024-11-20T13:00:00Z"] * 3


def test_a_streamed_send_killed_with_sigkill_is_resumed_each_event_once(
    emulator: Emulator, tmp_path: Path, bento_ui_home: Path
) -> None:
    import signal

    csv = tmp_path / "sixty.csv"
    table(60).to_csv(csv, index=False)
    env = {**os.environ, **keys_of(emulator), "BENTO_UI_HOME": str(bento_ui_home),
           "BENTO_UI_STREAM_BYTES": "1"}
    emulator.add_faults([{"delay": 0.2}] * 40)
    command = [sys.executable, "-m", "bento_ui.cli", "send", str(csv), "--batch-size", "5"]
    sender = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    assert sender.stdout is not None
    run_id = ""
    for line in sender.stdout:  # bounded: the file has 12 batches
        if line.startswith("Run "):
            run_id = line.split()[1].rstrip(":")
        if line.startswith("batch 3/"):
            os.kill(sender.pid, signal.SIGKILL)
            break
    sender.wait(timeout=30)
    with Ledger() as ledger:
        killed = ledger.run(run_id)
        assert killed.state == RunState.INTERRUPTED and not killed.planning_done
        assert len(killed.batches) < 12  # the rest of the file was never planned
        report = plan_resume(run_id, emulator.credentials, ledger=ledger).send()
        final = ledger.run(run_id)
    emails = recorded(emulator)
    assert len(emails) == len(set(emails))  # nothing twice
    unknown = {e for r in report.results if r.state == BatchState.UNKNOWN
               for e in (ev["email"] for ev in r.batch.events)}  # fmt: skip
    everyone = {f"user{i}@example.com" for i in range(60)}
    assert set(emails) | unknown == everyone  # nothing lost: what is not recorded is said
    assert final.planning_done and final.of == 12


def test_history_of_a_sandbox_run_gives_advice_that_works(
    emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    from bento_ui.client import BentoClient

    emulator.add_faults([{}] + [{"status": 503}] * 5)
    client = BentoClient(emulator.credentials, requests_per_minute=None, sleep=lambda s: None)
    with Ledger() as ledger:
        plan = plan_send(table(4), emulator.credentials, ledger=ledger, batch_size=2,
                         origin=Origin("four.csv", target="sandbox"))  # fmt: skip
        report = plan.send(client=client)
    assert [r.state for r in report.results] == [BatchState.ACCEPTED, BatchState.FAILED]
    capsys.readouterr()
    assert main(["history", report.run_id or ""]) == 0
    out = capsys.readouterr().out
    assert "--resume" not in out  # a sandbox run refuses it
    assert "it cannot be resumed. Send the file again." in out
