"""The app's ledger-related logic without Streamlit: escaping, safe CSV, the duplicate
guard's choices, a send job over a ledger run, rebuilding a run's file."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from bento_ui import (
    Emulator,
    apply_mapping,
    build_events,
    plan_send,
    read_table,
    suggest_mapping,
    validate,
)
from bento_ui.errors import LedgerError
from bento_ui.guard import Held, Resend
from bento_ui.ledger import Ledger, file_hash
from bento_ui.outcomes import BatchState, Outcome
from bento_ui.resume import apply_edits, plan_resume, rebuild_table
from bento_ui.sending import BatchResult, held_elsewhere
from ui.logic import (
    SendJob,
    csv_bytes,
    escape_markdown,
    upload_options,
)

DATA = b"Email,Event,Plan\n" + b"".join(
    b"u%d@example.com,signed_up,pro\n" % i for i in range(5)
) + b"bad@,signed_up,free\n"  # row 7: an invalid email, fixed in the app below


@pytest.mark.parametrize("text,shown", [
    ("![x](http://evil.example/t.png)", "!\\[x\\](http://evil.example/t.png)"),
    ("<img src=x onerror=alert(1)>", "\\<img src=x onerror=alert(1)\\>"),
    ("**b** `c` $x^2$ ~~s~~ | a", "\\*\\*b\\*\\* \\`c\\` \\$x^2\\$ \\~\\~s\\~\\~ \\| a"),
    ("# title\n- item\n1. first", "\\# title\n\\- item\n1\\. first"),
    (":red[alarm]", ":red\\[alarm\\]"),
    ("BENTO_SECRET_KEY, first_name, jane-doe@example.com, 2026-11-26",
     "BENTO_SECRET_KEY, first_name, jane-doe@example.com, 2026-11-26"),
    ("_x_", "\\_x\\_"),
])  # fmt: skip
def test_escape_markdown(text: str, shown: str) -> None:
    assert escape_markdown(text) == shown


def test_every_download_neutralises_formulas() -> None:
    frame = pd.DataFrame({"message": ["=HYPERLINK(\"http://x\")", "+1", "@SUM(A1)", "ok"],
                          "n": [-3, 1, 2, 3]})
    text = csv_bytes(frame).decode()
    assert "'=HYPERLINK" in text and "'+1" in text and "'@SUM" in text
    assert ",-3\n" in text  # a number stays a number


def _table(n: int) -> pd.DataFrame:
    return pd.DataFrame({"type": ["t"] * n, "email": [f"u{i}@example.com" for i in range(n)],
                         "date": [""] * n}, index=range(2, n + 2))


def test_guard_choices_are_independent() -> None:
    with Emulator() as bento, Ledger() as ledger:
        bento.add_faults([{}, {"drop": "after_body"}])
        plan_send(_table(2), bento.credentials, ledger=ledger, batch_size=1).send()
        check = ledger.check(bento.site_uuid, build_events(_table(4)))
    assert check.accepted == (0,) and check.uncertain == (1,)
    assert check.keep(Resend()) == [False, False, True, True]
    # New meaning (guard.Resend): send_again also sends the events of uncertain fate.
    assert check.keep(Resend(send_again=True)) == [True, True, True, True]
    assert check.keep(Resend(resend_unknown=True)) == [False, True, True, True]
    rows = [2, 3, 4, 5]
    assert {g.reason: g.rows for g in check.held_back(rows, Resend())} == {
        Held.SENT_BEFORE: (2,), Held.UNCERTAIN_BEFORE: (3,)}
    # New meaning: send_again holds back nothing, the uncertain events go too.
    assert check.held_back(rows, Resend(send_again=True)) == []
    assert [g.rows for g in check.held_back(rows, Resend(resend_unknown=True))] == [(2,)]


def test_partial_batches_count_as_maybe_recorded() -> None:
    with Emulator() as bento:
        plan = plan_send(_table(3), bento.credentials, ledger=None, batch_size=2)
    job = SendJob.start(plan, source="s", table=_table(3), target="the sandbox")
    job.record(BatchResult(job.batch(1), 2, Outcome(BatchState.PARTIAL, results=1, failed=1)))
    job.record(BatchResult(job.batch(2), 2, Outcome(BatchState.FAILED)))
    assert job.unknown() == [1]
    assert job.retryable() == [2]
    # retryable(include_unknown=) and no_retry are gone: a batch held back because
    # another run has its events is what is not retried now.
    job.record(BatchResult.skipped(job.batch(2), 2, held_elsewhere(("r1",))))
    assert job.retryable() == []


def test_a_run_is_rebuilt_with_the_cells_fixed_in_the_app() -> None:
    sheet = read_table(io.BytesIO(DATA), name="plans.csv")
    mapping = suggest_mapping(sheet.columns)
    edits = {7: {"Email": "fixed@example.com"}}
    valid = validate(apply_mapping(apply_edits(sheet, edits), mapping)).valid
    assert 7 in valid.index
    with Emulator() as bento, Ledger() as ledger:
        run_id = ledger.create_run(
            bento.credentials, source_name="plans.csv", source_hash=file_hash(DATA),
            options={**upload_options(mapping, sheet=None, timezone="UTC", date_order=None,
                                      edits=edits), "batch_size": 4})
        ledger.claim(run_id, build_events(valid), [int(r) for r in valid.index],
                     resend=Resend(), batch_size=4)
        ledger.end_run(run_id, interrupted=True)  # planned, never sent
        run = ledger.run(run_id)
        assert run.options["edits"] == {"7": {"Email": "fixed@example.com"}}
        rebuilt = rebuild_table(run, DATA)
        assert rebuilt.loc[7, "email"] == "fixed@example.com"
        plan = plan_resume(run_id, bento.credentials, ledger=ledger, table=rebuilt)
        job = SendJob.start(plan, source=f"run:{run_id}", table=rebuilt, target="the sandbox")
        assert job.run_id == run_id and job.pending == [1, 2]
        with pytest.raises(LedgerError, match="has changed since it was sent"):
            rebuild_table(run, DATA + b"x@example.com,signed_up,pro\n")
