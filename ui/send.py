"""The send panel, shared by Compose and Upload.

Before: the target, how many events and batches, the batch size, what the duplicate
guard holds back, a warning when events dated in the last 3 days may start automations,
the first batch as a curl command (on demand), and a confirmation. A live send of more
than 100 events may first send a small batch alone (a canary: a plan of its first rows);
after Bento's answer the rest is planned like any rows not sent yet, or the person stops.
During: a progress bar and a live per-batch table, fed by `send_batches(on_batch=...)`.
After: totals, the per-batch table as CSV, and "Retry failed batches".

Every send is a run in the send ledger (`bento_ui.ledger`): the first send of a job
starts the run (with the source's name, hash and options, so the history page can
resume it), retries send in the same run, and each batch is written as `sending` before
its request and with its outcome after. Before anything is planned, the ledger is asked
which of the events this site accepted before (skipped unless the person ticks "send
again") or may have recorded (earlier unknown or partial batches: held back unless the
person confirms).

Sending twice is what people fear most, so:
- the Send button only plans a job, in its on_click callback, for the rows of the source
  (an outbox, a file) that no earlier job of that source holds; a second click finds
  nothing left to plan and does nothing;
- each batch's outcome is stored in the job before anything else happens, so a rerun in
  the middle of a send (a double click, a widget change) resumes with the batches that
  have no answer yet instead of starting again;
- the job's lock keeps two script runs from sending at the same time;
- batches whose outcome is unknown are only resent after an extra confirmation;
- rows added or fixed after a send can be sent on their own ("the rows not sent yet");
- events the ledger shows this site received before are held back by default.

Session keys, all prefixed with the page's prefix: `<p>_jobs` (source -> list of
SendJob, the last one current), `<p>_batch_size`, `<p>_confirm`, `<p>_send`,
`<p>_send_again`, `<p>_resend_unknown`, `<p>_guard` (the last duplicate check),
`<p>_retry`, `<p>_confirm_unknown`, `<p>_retry_unknown`, `<p>_start_over`,
`<p>_report_csv`, `<p>_report_page`, `<p>_send_error`, `<p>_curl` (show the first batch
as curl), and for a live send of more than 100 events `<p>_canary_size`, `<p>_canary`
(send a first small batch alone) and after it `<p>_stop_rest`.
"""

from __future__ import annotations

import math
import time
from typing import Any

import pandas as pd
import streamlit as st

from bento_ui import BentoUIError
from bento_ui import events as ev
from bento_ui.batching import MAX_BATCH_SIZE
from bento_ui.curl import curl_command
from bento_ui.guard import DuplicateCheck, Resend, SourceRows
from bento_ui.ledger import Ledger
from bento_ui.messages import held_back_note
from bento_ui.outcomes import BatchState
from bento_ui.paths import ledger_path
from bento_ui.payloads import build_events
from bento_ui.resume import plan_resume
from bento_ui.sending import (
    BENTO_REQUESTS_PER_MINUTE,
    BatchResult,
    Origin,
    SendPlan,
    SendReport,
    plan_send,
)
from ui.connection import Target, current_target
from ui.logic import (
    SendJob,
    backfill_warning,
    canary_rows,
    count,
    csv_bytes,
    escape_markdown,
    ledger_version,
    live_warning,
    progress_text,
    with_dashes,
)
from ui.widgets import paged, target_box

LOCK_WAIT_SECONDS = 120
TABLE_REFRESH_SECONDS = 0.3
LIVE_BATCHES = 200  # rows of the per-batch table redrawn while sending
CANARY_FROM = 101  # live sends of this many events or more offer a first small batch
CANARY_EVENTS = 10


def jobs(prefix: str, source: str) -> list[SendJob]:
    store: dict[str, list[SendJob]] = st.session_state.setdefault(f"{prefix}_jobs", {})
    return store.setdefault(source, [])


def job_for(prefix: str, source: str) -> SendJob | None:
    """The current (latest) send of a source, if any."""
    found = jobs(prefix, source)
    return found[-1] if found else None


