"""Interrupted sends, resumed: nothing recorded twice without consent, nothing lost.

Every test checks the final report, what the emulator recorded, and the invariant
events in = recorded + failed + unknown + not sent.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from cli_support import bento_env
from cli_support import run as run_cli

from bento_ui import Emulator, send
from bento_ui.client import BentoClient
from bento_ui.config import Credentials
from bento_ui.errors import LedgerError
from bento_ui.guard import Resend
from bento_ui.ledger import Ledger, RunRecord
from bento_ui.payloads import build_events
from bento_ui.resume import plan_resume, rebuild_table, validate_source
from bento_ui.sending import BatchResult, Origin, SendReport

# --- helpers -------------------------------------------------------------------------------


def write_csv(path: Path, n: int, start: int = 0) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["Email Address", "Event", "First Name"])
        for i in range(start, start + n):
            out.writerow([f"user{i}@example.com", "webinar_attended", f"User {i}"])
    return path


def cli(*args: str, emulator: Emulator | None = None, wait: bool = True) -> Any:
    """`bento-ui ARGS` in this process; with `wait=False` a real process to kill."""
    if wait:
        return run_cli(*args, emulator=emulator)
    return subprocess.Popen(
        [sys.executable, "-m", "bento_ui", *args], env=bento_env(emulator),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def cli_process(*args: str) -> subprocess.CompletedProcess[str]:
    """`bento-ui ARGS` as a process of its own: its sandbox ends with it."""
    return subprocess.run([sys.executable, "-m", "bento_ui", *args], env=bento_env(None),
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def emails(emulator: Emulator) -> Counter[str]:
    return Counter(e["email"] for e in emulator.events())


def adds_up(totals: dict[str, int], events_in: int) -> None:
    assert totals["events"] == events_in
    parts = totals["recorded"] + totals["failed"] + totals["unknown"] + totals["not sent"]
    assert parts == events_in, totals


def history(run_id: str | None = None) -> list[dict[str, Any]]:
    done = cli("history", "--json", *([run_id] if run_id else []))
    assert done.returncode == 0, done.stderr
    runs: list[dict[str, Any]] = json.loads(done.stdout)
    return runs


def wait_for(condition: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def fast(credentials: Credentials) -> BentoClient:
    return BentoClient(credentials, requests_per_minute=None, sleep=lambda s: None)


# --- the process killed mid-run, then resumed from the CLI -------------------------------


@dataclass
class Killed:
    emulator: Emulator
    file: Path
    run_id: str
    before_kill: Counter[str]


@pytest.fixture
def killed(emulator: Emulator, tmp_path: Path) -> Iterator[Killed]:
    """`bento-ui send` of 40 rows in batches of 10, SIGKILLed while batch 3 is in flight.

    The emulator records batch 3, then holds its answer back (a `delay` fault): the
    process dies not knowing whether Bento got it. Batch 4 is never sent.
    """
    file = write_csv(tmp_path / "attendees.csv", 40)
    emulator.add_faults([{}, {}, {"delay": 120}])
    proc = cli("send", str(file), "--batch-size", "10", emulator=emulator, wait=False)
    try:
        wait_for(lambda: len(emulator.events()) == 30, "batch 3 to reach the emulator")
        with Ledger() as ledger:
            wait_for(lambda: ledger.runs() != [], "the run to be written")
            run_id = ledger.runs()[0].id
            wait_for(
                lambda: ledger.run(run_id).batches[2].state == "sending",
                "batch 3 to be written as sending",
            )
    finally:
        proc.kill()  # SIGKILL: no cleanup, no last words
        proc.wait(timeout=30)
    before = emails(emulator)
    yield Killed(emulator, file, run_id, before)


def test_a_killed_run_shows_what_it_knows(killed: Killed) -> None:
    (run,) = history()
    assert run["id"] == killed.run_id
    assert run["state"] == "interrupted"
    assert [b["state"] for b in run["batches"]] == ["accepted", "accepted", "unknown", "waiting"]
    assert "Bento may have recorded it" in run["batches"][2]["message"]
    assert run["source_path"] == str(killed.file.resolve())
    adds_up(run["totals"], 40)
    assert run["totals"]["recorded"] == 20 and run["totals"]["unknown"] == 10

    text = cli("history", killed.run_id)
    assert "interrupted" in text.stdout
    assert f"bento-ui send --resume {killed.run_id}` sends it." in text.stdout
    assert "Batch 3 was maybe recorded" in text.stdout and "--resend-unknown" in text.stdout


def test_resume_sends_only_what_was_never_sent_then_the_unknown_batch_on_request(
    killed: Killed,
) -> None:
    emulator = killed.emulator
    assert sum(killed.before_kill.values()) == 30  # batches 1-3, each once

    done = cli("send", "--resume", killed.run_id, emulator=emulator)
    assert done.returncode == 1, done.stdout + done.stderr  # batch 3 is still unknown
    out = done.stdout
    assert "Batches 1-2 were accepted before: not resent." in out
    assert "Batch 3 (rows 22-31, 10 events) ended unknown" in out
    assert "Not resent: check Bento, then add --resend-unknown" in out
    assert "batch 4/4  rows 32-41  10 events  results 10, failed 0  accepted" in out
    assert "Total: 40 events: 30 recorded by Bento, 0 failed, 10 unknown, 0 not sent." in out
    assert set(emails(emulator).values()) == {1}  # nothing recorded twice
    assert sum(emails(emulator).values()) == 40
    (run,) = history()
    assert [b["state"] for b in run["batches"]] == ["accepted", "accepted", "unknown", "accepted"]
    assert [b["sends"] for b in run["batches"]] == [1, 1, 1, 1]
    adds_up(run["totals"], 40)

    again = cli("send", "--resume", killed.run_id, "--resend-unknown", emulator=emulator)
    assert again.returncode == 0, again.stdout + again.stderr
    assert ("ended unknown: Bento may have recorded it. Sending it again, as asked "
            "(--resend-unknown).") in again.stdout
    assert "batch 3/4  rows 22-31  10 events  results 10, failed 0  accepted" in again.stdout
    assert "Total: 40 events: 40 recorded by Bento" in again.stdout
    counts = emails(emulator)
    resent = {f"user{i}@example.com" for i in range(20, 30)}
    assert {e for e, n in counts.items() if n == 2} == resent  # with consent, and only those
    (run,) = history()
    assert run["state"] == "finished"
    assert [b["sends"] for b in run["batches"]] == [1, 1, 2, 1]

    nothing = cli("send", "--resume", killed.run_id, emulator=emulator)
    assert nothing.returncode == 0
    # The CLI no longer prints "Nothing left to send.": it says every batch stays as it is.
    assert "Batches 1-4 were accepted before: not resent." in nothing.stdout
    assert "batch 3/4" not in nothing.stdout and "Total: 40 events: 40 recorded" in nothing.stdout
    assert emulator.request_count == 5  # 3 before the kill, batch 4, batch 3 again


def test_sending_the_file_again_skips_what_was_accepted(killed: Killed) -> None:
    emulator = killed.emulator
    done = cli("send", str(killed.file), "--batch-size", "10", emulator=emulator)
    out = done.stdout
    assert "20 of these events were sent to this site on " in out
    assert f"(run {killed.run_id}) and accepted by it. They are skipped: pass --send-again" in out
    assert "10 of these events were sent to this site on " in out
    assert "outcome is unknown" in out and "(rows 22-31)" in out and "--resend-unknown" in out
    assert "batch 1/1  rows 32-41  10 events  results 10, failed 0  accepted" in out
    assert (
        "Total: 40 events: 10 recorded by Bento, 0 failed, 0 unknown, 30 not sent "
        "(30 of them held back by the duplicate guard)." in out
    )
    assert done.returncode == 1  # the unknown events still need the person's decision
    assert set(emails(emulator).values()) == {1}

    # The old run cannot now send batch 4 a second time: another run got it accepted.
    resumed = cli("send", "--resume", killed.run_id, emulator=emulator)
    assert (
        "Batch 4: some of its events were accepted by this site, or are being sent to it, in run"
        in resumed.stdout
    )
    assert set(emails(emulator).values()) == {1}


def test_sending_the_file_again_can_include_the_unknown_events_on_request(
    killed: Killed,
) -> None:
    emulator = killed.emulator
    done = cli(
        "send", str(killed.file), "--batch-size", "10", "--resend-unknown", emulator=emulator
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "20 of these events were sent to this site on " in done.stdout
    assert "outcome is unknown are sent again, as asked (--resend-unknown)" in done.stdout
    assert "batch 1/2  rows 22-31  10 events  results 10, failed 0  accepted" in done.stdout
    assert "batch 2/2  rows 32-41  10 events  results 10, failed 0  accepted" in done.stdout
    counts = emails(emulator)
    assert {e for e, n in counts.items() if n == 2} == {
        f"user{i}@example.com" for i in range(20, 30)
    }
    assert sum(counts.values()) == 50


def test_resume_refuses_a_changed_or_missing_file(killed: Killed) -> None:
    original = killed.file.read_bytes()
    killed.file.write_bytes(original.replace(b"User 35", b"User 3S"))
    changed = cli("send", "--resume", killed.run_id, emulator=killed.emulator)
    assert changed.returncode == 2
    assert "has changed since it was sent" in changed.stderr
    assert "Traceback" not in changed.stderr

    moved = killed.file.with_name("moved.csv")
    moved.write_bytes(original)
    killed.file.unlink()
    gone = cli("send", "--resume", killed.run_id, emulator=killed.emulator)
    assert gone.returncode == 2 and "cannot be read" in gone.stderr
    # The same bytes under another name are accepted when given explicitly.
    given = cli("send", str(moved), "--resume", killed.run_id, emulator=killed.emulator)
    assert given.returncode == 1, given.stderr  # batch 3 still unknown
    assert "batch 4/4" in given.stdout
    assert sum(emails(killed.emulator).values()) == 40


def test_resume_refuses_other_keys_and_the_sandbox(killed: Killed) -> None:
    with Emulator() as other:
        done = cli("send", "--resume", killed.run_id, emulator=other)
        assert done.returncode == 2
        assert "set the keys of the run's site to resume it" in done.stderr
        assert other.request_count == 0
    sandbox = cli("send", "--resume", killed.run_id)
    assert sandbox.returncode == 2


def test_a_sandbox_run_cannot_be_resumed_and_says_why(tmp_path: Path) -> None:
    file = write_csv(tmp_path / "a.csv", 3)
    sent = cli_process("send", str(file))
    assert sent.returncode == 0
    (run,) = history()
    assert run["target"] == "sandbox"
    again = cli("send", "--resume", run["id"])
    assert again.returncode == 2 and "went to a sandbox" in again.stderr


# --- the library: what the app calls ------------------------------------------------------


def valid_table(file: Path) -> pd.DataFrame:
    from bento_ui.mapping import suggest_mapping
    from bento_ui.resume import source_options

    mapping = suggest_mapping(["Email Address", "Event", "First Name"])
    return validate_source(file.read_bytes(), file.name, source_options(mapping)).valid


def test_a_closed_tab_is_resumed_from_the_event_table(emulator: Emulator, tmp_path: Path) -> None:
    """The app's case: the script stops in `on_batch`; the page resumes with its table."""
    file = write_csv(tmp_path / "a.csv", 25)
    valid = valid_table(file)

    class StopScript(Exception):
        pass

    def stop_after_two(result: BatchResult) -> None:
        if result.number == 2:
            raise StopScript

    with pytest.raises(StopScript):
        send(valid, emulator.credentials, batch_size=10, on_batch=stop_after_two,
             origin=Origin(name=file.name))  # fmt: skip
    with Ledger() as ledger:
        (run,) = ledger.runs()
        assert run.state == "interrupted"
        plan = plan_resume(run.id, emulator.credentials, ledger=ledger, table=valid)
        assert [b.number for b in plan.batches] == [3]
        assert [r.number for r in plan.earlier] == [1, 2]
        report = plan.send(client=fast(emulator.credentials))
    assert report.ok and [r.state for r in report.results] == ["accepted"] * 3
    adds_up(report.totals, 25)
    assert set(emails(emulator).values()) == {1} and len(emails(emulator)) == 25


