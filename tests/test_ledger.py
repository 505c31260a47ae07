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

from bento_ui import Credentials, Emulator, build_events, plan_send, send
from bento_ui.errors import LedgerError
from bento_ui.export import neutralise, safe_csv, write_safe_csv
from bento_ui.guard import Held, Resend
from bento_ui.ledger import (
    SCHEMA_VERSION,
    Ledger,
    event_fingerprint,
    file_hash,
    parse_rows,
    payload_hash,
)
from bento_ui.outcomes import BatchState, Outcome
from bento_ui.paths import data_home, ledger_path
from bento_ui.resume import plan_resume
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
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
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


def _claimed_run(
    ledger: Ledger, credentials: Credentials, valid: pd.DataFrame, size: int = 100, **run: Any
) -> tuple[str, list[Any]]:
    """A run created and claimed as the engine does it, nothing sent yet (still held)."""
    run_id = ledger.create_run(credentials, **run)
    claimed = ledger.claim(
        run_id, build_events(valid), [int(r) for r in valid.index], resend=Resend(),
        batch_size=size,
    )  # fmt: skip
    return run_id, claimed.batches


def test_a_send_is_written_batch_by_batch(ledger: Ledger, bento: Emulator) -> None:
    bento.add_faults([{}, {"failed": 1}, {"drop": "after_body"}, {"status": 422}])
    seen: list[BatchResult] = []
    plan = plan_send(table(10), bento.credentials, ledger=ledger, batch_size=3)
    batches = list(plan.batches)
    report = plan.send(on_batch=seen.append)
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
    assert [(f.row, f.email) for f in run.batch(2).failures] == [(7, "person5@example.com")]
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
    first = plan_send(table(2), bento.credentials, ledger=ledger).send().run_id
    second = plan_send(table(2, 10), bento.credentials, ledger=ledger).send().run_id
    assert [r.id for r in ledger.runs()] == [second, first]
    dumped = json.loads(json.dumps([r.as_dict() for r in ledger.runs()]))
    assert dumped[0]["id"] == second and dumped[0]["state"] == "finished"
    assert dumped[0]["batches"][0]["state"] == "accepted"
    assert ledger.runs(limit=1)[0].id == second


def test_an_unknown_run_id_is_a_clear_error(ledger: Ledger) -> None:
    with pytest.raises(LedgerError, match="bento-ui history"):
        ledger.run("20990101-0000-beef")


def test_a_dry_run_records_nothing(ledger: Ledger, bento: Emulator) -> None:
    report = plan_send(table(3), bento.credentials, ledger=ledger).send(dry_run=True)
    assert report.run_id is None
    assert [r.state for r in report.results] == ["skipped"]
    assert ledger.runs() == []
    assert bento.request_count == 0


def test_a_batch_that_is_not_the_planned_one_is_not_sent(ledger: Ledger, bento: Emulator) -> None:
    run_id, _ = _claimed_run(ledger, bento.credentials, table(4), size=2)
    other = plan_send(table(4, 100), bento.credentials, ledger=None, batch_size=2).batches
    with pytest.raises(LedgerError, match="does not hold the events"):
        ledger.mark_sending(run_id, other[0])
    assert ledger.end_run(run_id) == "interrupted"
    # A resume from a table whose rows now hold other events is refused before sending.
    changed = table(4, 100).set_axis(table(4).index)
    with pytest.raises(LedgerError, match="does not hold the same events"):
        plan_resume(run_id, bento.credentials, ledger=ledger, table=changed)
    assert bento.request_count == 0
    assert ledger.run(run_id).state == "interrupted"


def test_a_streamed_send_plans_batches_as_it_goes(ledger: Ledger, bento: Emulator) -> None:
    valid = table(6)
    evts, rows = build_events(valid), [int(r) for r in valid.index]
    run_id = ledger.create_run(bento.credentials, source_name="big.csv", planning_done=False)
    for start in range(0, 6, 2):
        (batch,) = ledger.claim(
            run_id, evts[start : start + 2], rows[start : start + 2], resend=Resend(),
            batch_size=2, first_number=start // 2 + 1,
        ).batches  # fmt: skip
        ledger.mark_sending(run_id, batch)
        ledger.record(run_id, batch, BatchState.ACCEPTED,
                      Outcome(BatchState.ACCEPTED, 200, 2, 0, 1))  # fmt: skip
    assert not ledger.run(run_id).planning_done
    ledger.finish_planning(run_id)
    assert ledger.end_run(run_id) == "finished"
    run = ledger.run(run_id)
    assert (run.state, run.events, [b.rows for b in run.batches]) == (
        "finished", 6, ["2-3", "4-5", "6-7"],
    )  # fmt: skip
    assert run.planning_done


def test_a_streamed_run_not_planned_to_the_end_is_interrupted(
    ledger: Ledger, bento: Emulator
) -> None:
    run_id = ledger.create_run(bento.credentials, source_name="big.csv", planning_done=False)
    assert ledger.end_run(run_id) == "interrupted"


def test_an_accepted_batch_is_never_sent_again_in_its_run(ledger: Ledger, bento: Emulator) -> None:
    plan = plan_send(table(2), bento.credentials, ledger=ledger)
    report = plan.send()
    assert report.run_id is not None
    ledger.hold(report.run_id, bento.credentials)
    try:
        with pytest.raises(LedgerError, match="accepted already"):
            ledger.mark_sending(report.run_id, plan.batches[0])
    finally:
        ledger.release(report.run_id)
    again = plan_resume(report.run_id, bento.credentials, ledger=ledger, table=table(2))
    assert again.batches == []
    again.send()
    assert bento.request_count == 1