def send_panel(prefix: str, table: pd.DataFrame, *, source: str, rows_label: str = "rows",
               origin: Origin | None = None) -> None:
    """Everything about sending `table` (valid rows of an event table) for one source.

    `origin` is stored with the run in the send ledger (the file's name, hash and the
    options that read it), so that the history page can resume an interrupted send.
    """
    target = current_target()
    origin = origin or Origin(name=source)
    error = st.session_state.pop(f"{prefix}_send_error", None)
    if error:
        st.error(escape_markdown(error))
    history = jobs(prefix, source)
    if not history:
        _plan(prefix, table, source, target, origin)
        return
    if len(history) > 1:
        with st.expander(f"Earlier sends of these rows ({len(history) - 1})"):
            for number, earlier in enumerate(history[:-1], start=1):
                st.markdown(f"**Send {number}** to {escape_markdown(earlier.target)}: "
                            f"{escape_markdown(earlier.summary())}")
    job = history[-1]
    job_view(prefix, job, source, target, rows_label)
    if job.sending:
        return
    taken = set().union(*(j.settled_rows for j in history))
    rest = table[~table.index.isin(list(taken))]
    if job.canary and not rest.empty:
        _after_canary(prefix, job, rest, source, target, origin)
    elif not rest.empty:
        refused = len(set(rest.index) & job.refused_rows)
        st.subheader("Rows not sent yet")
        st.caption(f"{count(len(rest), 'valid row')} {'was' if len(rest) == 1 else 'were'} "
                   "not part of the sends above (fixed or added since), or Bento refused "
                   "them. Only these are sent; what Bento recorded is held back."
                   + (f" Fix the {count(refused, 'refused row')} first, or Bento refuses "
                      "them again." if refused else ""))
        _plan(prefix, rest, source, target, origin)
    st.divider()
    st.button("Start over", key=f"{prefix}_start_over", on_click=_forget, args=(prefix, source),
              help="Forgets these reports so every row can be planned again. Events this "
              "site received are then held back, unless you choose to send them again.")


# ---------------------------------------------------------------- before


def _remembered_check(prefix: str, table: pd.DataFrame, site: str) -> DuplicateCheck | None:
    """The last duplicate check, if it was of this very table for this site and the
    ledger file has not been written since."""
    memo = st.session_state.get(f"{prefix}_guard")
    key = (site, len(table), ledger_version(ledger_path()))
    if memo is not None and memo[0] is table and memo[1] == key:
        check: DuplicateCheck = memo[2]
        return check
    return None


def _guard(prefix: str, table: pd.DataFrame, target: Target, origin: Origin) -> DuplicateCheck:
    """The ledger's duplicate check of `table` for the target's site, remembered until
    the table, the site or the ledger changes (it reads every event's fingerprint)."""
    site = target.credentials.site_uuid
    check = _remembered_check(prefix, table, site)
    if check is not None:
        return check
    version = ledger_version(ledger_path())
    rows = [int(r) for r in table.index]
    source = (SourceRows(origin.file_hash, origin.options.get("sheet"), rows)
              if origin.file_hash else None)  # fmt: skip
    with Ledger() as ledger:
        check = ledger.check(site, build_events(table), source=source)
    st.session_state[f"{prefix}_guard"] = (table, (site, len(table), version), check)
    return check


def _held_back_choices(prefix: str, table: pd.DataFrame, check: DuplicateCheck,
                       target: Target) -> tuple[bool, bool]:
    """Say what the guard holds back; the person's choices (send again, resend unknown)."""
    send_again = resend_unknown = False
    rows = [int(r) for r in table.index]
    for group in check.held_back(rows):
        note = held_back_note(group, voice="app", sandbox=not target.is_live)
        st.warning(escape_markdown(note), icon=":material/content_copy:")
    if check.accepted or check.same_row:
        n = len(check.accepted) + len(check.same_row)
        send_again = st.checkbox(
            f"Send {'it' if n == 1 else f'these {n:,} events'} again anyway: "
            f"{escape_markdown(target.label)} will record "
            f"{'it' if n == 1 else 'them'} a second time.",
            key=f"{prefix}_send_again",
        )
    if check.uncertain and not send_again:  # sending everything again includes these
        n = len(check.uncertain)
        resend_unknown = st.checkbox(
            f"I checked: send the {count(n, 'event')} that may have been recorded again, "
            "even if that records some of them twice.",
            key=f"{prefix}_resend_unknown",
        )
    if not target.is_live:
        st.caption("The send history remembers what the sandbox received, even after the "
                   "sandbox inbox is emptied: tick the box above to practise with the same "
                   "events again.")
    return send_again, resend_unknown