def test_a_run_whose_rows_make_several_events_is_resumed_event_by_event(
    emulator: Emulator,
) -> None:
    # Row 2's tags make three events and batches of two cut through it: the resumed
    # batches are the very events planned (their payload hashes), each sent once.
    from bento_ui import validate

    table = pd.DataFrame(
        {"type": ["$tag", "signup", "$tag"], "email": ["a@x.com", "b@x.com", "c@x.com"],
         "tags": ["vip, news, beta", "pro", "one"]},
        index=pd.RangeIndex(2, 5, name="row"),
    )  # fmt: skip
    valid = validate(table).valid

    class StopScript(Exception):
        pass

    def stop_after_one(result: BatchResult) -> None:
        if result.number == 1:
            raise StopScript

    with pytest.raises(StopScript):
        send(valid, emulator.credentials, batch_size=2, on_batch=stop_after_one)
    with Ledger() as ledger:
        (run,) = ledger.runs()
        plan = plan_resume(run.id, emulator.credentials, ledger=ledger, table=valid)
        assert [b.rows for b in plan.batches] == [(2, 3), (3, 4)]
        report = plan.send(client=fast(emulator.credentials))
    assert report.ok
    adds_up(report.totals, 6)
    sent = [(e["email"], e["type"], e.get("details", {}).get("tag")) for e in emulator.events()]
    assert sorted(sent) == sorted(
        (e["email"], e["type"], e.get("details", {}).get("tag")) for e in build_events(valid)
    )


