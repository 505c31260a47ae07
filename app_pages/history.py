"""Send history: every send the send ledger recorded, newest first; resume an interrupted one.

The ledger is the same for the app, the CLI and notebooks on this computer, so every
send appears here. Picking a run shows its batches. A run that did not finish can be
resumed against the same site: the person uploads the same file again (its SHA-256 must
match the one recorded), batches Bento accepted are never resent, and batches that may
have been recorded (unknown, partial) are resent only when the person confirms.

Session keys (all `history_`): `history_run` (the chosen run), `history_runs_csv`,
`history_batches_csv`, `history_batches_page`, `history_file_<run id>` (the file uploaded
again), `history_rebuilt` and `history_plan` (the last file read and resume planned),
`history_resend_unknown`, `history_confirm`, `history_resume`, `history_close`,
`history_send_error`, and the send panel's `history_*` keys for the resumed send (see
ui/send.py; its job's source is `run:<run id>`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from bento_ui import BentoUIError
from bento_ui.guard import Resend
from bento_ui.ledger import Ledger, RunRecord, batches_frame, run_where, runs_frame
from bento_ui.messages import RUN_STATES
from bento_ui.outcomes import BatchState, RunState
from bento_ui.resume import check_target, plan_resume, rebuild_table
from bento_ui.sending import SendPlan
from ui.connection import Target, current_target
from ui.logic import (
    SendJob,
    count,
    csv_bytes,
    escape_markdown,
    live_warning,
    numbers_text,
    run_sheet_and_type,
    uncertain_note,
    with_dashes,
)
from ui.send import job_for, job_view, jobs
from ui.widgets import paged

PREFIX = "history"
RUN_LIMIT = 200  # runs listed; the CLI's `bento-ui history --json` lists them all
FILE_TYPES = ["csv", "tsv", "txt", "xlsx", "xls", "ods", "jsonl", "ndjson"]


def when(stamp: str | None) -> str:
    return (stamp or "").replace("T", " ").removesuffix("Z")[:16]


def runs_section(runs: list[RunRecord], total: int) -> RunRecord:
    """The runs table, its CSV, and the run picked to look at."""
    frame = runs_frame(runs)
    # Which sheet and event type each run used (from its options): runs of one file differ.
    details = [run_sheet_and_type(run.options) for run in runs]
    frame.insert(frame.columns.get_loc("source_name") + 1, "sheet", [d[0] for d in details])
    frame.insert(frame.columns.get_loc("sheet") + 1, "event type", [d[1] for d in details])
    shown = f"the latest {len(runs):,} of {total:,}" if total > len(runs) else f"{total:,}"
    st.caption(f"Runs: {shown}, newest first. Times are UTC.")
    st.dataframe(
        frame, hide_index=True, width="stretch",
        # What tells runs apart first; the site's UUID and address are in "where" (and
        # in the CSV).
        column_order=["id", "created_at", "state", "source_name", "sheet", "event type",
                      "where", "events", "recorded", "failed", "unknown", "not sent",
                      "batches"],
        column_config={
            "id": st.column_config.TextColumn("run"),
            "created_at": st.column_config.TextColumn("started"),
            "source_name": st.column_config.TextColumn("file"),
            "recorded": st.column_config.NumberColumn("recorded",
                                                      help="Events Bento counted as results"),
            "not sent": st.column_config.NumberColumn(
                "not sent", help="Including events held back: sent to the site before"),
        },
    )
    st.download_button("Download the runs (CSV)", lambda: csv_bytes(frame),
                       file_name="send-history.csv", mime="text/csv", key="history_runs_csv",
                       on_click="ignore")
    by_id = {run.id: run for run in runs}
    if st.session_state.get("history_run") not in by_id:
        st.session_state["history_run"] = runs[0].id
    chosen = st.selectbox(
        "Run", list(by_id), key="history_run",
        format_func=lambda i: f"{i}  ·  {when(by_id[i].created_at)}  ·  {by_id[i].state}  ·  "
        f"{by_id[i].source_name or 'no file'} to {run_where(by_id[i])}",
    )
    return by_id[str(chosen)]


def run_section(run: RunRecord) -> None:
    """One run: where it went, its totals, its batches and their CSV."""
    st.subheader(f"Run {escape_markdown(run.id)}")
    st.markdown(
        f"**{RUN_STATES.get(run.state, escape_markdown(run.state))}.** Started "
        f"{when(run.created_at)} UTC: {escape_markdown(run.source_name or 'events from code')} "
        f"to {escape_markdown(run_where(run))}."
    )
    sheet, kind = run_sheet_and_type(run.options)
    if sheet or kind:
        st.caption(" · ".join(escape_markdown(part) for part in (
            f"Sheet: {sheet}" if sheet else "", f"Event type: {kind}" if kind else "") if part))
    if run.message:
        st.error(escape_markdown(run.message))
    totals = run.totals
    labels = [("Events in", "events"), ("Recorded", "recorded"), ("Failed", "failed"),
              ("Unknown", "unknown"), ("Not sent", "not sent")]
    for column, (label, key) in zip(st.columns(5), labels, strict=True):
        column.metric(label, f"{totals[key]:,}")
    if run.held_back:
        verb = "was" if run.held_back == 1 else "were"
        st.caption(f"{count(run.held_back, 'event')} of the file {verb} held back, not sent: "
                   "this site had received them before.")
    frame = batches_frame(run)
    st.dataframe(
        with_dashes(paged(frame, "history_batches_page", noun="batches")),  # no answer: -
        hide_index=True, width="stretch",
        column_config={
            "rows": st.column_config.TextColumn("spreadsheet rows"),
            "results": st.column_config.TextColumn("recorded", help="Bento's `results` count"),
            "failed": st.column_config.TextColumn("failed", help="Bento's `failed` count"),
            "sends": st.column_config.NumberColumn(
                "sends", help="How many times the batch was handed to Bento"),
            "message": st.column_config.TextColumn("message", width="large"),
        },
    )
    st.download_button("Download the batches (CSV)", lambda: csv_bytes(frame),
                       file_name=f"send-run-{run.id}.csv", mime="text/csv",
                       key="history_batches_csv", on_click="ignore")


def why_not_resumable(run: RunRecord, target: Target | None, running: bool) -> str | None:
    """Why this run cannot be resumed from here (plain text), or None when it can."""
    if running:
        return ("This run is being sent right now, in another window or by the CLI: wait "
                "for it to finish, then come back.")
    if target is None:
        return "To resume, choose where to send in the sidebar: the site this run went to."
    try:
        check_target(run, target.credentials)
    except BentoUIError as exc:
        return str(exc)
    if not run.source_hash:
        return (f"This run came from {run.source_name or 'code'} (not a file the app can "
                "check again), so it cannot be resumed here. Send those events again from "
                "where they came: events this site accepted are skipped.")
    return None


def rebuilt_table(run: RunRecord, uploaded: Any) -> pd.DataFrame:
    """The valid rows of the uploaded file, read with the run's options (once per file)."""
    memo = st.session_state.get("history_rebuilt")
    if memo is not None and memo[:2] == (run.id, uploaded.file_id):
        table: pd.DataFrame = memo[2]
        return table
    table = rebuild_table(run, uploaded.getvalue())
    st.session_state["history_rebuilt"] = (run.id, uploaded.file_id, table)
    return table