def _plan(prefix: str, table: pd.DataFrame, source: str, target: Target | None,
          origin: Origin, *, rest: bool = False) -> None:
    """The send's preview and its Send button(s); `rest`: what is left after a canary."""
    events = len(table)
    target_box(target)
    if events == 0:
        st.info("Nothing to send yet.")
        return
    size_column, rate_column, _ = st.columns([1, 1, 1])
    size = int(size_column.number_input(
        "Batch size (events per request)", min_value=1, max_value=MAX_BATCH_SIZE,
        value=MAX_BATCH_SIZE, step=100, key=f"{prefix}_batch_size",
        help="Bento takes up to 1000 events per request. Smaller batches mean more "
        "requests, and a failure affects fewer events.",
    ))
    rate = float(BENTO_REQUESTS_PER_MINUTE)
    if target is not None and target.is_live:
        rate = float(rate_column.number_input(
            "Requests per minute", min_value=1, max_value=600,
            value=BENTO_REQUESTS_PER_MINUTE, step=10, key=f"{prefix}_rate",
            help="Bento allows about 60 requests a minute; send fewer if it answers 429 "
            "(too many requests).",
        ))
    going = table  # the rows the guard lets through
    if target is not None:
        try:
            check = _guard(prefix, table, target, origin)
        except BentoUIError as exc:
            st.error(f"Nothing can be sent: {escape_markdown(exc)}")
            return
        if check.any:
            send_again, resend_unknown = _held_back_choices(prefix, table, check, target)
            keep = check.keep(Resend(send_again, resend_unknown))
            going = table[list(keep)]
            events = len(going)
            if events == 0:
                st.info("Nothing to send: every one of these events was sent to "
                        f"{escape_markdown(target.label)} before.")
                return
    batches = math.ceil(events / size)
    pace = ""
    if target is not None and target.is_live and batches > 1:
        pace = (f" At {rate:,.0f} requests a minute this takes about "
                f"{count(max(1, math.ceil(batches / rate)), 'minute')}.")
    st.markdown(f"**{count(events, 'event')}** in **{count(batches, 'batch', 'batches')}** "
                f"of up to {size:,}.{pace}")
    _backfill(going)
    if target is None:
        return
    _curl(prefix, going, size, target)
    if target.is_live:
        label = live_warning(events, escape_markdown(target.label))
    else:
        label = (f"Send {'this event' if events == 1 else f'these {events:,} events'} to the "
                 "sandbox (nothing leaves this computer).")
    confirmed = st.checkbox(label, key=f"{prefix}_confirm")
    canary = target.is_live and not rest and events >= CANARY_FROM
    if canary:
        canary = _canary_choice(prefix, table, source, size, target, origin, confirmed)
    what = "the rest: " if rest else ("all " if canary else "")
    st.button(
        f"Send {what}{count(events, 'event')}", key=f"{prefix}_send",
        type="secondary" if canary else "primary",
        disabled=not confirmed, on_click=_start,
        args=(prefix, table, source, size, target, origin),
        help=None if confirmed else "Tick the confirmation first.",
    )


def _backfill(going: pd.DataFrame) -> None:
    """Warn when events dated in the last few days may start automations."""
    if ev.DATE in going:
        warning = backfill_warning(going[ev.DATE], pd.Timestamp.now(tz="UTC"))
        if warning:
            st.warning(escape_markdown(warning), icon=":material/schedule:")


def _curl(prefix: str, going: pd.DataFrame, size: int, target: Target) -> None:
    """The first batch's exact request as curl, keys as placeholders (built on demand:
    a batch of 1,000 events is a long command)."""
    if not st.toggle("Show the first batch as a curl command", key=f"{prefix}_curl",
                     help="The exact request the app makes, to try it yourself or show "
                     "Bento's support. The keys are not in it: the shell reads them from "
                     "BENTO_PUBLISHABLE_KEY and BENTO_SECRET_KEY."):
        return
    try:
        command = curl_command(target.credentials, build_events(going.head(size)))
    except (TypeError, ValueError) as exc:
        st.error(f"This batch cannot be written as JSON ({escape_markdown(exc)}).")
        return
    st.code(command, language="bash")


def _canary_choice(prefix: str, table: pd.DataFrame, source: str, size: int, target: Target,
                   origin: Origin, confirmed: bool) -> bool:
    """Offer to send a first small batch alone; True when it is offered."""
    st.markdown("**Send a small batch first?** Bento answers for the first events alone; "
                "look at them in Bento, then send the rest or stop.")
    size_column, button_column = st.columns([1, 2], vertical_alignment="bottom")
    first = int(size_column.number_input(
        "Events in the first batch", min_value=1, max_value=CANARY_FROM - 1,
        value=CANARY_EVENTS, step=1, key=f"{prefix}_canary_size",
    ))
    button_column.button(
        f"Send the first {count(first, 'event')}", key=f"{prefix}_canary", type="primary",
        disabled=not confirmed, on_click=_start,
        args=(prefix, table, source, size, target, origin, first),
        help=None if confirmed else "Tick the confirmation first.",
    )
    return True