def test_a_partial_batch_is_resent_only_on_request(emulator: Emulator, tmp_path: Path) -> None:
    file = write_csv(tmp_path / "a.csv", 6)
    # New meaning: only a partial batch whose failures Bento did not all name is uncertain
    # (a named one is settled, see the next test): this one names none.
    emulator.add_faults(
        [{"failed": 1, "errors": []}, {"status": 503}, {"status": 503}, {"status": 503}]
    )
    client = BentoClient(emulator.credentials, requests_per_minute=None, sleep=lambda s: None,
                         max_attempts=3)  # fmt: skip
    first = send(valid_table(file), emulator.credentials, batch_size=3, client=client,
                 origin=Origin(name=file.name, path=file))  # fmt: skip
    assert [r.state for r in first.results] == ["partial", "failed"]
    adds_up(first.totals, 6)
    assert first.run_id is not None
    assert len(emulator.events()) == 2

    with Ledger() as ledger:
        plan = plan_resume(first.run_id, emulator.credentials, ledger=ledger,
                           table=valid_table(file))  # fmt: skip
        assert [b.number for b in plan.batches] == [2] and plan.uncertain == [1]
        report = plan.send()
        assert [r.state for r in report.results] == ["partial", "accepted"]
        assert not report.ok
        adds_up(report.totals, 6)
        assert len(emulator.events()) == 5  # batch 2 once; batch 1 not resent

        report = plan_resume(
            first.run_id, emulator.credentials, ledger=ledger, table=valid_table(file),
            resend=Resend(resend_unknown=True),
        ).send()  # fmt: skip
    assert report.ok
    assert len(emulator.events()) == 8  # batch 1 again (its 3 events): asked for