def planned(run: RunRecord, uploaded: Any, table: pd.DataFrame, target: Target) -> SendPlan:
    """What a resume would send, without the uncertain batches (remembered per run state)."""
    key = (run.id, uploaded.file_id, run.updated_at)
    memo = st.session_state.get("history_plan")
    if memo is not None and memo[0] == key:
        plan: SendPlan = memo[1]
        return plan
    with Ledger() as ledger:
        plan = plan_resume(run.id, target.credentials, ledger=ledger, table=table)
    st.session_state["history_plan"] = (key, plan)
    return plan


def start_resume(run_id: str, table: pd.DataFrame, target: Target) -> None:
    """on_click of the resume button: plan again from the ledger as it is now, then send."""
    if not st.session_state.get("history_confirm") or job_for(PREFIX, f"run:{run_id}"):
        return
    resend = Resend(resend_unknown=bool(st.session_state.get("history_resend_unknown")))
    try:
        with Ledger() as ledger:
            plan = plan_resume(run_id, target.credentials, ledger=ledger, table=table,
                               resend=resend)
    except BentoUIError as exc:
        st.session_state["history_send_error"] = f"Nothing was sent: {exc}"
        return
    if not plan.events:
        st.session_state["history_send_error"] = "Nothing was sent: nothing is left to send."
        return
    jobs(PREFIX, f"run:{run_id}").append(
        SendJob.start(plan, source=f"run:{run_id}", table=table, target=target.label))
    st.session_state["history_confirm"] = False
    st.session_state["history_resend_unknown"] = False


def close_report(run_id: str) -> None:
    found = jobs(PREFIX, f"run:{run_id}")
    if found and not found[-1].sending:
        found.clear()