def _after_canary(prefix: str, job: SendJob, rest: pd.DataFrame, source: str,
                  target: Target | None, origin: Origin) -> None:
    """After the first small batch: send the rest, or stop."""
    st.subheader("The rest of the send")
    if job.rest_stopped:
        st.info(f"You stopped after the first batch: the other {count(len(rest), 'row')} "
                "were not sent. Start over to plan them again; what Bento recorded is held "
                "back.")
        return
    if job.done and all(r.state == BatchState.ACCEPTED for r in job.results.values()):
        st.info("Bento recorded the first batch. Look at one of its events in Bento (and at "
                "any automation it started) before you send the rest.")
    else:
        st.warning("Bento did not record all of the first batch: read its answer above and "
                   "fix what it names before you send the rest, or stop here.")
    _plan(prefix, rest, source, target, origin, rest=True)
    st.button("Stop here", key=f"{prefix}_stop_rest", on_click=_stop_rest, args=(prefix, source),
              help="Sends nothing more. Start over later to plan the rest again.")


def _stop_rest(prefix: str, source: str) -> None:
    job = job_for(prefix, source)
    if job is not None and job.canary and not job.sending:
        job.rest_stopped = True


def _start(prefix: str, table: pd.DataFrame, source: str, size: int, target: Target,
           origin: Origin, canary: int | None = None) -> None:
    """on_click of Send: ask the engine for a plan of the rows no job of this source holds
    yet; the page's next run sends it. With `canary`, only the first `canary` events the
    plan sends go (a plan of their rows alone); the rest is planned after Bento answers.

    A second click (or a click replayed by a rerun) finds those rows taken and does
    nothing, so the same rows are never planned twice. The engine asks the ledger again
    as it claims the events, whatever the page showed.
    """
    history = jobs(prefix, source)
    if not st.session_state.get(f"{prefix}_confirm") or (history and history[-1].sending):
        return
    taken = set().union(*(j.settled_rows for j in history))
    table = table[~table.index.isin(list(taken))]
    if table.empty:
        return
    resend = Resend(send_again=bool(st.session_state.get(f"{prefix}_send_again")),
                    resend_unknown=bool(st.session_state.get(f"{prefix}_resend_unknown")))
    options = {**origin.options, "batch_size": size, "send_again": resend.send_again,
               "resend_unknown": resend.resend_unknown}
    origin = Origin(name=origin.name, file_hash=origin.file_hash, options=options,
                    target=None if target.is_live else "sandbox")
    try:
        with Ledger() as ledger:
            plan = plan_send(table, target.credentials, ledger=ledger, origin=origin,
                             resend=resend, batch_size=size)
            if canary and plan.events > canary:
                table = table.loc[canary_rows(plan, canary)]
                plan = plan_send(table, target.credentials, ledger=ledger, origin=origin,
                                 resend=resend, batch_size=min(size, canary))
            else:
                canary = None
    except (BentoUIError, ValueError) as exc:
        st.session_state[f"{prefix}_send_error"] = f"Nothing was sent: {exc}"
        return
    if not plan.events:
        st.session_state[f"{prefix}_send_error"] = (
            "Nothing was sent: every one of these events was sent to this site before."
        )
        return
    job = SendJob.start(plan, source=source, table=table, target=target.label)
    job.canary = canary is not None
    if target.is_live:
        job.rate = float(st.session_state.get(f"{prefix}_rate") or BENTO_REQUESTS_PER_MINUTE)
    history.append(job)
    for key in ("confirm", "send_again", "resend_unknown"):
        st.session_state[f"{prefix}_{key}"] = False


# ---------------------------------------------------------------- during and after


def job_view(prefix: str, job: SendJob, source: str, target: Target | None,
             rows_label: str) -> None:
    """A job's progress while it sends (sending what is pending), then its outcome."""
    st.markdown(f"**{'Sending' if job.sending else 'Sent'} to {escape_markdown(job.target)}**")
    progress = st.empty()
    table_slot = st.empty()
    if job.sending:
        _run(job, progress, table_slot, rows_label)
        if not job.sending:
            st.rerun()  # draw the page again from the finished job (sidebar counts too)
    _progress(progress, job)
    with table_slot.container():
        st.dataframe(with_dashes(paged(job.table_view(), f"{prefix}_report_page",
                                       noun="batches")),
                     hide_index=True, width="stretch", column_config=_columns(rows_label))
    if not job.sending:
        _outcome(prefix, job, source, target)