def test_the_process_dying_mid_request_leaves_the_batch_unknown(
    ledger: Ledger, bento: Emulator
) -> None:
    """Simulated by releasing the run's lock between `sending` and the answer."""
    run_id, batches = _claimed_run(ledger, bento.credentials, table(4), size=2)
    ledger.mark_sending(run_id, batches[0])
    ledger.release(run_id)  # ...the process is killed here: no answer, no end_run
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
        plan_send(table(6), bento.credentials, ledger=ledger, batch_size=2).send(
            on_batch=close_after_first
        )
    (run,) = ledger.runs()
    assert run.state == "interrupted"
    assert [b.state for b in run.batches] == ["accepted", "waiting", "waiting"]


def test_a_run_being_sent_elsewhere_cannot_be_claimed(ledger: Ledger, bento: Emulator) -> None:
    run_id, _ = _claimed_run(ledger, bento.credentials, table(2))
    ledger.end_run(run_id)
    holder = subprocess.Popen(
        [
            sys.executable, "-c",
            textwrap.dedent(f"""
                import sys, time
                from bento_ui.ledger import Ledger
                with Ledger({str(ledger.path)!r}) as book:
                    book.hold({run_id!r})
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
            plan_resume(run_id, bento.credentials, ledger=ledger, table=table(2)).send()
        with pytest.raises(LedgerError, match="being sent right now"):
            ledger.hold(run_id)
        assert bento.request_count == 0
    finally:
        holder.kill()
        holder.wait(timeout=10)
    deadline = time.monotonic() + 10
    while ledger.is_running(run_id) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ledger.run(run_id).state == "interrupted"  # killed while holding it


# --- the duplicate guard ----------------------------------------------------------------------


def test_the_guard_finds_accepted_and_uncertain_events(ledger: Ledger, bento: Emulator) -> None:
    bento.add_faults([{}, {"drop": "after_body"}, {"status": 400}, {"failed": 1}])
    plan_send(table(8), bento.credentials, ledger=ledger, batch_size=2).send()
    # batches: 0-1 accepted, 2-3 unknown, 4-5 rejected, 6-7 partial (7 refused by name)
    again = [*events(8), *events(2, 50)]
    check = ledger.check(bento.credentials.site_uuid, again)
    # New meaning: a partial batch whose failures are all named is not uncertain: its
    # recorded event counts as accepted, its named failure as new.
    assert check.accepted == (0, 1, 6)
    assert check.uncertain == (2, 3)
    assert check.in_flight == ()
    assert check.keep() == [False] * 4 + [True, True, False] + [True] * 3
    assert check.keep(Resend(resend_unknown=True)) == (
        [False, False] + [True] * 4 + [False] + [True] * 3
    )
    assert check.keep(Resend(send_again=True)) == [True] * 10

    rows = list(range(2, 12))
    held = {h.reason: h for h in check.held_back(rows)}  # the groups' order is not fixed
    assert {reason: h.rows for reason, h in held.items()} == {
        Held.SENT_BEFORE: (2, 3, 8), Held.UNCERTAIN_BEFORE: (4, 5),
    }  # fmt: skip
    assert held[Held.SENT_BEFORE].message.startswith(
        "3 of these events were sent to this site on 20"
    )
    assert "Bento may have recorded them" in held[Held.UNCERTAIN_BEFORE].message
    assert check.held_back(rows, Resend(send_again=True)) == []

    other_site = ledger.check("another-site", again)
    assert not other_site.any


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
    # A send whose events are all held back sends nothing and records no empty run.
    assert everything_again.run_id is None
    assert [h.events for h in everything_again.held_back] == [3]
    assert len(bento.events()) == 8

    forced = send(table(3), bento.credentials, resend=Resend(send_again=True))
    assert forced.ok and forced.held_back == []
    assert len(bento.events()) == 11


def test_send_without_a_ledger_records_and_checks_nothing(bento: Emulator) -> None:
    plan_send(table(2), bento.credentials, ledger=None).send()
    report = plan_send(table(2), bento.credentials, ledger=None).send()
    assert report.held_back == [] and report.run_id is None
    assert len(bento.events()) == 4
    assert not Ledger().runs()


# --- never a key ---------------------------------------------------------------------------


def test_the_ledger_never_holds_a_key(ledger: Ledger, bento: Emulator, tmp_path: Path) -> None:
    good = bento.credentials
    leaky_url = good.base_url.replace("http://", f"http://{PUBLISHABLE}:{SECRET}@")
    leaky = Credentials(good.site_uuid, PUBLISHABLE, SECRET, leaky_url)
    bento.add_faults([{"status": 503}] * 5 + [{"drop": "after_body"}, {"status": 400}])
    run_id, _ = _claimed_run(
        ledger, leaky, table(3), size=1, source_name="a.csv",
        options={"note": f"someone pasted {SECRET} here", "key": PUBLISHABLE},
    )  # fmt: skip
    ledger.end_run(run_id)
    client_good = Credentials(good.site_uuid, PUBLISHABLE, SECRET, good.base_url)
    report = plan_resume(run_id, client_good, ledger=ledger, table=table(3)).send(
        client=_fast_client(client_good)
    )
    assert [r.state for r in report.results] == ["failed", "unknown", "rejected"]
    send(table(2, 10), client_good, ledger=ledger)
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