def test_a_partial_batch_with_every_failure_named_is_not_resent(
    emulator: Emulator, tmp_path: Path
) -> None:
    file = write_csv(tmp_path / "a.csv", 6)
    emulator.add_faults([{"failed": 1}, {"status": 400}])
    first = send(valid_table(file), emulator.credentials, batch_size=3,
                 origin=Origin(name=file.name, path=file))  # fmt: skip
    assert [r.state for r in first.results] == ["partial", "rejected"]
    assert [f.row for f in first.failures] == [4]
    assert first.results[0].uncertain_events == 0
    assert first.run_id is not None
    with Ledger() as ledger:
        plan = plan_resume(first.run_id, emulator.credentials, ledger=ledger,
                           table=valid_table(file), resend=Resend(resend_unknown=True))  # fmt: skip
        assert [b.number for b in plan.batches] == [2] and plan.uncertain == []
        report = plan.send()
    assert [r.state for r in report.results] == ["partial", "accepted"]
    adds_up(report.totals, 6)
    assert report.totals["failed"] == 1 and report.totals["recorded"] == 5
    assert set(emails(emulator).values()) == {1} and len(emails(emulator)) == 5


def test_a_stopped_run_is_resumed_once_the_keys_are_right(
    emulator: Emulator, tmp_path: Path
) -> None:
    file = write_csv(tmp_path / "a.csv", 9)
    emulator.add_faults([{}, {"status": 401}])
    first = send(valid_table(file), emulator.credentials, batch_size=3)
    assert [r.state for r in first.results] == ["accepted", "rejected", "skipped"]
    assert first.run_id is not None
    with Ledger() as ledger:
        run = ledger.run(first.run_id)
        assert run.state == "stopped" and "Bento rejected the keys" in run.message
        report = plan_resume(first.run_id, emulator.credentials, ledger=ledger,
                             table=valid_table(file)).send()  # fmt: skip
    assert report.ok and emulator.request_count == 4
    assert set(emails(emulator).values()) == {1} and len(emails(emulator)) == 9