def _run(job: SendJob, progress: Any, table_slot: Any, rows_label: str) -> None:
    """Send what the job asks for next, showing each answer as it comes.

    The first send is the job's plan; after a rerun stopped it, or for a retry, it is a
    resume of the same run, planned from the ledger: batches with an answer are never
    sent again by a rerun, and the ledger's lock keeps any other process off them.
    """
    if job.results and job.continuing:
        st.info("Sending continues where it stopped: batches that already have an answer "
                "are not sent again.")
    st.caption("Stay on this page until the send finishes: leaving pauses it, and it picks "
               "up where it stopped when you come back.")
    if not job.lock.acquire(timeout=LOCK_WAIT_SECONDS):
        st.warning("Another send is still running in this session: wait for it to finish.")
        return
    shown = {"at": 0.0}

    def on_start(report: SendReport) -> None:
        job.run_id = report.run_id
        job.held_back = report.held_back
        job.plan = None  # from now on, continuing is a resume of this run

    def on_batch(result: BatchResult) -> None:
        job.record(result)  # first: a rerun may stop this script at the next st call
        _progress(progress, job, result)
        now = time.monotonic()
        if now - shown["at"] >= TABLE_REFRESH_SECONDS or not job.pending:
            shown["at"] = now
            table_slot.dataframe(with_dashes(_live_rows(job.table_view())), hide_index=True,
                                 width="stretch", column_config=_columns(rows_label))

    try:
        with Ledger() as ledger:
            plan = job.plan if job.plan is not None else _next_plan(job, ledger)
            plan.ledger = ledger
            for batch in plan.batches:
                job.batches.setdefault(batch.number, batch)
            _progress(progress, job)
            job.finish(plan.send(
                on_batch=on_batch, on_start=on_start, rate=job.rate,
                on_wait=lambda _seconds, why: progress.progress(
                    len(job.results) / max(1, len(job.batches)), text=why),
            ))
    except BentoUIError as exc:
        job.stopped = str(exc)
        job.sending = False
        job.plan = None
    finally:
        job.lock.release()


def _next_plan(job: SendJob, ledger: Ledger) -> SendPlan:
    """A resume of the job's run: what is left (continuing) or what the retry asks for."""
    assert job.run_id is not None and job.credentials is not None
    plan = plan_resume(job.run_id, job.credentials, ledger=ledger, table=job.table,
                       resend=job.resend)
    if job.continuing:  # only what has no answer yet: a retry is the person's to ask for
        plan.earlier.extend(job.results[b.number] for b in plan.batches
                            if b.number in job.results)
        plan.batches = [b for b in plan.batches if b.number not in job.results]
    else:  # a retry: its batches wait again, so the table and the progress bar agree
        for batch in plan.batches:
            job.results.pop(batch.number, None)
    job.continuing = True
    return plan


def _progress(slot: Any, job: SendJob, last: BatchResult | None = None) -> None:
    share, text = progress_text(job, last)
    slot.progress(share, text=text)


def _columns(rows_label: str) -> dict[str, Any]:
    return {
        "batch": st.column_config.NumberColumn("batch", width="small"),
        "rows": st.column_config.TextColumn(rows_label),
        "events": st.column_config.NumberColumn("events", width="small"),
        "results": st.column_config.TextColumn("recorded", help="Bento's `results` count"),
        "failed": st.column_config.TextColumn("failed", help="Bento's `failed` count"),
        "state": st.column_config.TextColumn("state"),
        "message": st.column_config.TextColumn("message", width="large"),
    }


