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
    plan_batches,
    read_table,
    send_batches,
    suggest_mapping,
    validate,
)
from bento_ui.errors import LedgerError
from bento_ui.ledger import Ledger, file_hash
from bento_ui.resume import plan_resume
from bento_ui.sending import PARTIAL, BatchResult
from bento_ui.ui_state import (
    SendJob,
    apply_edits,
    csv_bytes,
    escape_markdown,
    guard_mask,
    held_groups,
    rebuild_valid,
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


def test_guard_choices_are_independent() -> None:
    with Emulator() as bento, Ledger() as ledger:
        events = [{"type": "t", "email": f"u{i}@example.com"} for i in range(4)]
        batches = plan_batches(events[:2], [2, 3], 1)
        run = ledger.start_run(bento.credentials, batches)
        bento.add_faults([{}, {"drop": "after_body"}])
        send_batches(batches, bento.credentials, ledger=ledger, run=run)
        check = ledger.already_accepted(bento.site_uuid, events)
    assert check.accepted == (0,) and check.uncertain == (1,)
    assert guard_mask(check, send_again=False, resend_unknown=False) == [False, False, True, True]
    assert guard_mask(check, send_again=True, resend_unknown=False) == [True, False, True, True]
    assert guard_mask(check, send_again=False, resend_unknown=True) == [False, True, True, True]
    rows = [2, 3, 4, 5]
    assert [g.rows for g in held_groups(check, rows, send_again=False, resend_unknown=False)] \
        == [(2,), (3,)]
    assert [g.rows for g in held_groups(check, rows, send_again=True, resend_unknown=False)] \
        == [(3,)]


def test_partial_batches_count_as_maybe_recorded() -> None:
    table = pd.DataFrame({"type": ["t"] * 3, "email": [f"u{i}@example.com" for i in range(3)],
                          "date": [""] * 3}, index=range(2, 5))
    job = SendJob.plan(table, source="s", size=2)
    job.record(BatchResult(job.batch(1), 2, PARTIAL, results=1, failed=1))
    job.record(BatchResult(job.batch(2), 2, "failed"))
    assert job.unknown() == [1]
    assert job.retryable() == [2]
    assert job.retryable(include_unknown=True) == [1, 2]
    job.no_retry = {2}
    assert job.retryable() == []


def test_a_run_is_rebuilt_with_the_cells_fixed_in_the_app() -> None:
    sheet = read_table(io.BytesIO(DATA), name="plans.csv")
    mapping = suggest_mapping(sheet.columns)
    edits = {7: {"Email": "fixed@example.com"}}
    valid = validate(apply_mapping(apply_edits(sheet, edits), mapping)).valid
    assert 7 in valid.index
    batches = plan_batches(build_events(valid), [int(r) for r in valid.index], 4)
    with Emulator() as bento, Ledger() as ledger:
        run_id = ledger.start_run(
            bento.credentials, batches, source_name="plans.csv", source_hash=file_hash(DATA),
            options=upload_options(mapping, sheet=None, timezone="UTC", date_order=None,
                                   edits=edits))
        run = ledger.run(run_id)
        assert run.options["edits"] == {"7": {"Email": "fixed@example.com"}}
        rebuilt = rebuild_valid(run, DATA)
        assert rebuilt.loc[7, "email"] == "fixed@example.com"
        plan = plan_resume(run_id, ledger=ledger, table=rebuilt)
        job = SendJob.for_resume(plan, source=f"run:{run_id}", credentials=bento.credentials,
                                 target="the sandbox")
        assert job.run_id == run_id and job.pending == [1, 2]
        with pytest.raises(LedgerError, match="has changed since it was sent"):
            rebuild_valid(run, DATA + b"x@example.com,signed_up,pro\n")