def resume_section(run: RunRecord, target: Target | None, running: bool) -> None:
    st.subheader("Resume")
    source = f"run:{run.id}"
    job = job_for(PREFIX, source)
    if job is not None:
        job_view(PREFIX, job, source, target, "spreadsheet rows")
        if not job.sending:
            st.button("Close this report", key="history_close", on_click=close_report,
                      args=(run.id,))
        return
    error = st.session_state.pop("history_send_error", None)
    if error:
        st.error(escape_markdown(error))
    if run.complete and run.planning_done:
        st.success("Every batch of this run was accepted: there is nothing to resume.")
        return
    if not run.batches:
        st.info("This run has no batches: there is nothing to resume.")
        return
    reason = why_not_resumable(run, target, running)
    if reason is not None:
        st.info(escape_markdown(reason))
        return
    assert target is not None
    st.caption(
        "Resuming sends what Bento has not recorded, in this same run. Upload the file this "
        f"run was sent from, **{escape_markdown(run.source_name)}**, again: it must be exactly "
        "the same file (its SHA-256 is checked). Batches Bento accepted are never resent."
    )
    uploaded = st.file_uploader("The same file", type=FILE_TYPES, key=f"history_file_{run.id}")
    if uploaded is None:
        return
    try:
        table = rebuilt_table(run, uploaded)
        plan = planned(run, uploaded, table, target)
    except BentoUIError as exc:
        st.error(escape_markdown(exc))
        return
    st.success(f"{escape_markdown(uploaded.name)} is the file this run was sent from.")
    accepted = [r.number for r in plan.earlier if r.state == BatchState.ACCEPTED]
    if accepted:
        events = sum(r.events for r in plan.earlier if r.state == BatchState.ACCEPTED)
        st.info(f"{numbers_text(accepted).capitalize()} ({count(events, 'event')}) "
                f"{'was' if len(accepted) == 1 else 'were'} accepted before: never "
                "sent again.")
    for number, runs in plan.elsewhere.items():
        st.info(f"Batch {number}: some of its events were accepted by this site, or are "
                f"being sent to it, in run {escape_markdown(', '.join(runs))}: not sent.")
    uncertain_events = 0
    resend = False
    if plan.uncertain:
        uncertain_events = sum(run.batch(n).events for n in plan.uncertain)
        where = "Bento" if target.is_live else "the sandbox inbox"
        st.warning(
            "\n\n".join(escape_markdown(uncertain_note(run, n)) for n in plan.uncertain)
            + f"\n\nCheck {where} before sending {'it' if len(plan.uncertain) == 1 else 'them'}"
            " again: what was recorded would be recorded twice."
        )
        resend = st.checkbox(
            f"I checked: send {numbers_text(plan.uncertain)} "
            f"({count(uncertain_events, 'event')}) again too.",
            key="history_resend_unknown",
        )
    events = plan.events + (uncertain_events if resend else 0)
    batches = len(plan.batches) + (len(plan.uncertain) if resend else 0)
    if events == 0:
        st.info("Nothing is left to send" + (" unless you send the batches above again."
                                             if plan.uncertain else "."))
        return
    st.markdown(f"**{count(events, 'event')}** in **{count(batches, 'batch', 'batches')}** "
                "to send now.")
    label = (live_warning(events, escape_markdown(target.label)) if target.is_live
             else f"Send {'this event' if events == 1 else f'these {events:,} events'} to "
             "the sandbox (nothing leaves this computer).")
    confirmed = st.checkbox(label, key="history_confirm")
    st.button(f"Resume: send {count(events, 'event')}", key="history_resume", type="primary",
              disabled=not confirmed, on_click=start_resume, args=(run.id, table, target),
              help=None if confirmed else "Tick the confirmation first.")


st.title("Send history")
st.caption(
    "Every send from this computer (this app, the bento-ui command, a notebook) as the send "
    "ledger recorded it, with each batch's outcome. A send that did not finish can be "
    "resumed here: nothing Bento accepted is sent twice."
)
try:
    with Ledger() as book:
        total_runs = book.count_runs()
        all_runs = book.runs(RUN_LIMIT)  # a run still `running` is being sent right now
except BentoUIError as exc:
    st.error(escape_markdown(exc))
    st.stop()
if not all_runs:
    st.info("No sends yet. Every send from Compose, Upload, a notebook or the command line "
            "(`bento-ui`) appears here, with each batch's outcome.",
            icon=":material/history:")
    st.stop()

picked = runs_section(all_runs, total_runs)
run_section(picked)
resume_section(picked, current_target(), picked.state == RunState.RUNNING)
