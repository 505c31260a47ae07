"""The CLI end to end: real files, the emulator over a socket.

Most commands run in this process through `bento_ui.cli.main` (`run`), which is what the
installed script calls; the script itself and `emulator` (it serves until stopped) run as
real processes.
"""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import bento_env, run

from bento_ui import Emulator, __version__
from bento_ui.emulator import sandbox

HEADER = ["Email Address", "Event", "First Name"]


def write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header, *rows])
    return path


@pytest.fixture
def good_csv(tmp_path: Path) -> Path:
    rows = [[f"user{i}@example.com", "webinar_attended", f"User {i}"] for i in range(25)]
    return write_csv(tmp_path / "attendees.csv", rows)


@pytest.fixture
def bad_csv(tmp_path: Path) -> Path:
    rows = [
        ["jane@example.com", "webinar_attended", "Jane"],
        ["jane@", "webinar_attended", "Broken"],
        ["", "", ""],
        ["bob@example.com", "", "Bob"],
    ]
    return write_csv(tmp_path / "mixed.csv", rows)


def test_validate_a_clean_file(good_csv: Path) -> None:
    done = run("validate", str(good_csv))
    assert done.returncode == 0, done.stderr
    assert "Email Address -> email, Event -> type, First Name -> fields.first_name" in done.stdout
    assert (
        "attendees.csv: 25 rows: 25 valid, 0 with errors, 0 with warnings, 0 empty skipped"
        in done.stdout
    )


