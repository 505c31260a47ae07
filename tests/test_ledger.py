"""The send ledger: what it records, what it finds, and what it never keeps."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from bento_ui import Credentials, Emulator, plan_batches, send, send_batches
from bento_ui.errors import LedgerError
from bento_ui.export import neutralise, safe_csv, write_safe_csv
from bento_ui.ledger import (
    SENT_BEFORE,
    UNCERTAIN_BEFORE,
    Ledger,
    event_fingerprint,
    file_hash,
    parse_rows,
    payload_hash,
)
from bento_ui.paths import data_home, ledger_path
from bento_ui.sending import BatchResult

SECRET = "sk_never_in_the_ledger_9137"
PUBLISHABLE = "pk_never_in_the_ledger_7319"


def events(n: int, start: int = 0, kind: str = "webinar_attended") -> list[dict[str, Any]]:
    return [{"type": kind, "email": f"person{i}@example.com"} for i in range(start, start + n)]


def table(n: int, start: int = 0) -> pd.DataFrame:
    """A valid event table as `validate(...).valid` gives it: index = spreadsheet row."""
    rows = events(n, start)
    return pd.DataFrame(
        {"type": [e["type"] for e in rows], "email": [e["email"] for e in rows], "date": ""},
        index=pd.Index(range(2 + start, 2 + start + n)),
    )


@pytest.fixture
def ledger(bento_ui_home: Path) -> Any:
    with Ledger() as book:
        yield book


@pytest.fixture
def bento() -> Any:
    with Emulator(publishable_key=PUBLISHABLE, secret_key=SECRET) as emulator:
        yield emulator


# --- where it lives ----------------------------------------------------------------------


def test_bento_ui_home_decides_where_the_ledger_lives(bento_ui_home: Path) -> None:
    assert data_home() == bento_ui_home.resolve()
    assert Ledger().path == bento_ui_home.resolve() / "ledger.sqlite3"


def test_the_default_home_is_the_platform_data_directory() -> None:
    env = {"XDG_DATA_HOME": "/data/xdg"}
    if sys.platform.startswith("linux"):
        assert data_home(env) == Path("/data/xdg/bento-ui")
        assert ledger_path({}) == Path.home() / ".local/share/bento-ui/ledger.sqlite3"
    assert data_home({"BENTO_UI_HOME": "/somewhere/else"}) == Path("/somewhere/else")


def test_the_ledger_file_is_private_and_versioned(ledger: Ledger) -> None:
    if sys.platform != "win32":
        assert ledger.path.stat().st_mode & 0o077 == 0
    with sqlite3.connect(ledger.path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_ledger_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version=99")
    with pytest.raises(LedgerError, match="newer bento-ui"):
        Ledger(path)


def test_a_damaged_ledger_says_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(LedgerError, match="move it aside"):
        Ledger(path)


# --- hashes --------------------------------------------------------------------------------


def test_fingerprints_ignore_key_order_and_depend_on_the_site() -> None:
    a = {"type": "t", "email": "a@example.com", "details": {"x": 1, "y": "é"}}
    b = {"details": {"y": "é", "x": 1}, "email": "a@example.com", "type": "t"}
    assert event_fingerprint(a, "site-1") == event_fingerprint(b, "site-1")
    assert event_fingerprint(a, "site-1") != event_fingerprint(a, "site-2")
    assert event_fingerprint(a, "site-1") != event_fingerprint({**a, "type": "u"}, "site-1")
    assert payload_hash([a]) == payload_hash([b]) != payload_hash([a, a])


def test_file_hash_of_bytes_and_of_a_path_agree(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(b"a,b\n1,2\n")
    assert file_hash(path) == file_hash(b"a,b\n1,2\n") == file_hash(str(path))


@pytest.mark.parametrize("rows", [[2], [2, 3, 4], [2, 3, 7, 9, 10, 11], [5, 3], []])
def test_parse_rows_reads_back_what_describe_rows_writes(rows: list[int]) -> None:
    from bento_ui.batching import describe_rows

    assert parse_rows(describe_rows(rows)) == rows


# --- a run, batch by batch -----------------------------------------------------------------


def test_a_send_is_written_batch_by_batch(ledger: Ledger, bento: Emulator) -> None:
    bento.add_faults([{}, {"failed": 1}, {"drop": "after_body"}, {"status": 422}])
    batches = plan_batches(events(10), size=3)
    seen: list[BatchResult] = []
    report = send_batches(batches, bento.credentials, ledger=ledger, on_batch=seen.append)
    assert [r.state for r in seen] == ["accepted", "partial", "unknown", "rejected"]
    assert report.run_id is not None
    run = ledger.run(report.run_id)
    assert run.state == "finished"
    assert [b.state for b in run.batches] == ["accepted", "partial", "unknown", "rejected"]
    assert [b.rows for b in run.batches] == ["2-4", "5-7", "8-10", "11"]
    assert [(b.results, b.failed) for b in run.batches][:2] == [(3, 0), (2, 1)]
    assert [b.status for b in run.batches] == [200, 200, None, 422]
    assert all(b.sends == 1 and b.started_at and b.finished_at for b in run.batches)
    assert run.batches[0].payload_hash == payload_hash(batches[0].events)
    assert run.totals == report.totals == {
        "events": 10, "recorded": 5, "failed": 1, "unknown": 3, "not sent": 1,
    }  # fmt: skip

    frame = ledger.batches_table(report.run_id)
    assert list(frame["state"]) == ["accepted", "partial", "unknown", "rejected"]
    assert str(frame["status"].dtype) == "Int64"
    runs = ledger.runs_table()
    assert list(runs["id"]) == [report.run_id]
    assert runs.loc[0, "recorded"] == 5


def test_runs_are_listed_newest_first_as_json(ledger: Ledger, bento: Emulator) -> None:
    first = send_batches(plan_batches(events(2)), bento.credentials, ledger=ledger).run_id
    second = send_batches(plan_batches(events(2, 10)), bento.credentials, ledger=ledger).run_id
    assert [r.id for r in ledger.runs()] == [second, first]
    dumped = json.loads(json.dumps([r.as_dict() for r in ledger.runs()]))
    assert dumped[0]["id"] == second and dumped[0]["state"] == "finished"
    assert dumped[0]["batches"][0]["state"] == "accepted"
    assert ledger.runs(limit=1)[0].id == second


def test_an_unknown_run_id_is_a_clear_error(ledger: Ledger) -> None:
    with pytest.raises(LedgerError, match="bento-ui history"):
        ledger.run("20990101-0000-beef")


def test_a_dry_run_records_nothing(ledger: Ledger, bento: Emulator) -> None:
    report = send_batches(plan_batches(events(3)), bento.credentials, ledger=ledger, dry_run=True)
    assert report.run_id is None
    assert ledger.runs() == []


def test_a_batch_that_is_not_the_planned_one_is_not_sent(ledger: Ledger, bento: Emulator) -> None:
    planned = plan_batches(events(4), size=2)
    run_id = ledger.start_run(bento.credentials, planned)
    other = plan_batches(events(4, 100), size=2)
    with pytest.raises(LedgerError, match="does not hold the events"):
        send_batches(other, bento.credentials, ledger=ledger, run=run_id)
    assert bento.request_count == 0
    assert ledger.run(run_id).state == "interrupted"


def test_a_streamed_send_plans_batches_as_it_goes(ledger: Ledger, bento: Emulator) -> None:
    batches = plan_batches(events(6), size=2)
    run_id = ledger.start_run(bento.credentials, [], source_name="big.csv")
    with ledger.claim(run_id):
        for batch in batches:
            ledger.add_batches(run_id, [batch])
            ledger.mark_sending(run_id, batch)
            ledger.record(run_id, BatchResult(batch, 3, "accepted", 2, 0, 200, 1))
        ledger.end_run(run_id)
    run = ledger.run(run_id)
    assert (run.state, run.events, [b.rows for b in run.batches]) == (
        "finished", 6, ["2-3", "4-5", "6-7"],
    )  # fmt: skip
    with pytest.raises(LedgerError, match="already has a batch"):
        ledger.add_batches(run_id, batches[:1])


def test_an_accepted_batch_is_never_sent_again_in_its_run(ledger: Ledger, bento: Emulator) -> None:
    batches = plan_batches(events(2))
    report = send_batches(batches, bento.credentials, ledger=ledger)
    with pytest.raises(LedgerError, match="accepted already"):
        send_batches(batches, bento.credentials, ledger=ledger, run=report.run_id)
    assert bento.request_count == 1


def test_the_process_dying_mid_request_leaves_the_batch_unknown(
    ledger: Ledger, bento: Emulator
) -> None:
    """Simulated with an exception between `sending` and the answer being written."""
    batches = plan_batches(events(4), size=2)
    run_id = ledger.start_run(bento.credentials, batches)
    with ledger.claim(run_id):
        ledger.mark_sending(run_id, batches[0])
        # ...the process is killed here: no answer written, no end_run, the lock goes.
    run = ledger.run(run_id)
    assert run.state == "interrupted"
    assert [b.state for b in run.batches] == ["unknown", "waiting"]
    assert "Bento may have recorded it" in run.batches[0].message


def test_an_exception_while_sending_ends_the_run_interrupted(
    ledger: Ledger, bento: Emulator
) -> None:
    class TabClosed(Exception):
        pass

    def close_after_first(result: BatchResult) -> None:
        raise TabClosed

    with pytest.raises(TabClosed):
        send_batches(
            plan_batches(events(6), size=2), bento.credentials, ledger=ledger,
            on_batch=close_after_first,
        )  # fmt: skip
    (run,) = ledger.runs()
    assert run.state == "interrupted"
    assert [b.state for b in run.batches] == ["accepted", "waiting", "waiting"]


def test_a_run_being_sent_elsewhere_cannot_be_claimed(ledger: Ledger, bento: Emulator) -> None:
    run_id = ledger.start_run(bento.credentials, plan_batches(events(2)))
    holder = subprocess.Popen(
        [
            sys.executable, "-c",
            textwrap.dedent(f"""
                import sys, time
                from bento_ui.ledger import Ledger
                with Ledger({str(ledger.path)!r}) as book, book.claim({run_id!r}):
                    print("claimed", flush=True)
                    time.sleep(60)
            """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "claimed"
        assert ledger.is_running(run_id)
        assert ledger.run(run_id).state == "running"
        with pytest.raises(LedgerError, match="being sent right now"):
            send_batches(plan_batches(events(2)), bento.credentials, ledger=ledger, run=run_id)
        assert bento.request_count == 0
    finally:
        holder.kill()
        holder.wait(timeout=10)
    deadline = time.monotonic() + 10
    while ledger.is_running(run_id) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ledger.run(run_id).state == "interrupted"  # killed while holding it


# --- the duplicate guard ----------------------------------------------------------------------


def test_already_accepted_finds_accepted_and_uncertain_events(
    ledger: Ledger, bento: Emulator
) -> None:
    bento.add_faults([{}, {"drop": "after_body"}, {"status": 400}, {"failed": 1}])
    send_batches(plan_batches(events(8), size=2), bento.credentials, ledger=ledger)
    # batches: 0-1 accepted, 2-3 unknown, 4-5 rejected, 6-7 partial
    again = [*events(8), *events(2, 50)]
    check = ledger.already_accepted(bento.credentials.site_uuid, again)
    assert check.accepted == (0, 1)
    assert check.uncertain == (2, 3, 6, 7)
    assert check.first_accepted is not None and len(check.first_accepted) == 10
    assert check.accepted_mask[:3] == [True, True, False]
    assert [s for _, _, s in check.uncertain_batches] == ["unknown", "partial"]
    assert check.keep() == [False] * 4 + [True, True] + [False, False] + [True, True]
    assert check.keep(resend_unknown=True) == [False, False] + [True] * 8
    assert check.keep(send_again=True) == [True] * 10

    rows = list(range(2, 12))
    held = check.held_back(rows)
    assert [(h.reason, h.rows) for h in held] == [
        (SENT_BEFORE, (2, 3)), (UNCERTAIN_BEFORE, (4, 5, 8, 9)),
    ]  # fmt: skip
    assert held[0].message.startswith("2 of these events were sent to this site on 20")
    assert "Bento may have recorded them" in held[1].message
    assert check.held_back(rows, send_again=True) == []

    other_site = ledger.already_accepted("another-site", again)
    assert not other_site.found


def test_send_skips_what_the_site_already_accepted(bento: Emulator) -> None:
    first = send(table(5), bento.credentials, batch_size=2)
    assert first.ok and first.run_id
    second = send(table(8), bento.credentials, batch_size=2)  # rows 2-6 again, and 3 more
    assert second.ok
    assert [h.rows for h in second.held_back] == [(2, 3, 4, 5, 6)]
    assert second.totals == {
        "events": 8, "recorded": 3, "failed": 0, "unknown": 0, "not sent": 5,
    }  # fmt: skip
    assert [e["email"] for e in bento.events()] == [f"person{i}@example.com" for i in range(8)]

    everything_again = send(table(3), bento.credentials)
    assert everything_again.ok and everything_again.results == []
    assert everything_again.run_id is None
    assert len(bento.events()) == 8

    forced = send(table(3), bento.credentials, send_again=True)
    assert forced.ok and forced.held_back == []
    assert len(bento.events()) == 11


def test_send_without_a_ledger_records_and_checks_nothing(bento: Emulator) -> None:
    send(table(2), bento.credentials, ledger=None)
    report = send(table(2), bento.credentials, ledger=None)
    assert report.held_back == [] and report.run_id is None
    assert len(bento.events()) == 4
    assert not Ledger().runs()


# --- never a key ---------------------------------------------------------------------------


def test_the_ledger_never_holds_a_key(ledger: Ledger, bento: Emulator, tmp_path: Path) -> None:
    good = bento.credentials
    leaky_url = good.base_url.replace("http://", f"http://{PUBLISHABLE}:{SECRET}@")
    leaky = Credentials(good.site_uuid, PUBLISHABLE, SECRET, leaky_url)
    bento.add_faults([{"status": 503}] * 5 + [{"drop": "after_body"}, {"status": 400}])
    run_id = ledger.start_run(
        leaky, plan_batches(events(3), size=1), source_name="a.csv",
        options={"note": f"someone pasted {SECRET} here", "key": PUBLISHABLE},
    )  # fmt: skip
    client_good = Credentials(good.site_uuid, PUBLISHABLE, SECRET, good.base_url)
    send_batches(
        plan_batches(events(3), size=1), client_good, ledger=ledger, run=run_id,
        client=_fast_client(client_good),
    )  # fmt: skip
    send(table(2), client_good, ledger=ledger)
    run = ledger.run(run_id)
    assert "@" not in run.base_url and run.options["note"].endswith("******** here")

    def assert_no_key_in_files() -> None:
        files = [p for p in ledger.path.parent.rglob("*") if p.is_file()]
        assert ledger.path in files
        for path in files:
            data = path.read_bytes()
            assert SECRET.encode() not in data, path
            assert PUBLISHABLE.encode() not in data, path

    assert_no_key_in_files()  # the write-ahead log included
    ledger.close()
    assert_no_key_in_files()


def _fast_client(credentials: Credentials) -> Any:
    from bento_ui.client import BentoClient

    return BentoClient(credentials, requests_per_minute=None, sleep=lambda s: None)


# --- CSV that a spreadsheet cannot run -----------------------------------------------------


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("http://evil")', '\'=HYPERLINK("http://evil")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("plain", "plain"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_neutralise(value: str, written: str) -> None:
    assert neutralise(value) == written


def test_safe_csv_neutralises_text_but_not_numbers(tmp_path: Path) -> None:
    frame = pd.DataFrame({
        "message": ["=cmd|' /C calc'!A0", "ok", None],
        "count": pd.array([-3, None, 5], dtype="Int64"),
        "=header": ["x", "@y", "-z"],
    })  # fmt: skip
    text = safe_csv(frame)
    assert text.splitlines() == [
        "message,count,'=header",
        "'=cmd|' /C calc'!A0,-3,x",
        "ok,,'@y",
        ",5,'-z",
    ]
    write_safe_csv(frame, tmp_path / "out.csv")
    assert (tmp_path / "out.csv").read_text(encoding="utf-8") == text
