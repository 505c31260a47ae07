"""The app's logic without Streamlit: ui.logic and bento_ui.templates."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from bento_ui import (
    Emulator,
    apply_mapping,
    build_events,
    list_sheets,
    plan_send,
    read_table,
    suggest_mapping,
    validate,
)
from bento_ui.fixes import SET, Fix, edits_of
from bento_ui.mapping import ColumnMapping
from bento_ui.outcomes import BatchState, Outcome
from bento_ui.resume import apply_edits
from bento_ui.sending import BatchResult
from bento_ui.templates import template_csv, template_xlsx
from ui.logic import (
    SendJob,
    compose_event_table,
    count,
    events_view,
    fix_frame,
    mapping_editor_frame,
    mapping_from_editor,
    outbox_table,
    page_count,
    page_of,
    pairs_from_frame,
    problems_by_place,
    rows_to_fix,
    suggest_amounts,
)


@pytest.mark.parametrize("name,data", [("t.csv", template_csv()), ("t.xlsx", template_xlsx())])
def test_templates_map_themselves_and_are_valid(name: str, data: bytes) -> None:
    sheet = read_table(io.BytesIO(data), name=name)
    mapping = suggest_mapping(sheet.columns)
    result = validate(apply_mapping(sheet, mapping))
    assert result.problems.empty
    events = build_events(result.valid)
    assert [e["type"] for e in events] == ["webinar_attended", "$purchase", "$tag"]
    assert events[1]["details"] == {"unique": {"key": "ORDER-1001"},
                                    "value": {"amount": 4999, "currency": "USD"}}
    assert events[2]["details"] == {"tag": "vip"}


def test_xlsx_template_has_a_help_sheet() -> None:
    assert list_sheets(io.BytesIO(template_xlsx()), name="t.xlsx") == ["events", "help"]


def test_compose_table_builds_columns_and_refuses_what_cannot_be_columns() -> None:
    table, problems = compose_event_table(
        "$purchase", "bob@example.com",
        fields=[("plan", "pro"), ("", "orphan"), ("a.b", "x"), ("plan", "again")],
        details=[("order.id", "A-1"), ("order", "x"), ("unique.key", "dup"), ("x..y", "1")],
        kind_details={"details.unique.key": "K-1", "details.value.amount": "4999",
                      "details.value.currency": "USD"},
    )
    assert table.loc[1, "fields.plan"] == "pro"
    assert table.loc[1, "details.unique.key"] == "K-1"
    messages = " ".join(p.message for p in problems)
    assert "no name" in messages
    assert "cannot contain dots" in messages
    assert "twice" in messages
    assert "already set by the input above" in messages
    assert "empty part" in messages
    assert "'order' and 'order.id' cannot both be set" in messages
    assert {p.place for p in problems} == {"fields", "details"}


def test_problems_go_next_to_their_inputs_and_blank_ones_wait() -> None:
    table, _ = compose_event_table("$tag", "jane@", kind_details={"details.tag": ""})
    result = validate(table)
    grouped = problems_by_place(result)
    assert set(grouped) == {"email", "details.tag"}
    waiting = problems_by_place(result, hide_blank=True)
    assert set(waiting) == {"email"}  # the tag is empty: not red before Add is pressed
    empty, _ = compose_event_table("", "")
    assert set(problems_by_place(validate(empty))) == {"type", "email"}
    assert problems_by_place(validate(empty), hide_blank=True) == {}


def test_pairs_from_a_data_editor_skip_blank_rows() -> None:
    frame = pd.DataFrame({"key": ["a", None, "", float("nan")], "value": ["1", None, "", "x"]})
    assert pairs_from_frame(frame) == [("a", "1"), ("", "x")]


def test_outbox_table_and_view() -> None:
    box = outbox_table([{"type": "t", "email": "a@example.com", "fields.x": "1"},
                        {"type": "t", "email": "b@example.com", "details.y": "2"}])
    assert list(box.columns) == ["type", "email", "date", "fields.x", "details.y"]
    assert box.index.tolist() == [1, 2]
    view = events_view(build_events(box))
    assert view["fields"].tolist() == ['{"x": "1"}', ""]
    assert view["details"].tolist() == ["", '{"y": "2"}']


def test_mapping_editor_round_trip() -> None:
    sheet = pd.DataFrame({"E-mail": ["a@example.com"], "First Name": ["Ann"], "Notes": ["x"],
                          "Meta": ['{"a": 1}']})
    mapping = ColumnMapping({"E-mail": "email", "First Name": "fields.first_name",
                             "Notes": "ignore", "Meta": "details"}, default_type="t")
    frame = mapping_editor_frame(mapping, sheet)
    assert frame["goes to"].tolist() == ["email ▼", "field ▼", "ignore ▼", "details JSON ▼"]
    assert frame["example"].tolist() == ["a@example.com", "Ann", "x", '{"a": 1}']
    assert mapping_from_editor(frame, "t") == mapping
    frame.loc[2, ["goes to", "name"]] = ["detail", ""]
    frame.loc[1, "name"] = "fields.given_name"
    changed = mapping_from_editor(frame, " t ")
    assert changed.columns["Notes"] == "details.notes"
    assert changed.columns["First Name"] == "fields.given_name"
    assert changed.default_type == "t"


def test_examples_and_the_amount_unit_look_past_the_first_rows() -> None:
    # Both look at the first rows first (a 100k-row upload is not read whole for them),
    # and at the rest when those say nothing.
    n = 1500
    sheet = pd.DataFrame({"Email": ["a@example.com"] * n, "Company": [" "] * (n - 1) + ["Acme"],
                          "Amount": ["5"] * (n - 1) + ["32.50"], "Notes": [""] * n})
    frame = mapping_editor_frame(suggest_mapping(sheet.columns), sheet)
    assert frame["example"].tolist() == ["a@example.com", "Acme", "5", ""]
    assert suggest_amounts(sheet["Amount"]) == "major"
    assert suggest_amounts(sheet["Amount"].iloc[:-1]) == "minor"


def test_edits_overlay_the_sheet_and_forget_values_set_back() -> None:
    sheet = pd.DataFrame({"email": ["a@", "b@example.com", "c@"]}, index=[2, 3, 4])
    fixes = [Fix(SET, "email", row=4, value="c@example.com")]
    edits = edits_of(sheet, fixes)
    assert edits == {4: {"email": "c@example.com"}}
    fixed = apply_edits(sheet, edits)
    assert fixed.loc[4, "email"] == "c@example.com"
    assert sheet.loc[4, "email"] == "c@"  # the original is untouched
    assert edits_of(sheet, [*fixes, Fix(SET, "email", row=4, value="c@")]) == {}


def test_rows_to_fix_and_the_fix_frame() -> None:
    table = pd.DataFrame({"type": ["t", "t", ""], "email": ["a@", "b@example.com", "c@x.io"],
                          "date": ["", "", ""]}, index=[2, 3, 4])
    result = validate(table)
    rows = rows_to_fix(result)
    assert rows == [2, 4]
    frame = fix_frame(table, rows, result.problems, ["email", "type"])
    assert list(frame.columns) == ["problems", "email", "type"]
    assert frame.loc[4, "problems"].startswith("ERROR: type is missing")


def test_paging() -> None:
    frame = pd.DataFrame({"n": range(1201)})
    assert page_count(len(frame), 500) == 3
    assert page_of(frame, 3, 500)["n"].tolist() == [1000 + i for i in range(201)]
    assert page_of(frame, 99, 500)["n"].iloc[0] == 1000
    assert page_count(0, 500) == 1
    assert count(1, "batch", "batches") == "1 batch"
    assert count(1200, "event") == "1,200 events"


def _table(n: int) -> pd.DataFrame:
    return pd.DataFrame({"type": ["t"] * n, "email": [f"u{i}@example.com" for i in range(n)],
                         "date": [""] * n}, index=range(2, n + 2))


def test_send_job_resumes_and_retries_only_what_was_not_recorded() -> None:
    with Emulator() as bento:
        # SendJob.plan/begin are replaced by SendJob.start(plan, ...) (the engine plans).
        plan = plan_send(_table(5), bento.credentials, ledger=None, batch_size=2)
        job = SendJob.start(plan, source="s", table=_table(5), target="the sandbox")
        assert [job.batch(n).rows for n in sorted(job.batches)] == [(2, 3), (4, 5), (6,)]
        assert job.rows == {2, 3, 4, 5, 6}
        assert job.sending and job.pending == [1, 2, 3]
        seen: list[list[str]] = []

        def on_batch(result: BatchResult) -> None:
            job.record(result)
            seen.append(job.table_view()["state"].tolist())  # table() is now table_view()

        bento.add_faults([{"status": 401}])
        job.finish(plan.send(on_batch=on_batch))
    assert seen[0] == [BatchState.REJECTED, "sending", "waiting"]
    assert "rejected the keys" in job.stopped  # a 401 stops the run:
    assert job.pending == []  # what is left is marked not sent
    assert job.done
    assert job.table_view()["state"].tolist() == [BatchState.REJECTED, "skipped", "skipped"]
    assert job.retryable() == [1, 2, 3]
    assert job.totals == {"events": 5, "recorded": 0, "failed": 0, "unknown": 0,
                          "not sent": 5}
    job.record(BatchResult(job.batch(3), 3, Outcome(BatchState.ACCEPTED, results=1, failed=0)))
    job.record(BatchResult(job.batch(2), 3, Outcome(BatchState.UNKNOWN, message="no answer")))
    assert job.retryable() == [1]
    assert job.unknown() == [2]  # retryable(include_unknown=) is gone: retry() takes it
    assert job.summary() == ("1 of 5 events recorded, 2 unknown (Bento may have recorded "
                             "them), 2 not sent.")
    job.retry(include_unknown=True)
    assert job.sending and job.resend.resend_unknown and not job.continuing