def _live_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """While sending, at most LIVE_BATCHES rows: the latest answers and what comes next."""
    if len(frame) <= LIVE_BATCHES:
        return frame
    answered = frame[frame["state"] != BatchState.WAITING]
    waiting = frame[frame["state"] == BatchState.WAITING]
    return pd.concat([answered.tail(LIVE_BATCHES // 2), waiting.head(LIVE_BATCHES // 2)])


def _outcome(prefix: str, job: SendJob, source: str, target: Target | None) -> None:
    totals = job.totals
    where = "the sandbox" if job.target == "the sandbox" else "Bento"
    held = job.held_back_events
    sent = totals["events"] - held
    if job.done and all(r.state == BatchState.ACCEPTED for r in job.results.values()):
        everything = "The event was" if sent == 1 else f"All {sent:,} events were"
        if held:
            everything = ("The event sent was" if sent == 1
                          else f"All {sent:,} events sent were")
        st.success(f"{everything} recorded by {where}.")
    else:
        st.warning(escape_markdown(job.summary()))
    if held:
        st.info(f"{count(held, 'event')} {'was' if held == 1 else 'were'} held back, not "
                "sent: the send history shows this site received them before.")
    if job.stopped:
        st.error(escape_markdown(job.stopped))
    labels = [("Events in", "events"), ("Recorded", "recorded"), ("Failed", "failed"),
              ("Unknown", "unknown"), ("Not sent", "not sent")]
    for column, (label, key) in zip(st.columns(5), labels, strict=True):
        column.metric(label, f"{totals[key]:,}")
    failures = job.report().failures_table
    if len(failures):
        st.markdown(f"**Bento refused {count(len(failures), 'event')}**, each with its "
                    "reason. They were not recorded: fix their rows and send them again.")
        st.dataframe(paged(failures, f"{prefix}_failures_page", noun="refused events"),
                     hide_index=True, width="stretch")
        st.download_button("Download the refused events (CSV)", lambda: csv_bytes(failures),
                           file_name="refused-events.csv", mime="text/csv",
                           key=f"{prefix}_failures_csv", on_click="ignore")
    report = job.table_view(full=True)
    st.download_button("Download the per-batch report (CSV)", lambda: csv_bytes(report),
                       file_name="send-report.csv", mime="text/csv", key=f"{prefix}_report_csv",
                       on_click="ignore")
    if job.run_id:
        st.caption(f"Recorded in the send history as run {escape_markdown(job.run_id)}.")
    _retry_section(prefix, job, source, target)


def _same_site(job: SendJob, target: Target) -> bool:
    """Retries go to the site the job's run was recorded for, nowhere else."""
    if job.credentials is None:
        return True
    return (job.credentials.site_uuid == target.credentials.site_uuid
            and job.credentials.base_url == target.credentials.base_url)


def _retry_section(prefix: str, job: SendJob, source: str, target: Target | None) -> None:
    retryable = job.retryable()
    unknown = job.unknown()
    if not retryable and not unknown:
        return
    if target is None:
        st.info("To retry, choose where to send in the sidebar.")
        return
    if not _same_site(job, target):
        st.info(f"These batches were sent to {escape_markdown(job.target)}: retries go there "
                f"too. Choose it again in the sidebar to retry them (the sidebar now says "
                f"{escape_markdown(target.label)}).")
        return
    if retryable:
        events = sum(job.batch(n).size for n in retryable)
        st.button(
            f"Retry failed batches ({count(len(retryable), 'batch', 'batches')}, "
            f"{count(events, 'event')})",
            key=f"{prefix}_retry", on_click=_retry, args=(prefix, source, target, False),
            help="Sends again only the batches Bento recorded nothing of.",
        )
    if unknown:
        events = sum(job.batch(n).size for n in unknown)
        st.warning(
            f"{count(len(unknown), 'batch', 'batches')} ({count(events, 'event')}) got no "
            "answer, or Bento refused only some of their events without saying which: "
            "Bento may have recorded them. Check in Bento before sending them again, or "
            "they may be recorded twice."
        )
        confirmed = st.checkbox(
            "I checked: send the unknown batches again, even though Bento may have "
            "recorded them already.", key=f"{prefix}_confirm_unknown",
        )
        st.button("Send the unknown batches again", key=f"{prefix}_retry_unknown",
                  disabled=not confirmed, on_click=_retry,
                  args=(prefix, source, target, True))


def _retry(prefix: str, source: str, target: Target, include_unknown: bool) -> None:
    job = job_for(prefix, source)
    if job is None or job.sending or not _same_site(job, target):
        return
    if include_unknown and not st.session_state.get(f"{prefix}_confirm_unknown"):
        return
    if job.retryable() or (include_unknown and job.unknown()):
        job.retry(include_unknown=include_unknown)
    st.session_state[f"{prefix}_confirm_unknown"] = False


def _forget(prefix: str, source: str) -> None:
    history = jobs(prefix, source)
    if not history or not history[-1].sending:
        history.clear()