def test_validate_lists_problems_with_row_numbers(bad_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "problems.csv"
    done = run("validate", str(bad_csv), "--problems", str(out))
    assert done.returncode == 1
    assert "4 rows: 1 valid, 2 with errors, 0 with warnings, 1 empty skipped" in done.stdout
    assert "row 3" in done.stdout and "email 'jane@' has no domain" in done.stdout
    assert "row 5" in done.stdout and "type is missing" in done.stdout
    with out.open(encoding="utf-8") as f:
        written = list(csv.DictReader(f))
    assert [(p["row"], p["column"]) for p in written] == [("3", "email"), ("5", "type")]


def test_type_option_fills_rows_without_a_type(bad_csv: Path) -> None:
    done = run("validate", str(bad_csv), "--type", "signup")
    assert "1 with errors" in done.stdout  # row 5 got the type, row 3 still has a bad email


def test_unreadable_file_exits_2_with_a_message(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    done = run("validate", str(empty))
    assert done.returncode == 2
    assert "empty" in done.stderr.lower()
    assert "Traceback" not in done.stderr


def test_bad_options_exit_2(good_csv: Path) -> None:
    assert run("send", str(good_csv), "--batch-size", "0").returncode == 2
    done = run("validate", str(good_csv), "--map", "Nope=email")
    assert done.returncode == 2 and "--map" in done.stderr


def test_send_to_the_sandbox_by_default(good_csv: Path) -> None:
    before = len(sandbox().events())  # the sandbox is shared: count what this send adds
    done = run("send", str(good_csv), "--batch-size", "10")
    assert done.returncode == 0, done.stdout + done.stderr
    first_line = done.stdout.splitlines()[0]
    assert (
        first_line.startswith("Sending to the sandbox")
        and "nothing leaves this machine" in first_line
    )
    assert "batch 1/3  rows 2-11  10 events  results 10, failed 0  accepted" in done.stdout
    assert "batch 3/3  rows 22-26  5 events  results 5, failed 0  accepted" in done.stdout
    assert "Total: 25 events: 25 recorded by the sandbox" in done.stdout
    assert len(sandbox().events()) - before == 25


def test_one_row_with_errors_is_one_row(tmp_path: Path, emulator: Emulator) -> None:
    path = tmp_path / "one-bad.csv"
    path.write_text("Email,Event\njane@example.com,signed_up\nbad-email,signed_up\n")
    refused = run("send", str(path), emulator=emulator)
    assert refused.returncode == 1
    assert "Nothing sent: 1 row has errors. Fix them" in refused.stdout


def test_send_refuses_rows_with_errors_unless_told(bad_csv: Path, emulator: Emulator) -> None:
    refused = run("send", str(bad_csv), emulator=emulator)
    assert refused.returncode == 1
    assert "Nothing sent: 2 rows have errors" in refused.stdout
    assert emulator.events() == []

    sent = run("send", str(bad_csv), "--skip-invalid", emulator=emulator)
    assert sent.returncode == 0, sent.stdout
    assert [e["email"] for e in emulator.events()] == ["jane@example.com"]
    assert emulator.events()[0]["fields"] == {"first_name": "Jane"}


def test_dry_run_sends_nothing(good_csv: Path, emulator: Emulator) -> None:
    done = run("send", str(good_csv), "--dry-run", emulator=emulator)
    assert done.returncode == 0
    assert "skipped" in done.stdout
    assert emulator.request_count == 0


def test_rejected_keys_stop_the_run_with_a_plain_message(
    good_csv: Path, emulator: Emulator, tmp_path: Path
) -> None:
    emulator.add_faults([{"status": 401}])
    report = tmp_path / "report.csv"
    done = run(
        "send", str(good_csv), "--batch-size", "10", "--report", str(report), emulator=emulator
    )
    assert done.returncode == 1
    assert "Bento rejected the keys" in done.stdout
    assert "0 recorded" in done.stdout and "25 not sent" in done.stdout
    assert emulator.request_count == 1  # nothing after the 401 was sent
    with report.open(encoding="utf-8") as f:
        states = [r["state"] for r in csv.DictReader(f)]
    assert states == ["rejected", "skipped", "skipped"]
    assert emulator.credentials.secret_key not in done.stdout + done.stderr
    assert emulator.credentials.secret_key not in report.read_text(encoding="utf-8")


def test_the_installed_script_runs_the_cli(bad_csv: Path) -> None:
    # The one real `bento-ui` process: the entry point, and main()'s code as its exit status.
    script = Path(sys.executable).with_name("bento-ui")
    if not script.exists():
        pytest.skip(f"no installed bento-ui script next to {sys.executable}")
    done = subprocess.run(
        [str(script), "validate", str(bad_csv)],
        capture_output=True,
        text=True,
        env=bento_env(None),
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert "4 rows: 1 valid, 2 with errors, 0 with warnings, 1 empty skipped" in done.stdout
    assert "Traceback" not in done.stderr


def test_version() -> None:
    done = run("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"bento-ui {__version__}"


def test_emulator_command_prints_where_to_send(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bento_ui", "emulator", "--port", "0", "--site-uuid", "site-1"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("Bento emulator listening at http://127.0.0.1:")
        assert "BENTO_SITE_UUID=site-1" in proc.stdout.readline() + proc.stdout.readline()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# --- the send ledger: duplicate guard, history, resume -------------------------------------


def test_sending_a_file_twice_skips_what_was_accepted(good_csv: Path, emulator: Emulator) -> None:
    first = run("send", str(good_csv), "--batch-size", "10", emulator=emulator)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Run 20" in first.stdout and "bento-ui send --resume" in first.stdout

    second = run("send", str(good_csv), "--batch-size", "10", emulator=emulator)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "25 of these events were sent to this site on 20" in second.stdout
    assert "and accepted by it. They are skipped: pass --send-again to send them again." in (
        second.stdout
    )
    assert "Nothing to send: every event was held back." in second.stdout
    assert "25 not sent (25 of them held back by the duplicate guard)" in second.stdout
    assert len(emulator.events()) == 25
    assert emulator.request_count == 3

    forced = run("send", str(good_csv), "--send-again", emulator=emulator)
    assert forced.returncode == 0
    assert "Events sent to this site before are sent again, as asked (--send-again)." in (
        forced.stdout
    )
    assert "batch 1/1  rows 2-26  25 events  results 25, failed 0  accepted" in forced.stdout
    assert len(emulator.events()) == 50


def test_history_lists_runs_newest_first(
    good_csv: Path, emulator: Emulator, tmp_path: Path
) -> None:
    empty = run("history")
    assert empty.returncode == 0 and "No sends recorded yet" in empty.stdout
    assert json.loads(run("history", "--json").stdout) == []

    emulator.add_faults([{}, {"status": 503}] + [{"status": 503}] * 4)
    first = run("send", str(good_csv), "--batch-size", "10", emulator=emulator)
    assert first.returncode == 1
    (older,) = json.loads(run("history", "--json").stdout)
    assert older["state"] == "finished"
    assert [b["state"] for b in older["batches"]] == ["accepted", "failed", "accepted"]
    assert [b["rows"] for b in older["batches"]] == ["2-11", "12-21", "22-26"]
    assert older["totals"] == {
        "events": 25, "recorded": 15, "failed": 0, "unknown": 0, "not sent": 10,
    }  # fmt: skip
    assert older["source_name"] == "attendees.csv"
    assert older["source_path"] == str(good_csv.resolve())
    assert older["options"]["batch_size"] == 10
    assert f"Batch 2 was not recorded: `bento-ui send --resume {older['id']}` sends it." in (
        first.stdout
    )

    detail = run("history", older["id"], "--csv", str(tmp_path / "batches.csv"))
    assert "batch 2/3  rows 12-21  10 events  nothing recorded  failed" in detail.stdout
    assert f"`bento-ui send --resume {older['id']}` sends it." in detail.stdout
    with (tmp_path / "batches.csv").open(encoding="utf-8") as f:
        assert [r["state"] for r in csv.DictReader(f)] == ["accepted", "failed", "accepted"]

    resumed = run("send", "--resume", older["id"], emulator=emulator)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "batch 2/3  rows 12-21  10 events  results 10, failed 0  accepted" in resumed.stdout
    assert len(emulator.events()) == 25

    run("send", str(good_csv), "--send-again", emulator=emulator)
    runs = json.loads(run("history", "--json").stdout)
    assert [r["id"] for r in runs][1] == older["id"]
    assert runs[0]["created_at"] >= runs[1]["created_at"]
    assert runs[1]["state"] == "finished" and runs[1]["totals"]["recorded"] == 25
    listing = run("history")
    assert listing.stdout.splitlines()[0].startswith("RUN ")
    assert older["id"] in listing.stdout and runs[0]["id"] in listing.stdout


def test_send_needs_a_file_or_a_run(emulator: Emulator) -> None:
    nothing = run("send", emulator=emulator)
    assert nothing.returncode == 2 and "give a FILE to send, or --resume RUN_ID" in nothing.stderr
    unknown = run("send", "--resume", "20990101-0000-beef", emulator=emulator)
    assert unknown.returncode == 2
    assert "There is no run '20990101-0000-beef'" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_csv_files_written_cannot_run_formulas(tmp_path: Path) -> None:
    sheet = write_csv(
        tmp_path / "evil.csv", [["=HYPERLINK(\"http://x\")", "signup", "@SUM(1)"]]
    )
    out = tmp_path / "problems.csv"
    done = run("validate", str(sheet), "--problems", str(out))
    assert done.returncode == 1
    with out.open(encoding="utf-8") as f:
        (problem,) = list(csv.DictReader(f))
    assert problem["value"] == "'=HYPERLINK(\"http://x\")"


def test_a_big_csv_is_checked_and_sent_in_chunks_with_the_same_outcome(
    bad_csv: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = run("validate", str(bad_csv))
    monkeypatch.setenv("BENTO_UI_STREAM_BYTES", "1")  # every file counts as big
    chunked = run("validate", str(bad_csv))
    assert "is big: reading it in chunks" in chunked.stdout
    assert chunked.returncode == whole.returncode == 1
    assert chunked.stdout.splitlines()[1:] == whole.stdout.splitlines()

    sent = run("send", str(bad_csv), "--skip-invalid", "--batch-size", "1", emulator=emulator)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert "is big: reading it in chunks" in sent.stdout
    assert [e["email"] for e in emulator.events()] == ["jane@example.com"]

    again = run("send", str(bad_csv), "--skip-invalid", emulator=emulator)
    assert again.returncode == 0, again.stdout
    assert "1 not sent (1 of them held back by the duplicate guard)" in again.stdout
    assert "1 of these events was sent to this site on" in again.stdout
    assert len(emulator.events()) == 1  # the guard held it back: nothing sent twice


def test_a_run_sent_in_chunks_can_be_resumed(
    good_csv: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BENTO_UI_STREAM_BYTES", "1")
    emulator.add_faults([{}, {"status": 401}])  # the keys stop working after batch 1
    stopped = run("send", str(good_csv), "--batch-size", "10", emulator=emulator)
    assert stopped.returncode == 1
    run_id = json.loads(run("history", "--json").stdout)[0]["id"]

    resumed = run("send", "--resume", run_id, emulator=emulator)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "Batch 1 was accepted before: not resent." in resumed.stdout
    emails = [e["email"] for e in emulator.events()]
    assert sorted(emails) == sorted(f"user{i}@example.com" for i in range(25))