def test_rebuild_needs_the_same_file_and_batches(emulator: Emulator, tmp_path: Path) -> None:
    file = write_csv(tmp_path / "a.csv", 4)
    with Ledger() as ledger:
        run_id = ledger.create_run(emulator.credentials, source_name=file.name)
        ledger.claim(run_id, build_events(valid_table(file)), [2, 3, 4, 5], resend=Resend(),
                     batch_size=2)  # fmt: skip
        ledger.end_run(run_id)
        run: RunRecord = ledger.run(run_id)
        with pytest.raises(LedgerError, match="not come from a file"):
            rebuild_table(run)
        other = valid_table(write_csv(tmp_path / "b.csv", 4, start=10))
        with pytest.raises(LedgerError, match="does not hold the same events"):
            plan_resume(run_id, emulator.credentials, ledger=ledger, table=other)
        with pytest.raises(LedgerError, match="row 5 is not a valid row"):
            plan_resume(run_id, emulator.credentials, ledger=ledger,
                        table=valid_table(file).iloc[:3])  # fmt: skip


def test_every_fault_adds_up(emulator: Emulator) -> None:
    """One batch per outcome: the report, the ledger and the emulator agree."""
    emulator.add_faults([
        {}, {"failed": 2}, {"status": 422}, {"drop": "after_body"},
        {"status": 503}, {"status": 503},
    ])  # fmt: skip
    rows = pd.DataFrame(
        {"type": "t", "email": [f"p{i}@example.com" for i in range(25)], "date": ""},
        index=pd.Index(range(2, 27)),
    )
    client = BentoClient(emulator.credentials, requests_per_minute=None, sleep=lambda s: None,
                         max_attempts=2)  # fmt: skip
    report: SendReport = send(rows, emulator.credentials, batch_size=5, client=client)
    states = [r.state for r in report.results]
    assert states == ["accepted", "partial", "rejected", "unknown", "failed"]
    adds_up(report.totals, 25)
    assert report.totals == {
        "events": 25, "recorded": 8, "failed": 2, "unknown": 5, "not sent": 10,
    }  # fmt: skip
    assert len(emulator.events()) == 8 + 5  # the dropped batch was recorded
    with Ledger() as ledger:
        assert report.run_id is not None
        assert ledger.run(report.run_id).totals == report.totals
