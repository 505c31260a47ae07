"""The send panel, shared by Compose and Upload.

Before: the target, how many events and batches, the batch size and a confirmation.
During: a progress bar and a live per-batch table, fed by `send_batches(on_batch=...)`.
After: totals, the per-batch table as CSV, and "Retry failed batches".

Sending twice is what people fear most, so:
- the Send button only plans a job, in its on_click callback, for the rows of the source
  (an outbox, a file) that no earlier job of that source holds; a second click finds
  nothing left to plan and does nothing;
- each batch's outcome is stored in the job before anything else happens, so a rerun in
  the middle of a send (a double click, a widget change) resumes with the batches that
  have no answer yet instead of starting again;
- the job's lock keeps two script runs from sending at the same time;
- batches whose outcome is unknown are only resent after an extra confirmation;
- rows added or fixed after a send can be sent on their own ("the rows not sent yet").

Session keys, all prefixed with the page's prefix: `<p>_jobs` (source -> list of
SendJob, the last one current), `<p>_batch_size`, `<p>_confirm`, `<p>_send`,
`<p>_retry`, `<p>_confirm_unknown`, `<p>_retry_unknown`, `<p>_start_over`,
`<p>_report_csv`, `<p>_report_page`, `<p>_send_error`.
"""

from __future__ import annotations

import math
import time
from typing import Any

import pandas as pd
import streamlit as st

from bento_ui import BentoUIError, send_batches
from bento_ui.batching import MAX_BATCH_SIZE
from bento_ui.sending import ACCEPTED, BatchResult
from bento_ui.ui_state import SendJob, count, csv_bytes, live_warning
from ui.connection import Target, current_target
from ui.widgets import paged, target_box

LOCK_WAIT_SECONDS = 120
TABLE_REFRESH_SECONDS = 0.3
LIVE_BATCHES = 200  # rows of the per-batch table redrawn while sending


def jobs(prefix: str, source: str) -> list[SendJob]:
    store: dict[str, list[SendJob]] = st.session_state.setdefault(f"{prefix}_jobs", {})
    return store.setdefault(source, [])


def job_for(prefix: str, source: str) -> SendJob | None:
    """The current (latest) send of a source, if any."""
    found = jobs(prefix, source)
    return found[-1] if found else None


def send_panel(prefix: str, table: pd.DataFrame, *, source: str, rows_label: str = "rows") -> None:
    """Everything about sending `table` (valid rows of an event table) for one source."""
    target = current_target()
    error = st.session_state.pop(f"{prefix}_send_error", None)
    if error:
        st.error(error)
    history = jobs(prefix, source)
    if not history:
        _plan(prefix, table, source, target)
        return
    if len(history) > 1:
        with st.expander(f"Earlier sends of these rows ({len(history) - 1})"):
            for number, earlier in enumerate(history[:-1], start=1):
                st.markdown(f"**Send {number}** to {earlier.target}: {earlier.summary()}")
    job = history[-1]
    _job(prefix, job, source, target, rows_label)
    if job.sending:
        return
    taken = set().union(*(j.rows for j in history))
    rest = table[~table.index.isin(list(taken))]
    if not rest.empty:
        st.subheader("Rows not sent yet")
        st.caption(f"{count(len(rest), 'valid row')} {'was' if len(rest) == 1 else 'were'} "
                   "not part of the sends above (fixed or added since). Only these are sent.")
        _plan(prefix, rest, source, target)
    st.divider()
    st.button("Start over", key=f"{prefix}_start_over", on_click=_forget, args=(prefix, source),
              help="Forgets these reports so every row can be sent again. Events Bento "
              "already recorded would then be recorded twice.")


# ---------------------------------------------------------------- before


def _plan(prefix: str, table: pd.DataFrame, source: str, target: Target | None) -> None:
    events = len(table)
    target_box(target)
    if events == 0:
        st.info("Nothing to send yet.")
        return
    size = int(st.columns([1, 2])[0].number_input(
        "Batch size (events per request)", min_value=1, max_value=MAX_BATCH_SIZE,
        value=MAX_BATCH_SIZE, step=100, key=f"{prefix}_batch_size",
        help="Bento takes up to 1000 events per request. Smaller batches mean more "
        "requests, and a failure affects fewer events.",
    ))
    batches = math.ceil(events / size)
    pace = ""
    if target is not None and target.is_live and batches > 1:
        pace = (" Bento allows about 60 requests a minute, so this takes about "
                f"{count(max(1, math.ceil(batches / 60)), 'minute')}.")
    st.markdown(f"**{count(events, 'event')}** in **{count(batches, 'batch', 'batches')}** "
                f"of up to {size:,}.{pace}")
    if target is None:
        return
    if target.is_live:
        label = live_warning(events, target.label)
    else:
        label = (f"Send {'this event' if events == 1 else f'these {events:,} events'} to the "
                 "sandbox (nothing leaves this computer).")
    confirmed = st.checkbox(label, key=f"{prefix}_confirm")
    st.button(
        f"Send {count(events, 'event')}", key=f"{prefix}_send", type="primary",
        disabled=not confirmed, on_click=_start, args=(prefix, table, source, size, target),
        help=None if confirmed else "Tick the confirmation first.",
    )


def _start(prefix: str, table: pd.DataFrame, source: str, size: int, target: Target) -> None:
    """on_click of Send: plan a job for the rows no job of this source holds yet.

    A second click (or a click replayed by a rerun) finds those rows taken and does
    nothing, so the same rows are never planned twice.
    """
    history = jobs(prefix, source)
    if not st.session_state.get(f"{prefix}_confirm") or (history and history[-1].sending):
        return
    taken = set().union(*(j.rows for j in history))
    table = table[~table.index.isin(list(taken))]
    if table.empty:
        return
    try:
        job = SendJob.plan(table, source=source, size=size)
    except (BentoUIError, ValueError) as exc:
        st.session_state[f"{prefix}_send_error"] = f"Nothing was sent: {exc}"
        return
    job.begin([b.number for b in job.batches], target.credentials, target.label)
    history.append(job)
    st.session_state[f"{prefix}_confirm"] = False


# ---------------------------------------------------------------- during and after


def _job(prefix: str, job: SendJob, source: str, target: Target | None, rows_label: str) -> None:
    st.markdown(f"**{'Sending' if job.sending else 'Sent'} to {job.target}**")
    progress = st.empty()
    table_slot = st.empty()
    if job.sending:
        _run(job, progress, table_slot, rows_label)
        if not job.sending:
            st.rerun()  # draw the page again from the finished job (sidebar counts too)
    _progress(progress, job)
    with table_slot.container():
        st.dataframe(paged(job.table(), f"{prefix}_report_page", noun="batches"),
                     hide_index=True, width="stretch", column_config=_columns(rows_label))
    if not job.sending:
        _outcome(prefix, job, source, target)


def _run(job: SendJob, progress: Any, table_slot: Any, rows_label: str) -> None:
    """Send the job's pending batches, showing each answer as it comes."""
    if job.results:
        st.info("Sending continues where it stopped: batches that already have an answer "
                "are not sent again.")
    st.caption("Stay on this page until the send finishes: leaving pauses it, and it picks "
               "up where it stopped when you come back.")
    if not job.lock.acquire(timeout=LOCK_WAIT_SECONDS):
        st.warning("Another send is still running in this session: wait for it to finish.")
        return
    shown = {"at": 0.0}

    def on_batch(result: BatchResult) -> None:
        job.record(result)  # first: a rerun may stop this script at the next st call
        _progress(progress, job, result)
        now = time.monotonic()
        if now - shown["at"] >= TABLE_REFRESH_SECONDS or not job.pending:
            shown["at"] = now
            table_slot.dataframe(_live_rows(job.table()), hide_index=True, width="stretch",
                                 column_config=_columns(rows_label))

    try:
        while job.pending:
            if job.stopped:
                job.skip_pending()
                break
            assert job.credentials is not None
            batches = [job.batch(n) for n in job.pending]
            _progress(progress, job)
            send_batches(batches, job.credentials, on_batch=on_batch)
    except BentoUIError as exc:
        job.stopped = str(exc)
        job.skip_pending()
    finally:
        job.lock.release()


def _progress(slot: Any, job: SendJob, last: BatchResult | None = None) -> None:
    total = len(job.batches)
    answered = total - len(job.pending)
    if job.sending:
        text = f"Sending batch {answered + 1:,} of {total:,}..."
        if last is not None:
            text = f"Batch {last.number:,}: {last.state}. " + text
    else:
        text = f"Done: {count(total, 'batch', 'batches')} answered."
    slot.progress(answered / total if total else 1.0, text=text)


def _columns(rows_label: str) -> dict[str, Any]:
    return {
        "batch": st.column_config.NumberColumn("batch", width="small"),
        "rows": st.column_config.TextColumn(rows_label),
        "events": st.column_config.NumberColumn("events", width="small"),
        "results": st.column_config.NumberColumn("recorded", help="Bento's `results` count"),
        "failed": st.column_config.NumberColumn("failed", help="Bento's `failed` count"),
        "state": st.column_config.TextColumn("state"),
        "message": st.column_config.TextColumn("message", width="large"),
    }


def _live_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """While sending, at most LIVE_BATCHES rows: the latest answers and what comes next."""
    if len(frame) <= LIVE_BATCHES:
        return frame
    answered = frame[frame["state"] != "waiting"]
    waiting = frame[frame["state"] == "waiting"]
    return pd.concat([answered.tail(LIVE_BATCHES // 2), waiting.head(LIVE_BATCHES // 2)])


def _outcome(prefix: str, job: SendJob, source: str, target: Target | None) -> None:
    totals = job.totals
    where = "the sandbox" if job.target == "the sandbox" else "Bento"
    if job.done and all(r.state == ACCEPTED for r in job.results.values()):
        everything = "The event was" if totals["events"] == 1 else (
            f"All {totals['events']:,} events were")
        st.success(f"{everything} recorded by {where}.")
    else:
        st.warning(job.summary())
    if job.stopped:
        st.error(job.stopped)
    labels = [("Events in", "events"), ("Recorded", "recorded"), ("Failed", "failed"),
              ("Unknown", "unknown"), ("Not sent", "not sent")]
    for column, (label, key) in zip(st.columns(5), labels, strict=True):
        column.metric(label, f"{totals[key]:,}")
    report = job.table(full=True)
    st.download_button("Download the per-batch report (CSV)", lambda: csv_bytes(report),
                       file_name="send-report.csv", mime="text/csv", key=f"{prefix}_report_csv",
                       on_click="ignore")
    _retry_section(prefix, job, source, target)


def _retry_section(prefix: str, job: SendJob, source: str, target: Target | None) -> None:
    retryable = job.retryable()
    unknown = job.unknown()
    if not retryable and not unknown:
        return
    if target is None:
        st.info("To retry, choose where to send in the sidebar.")
        return
    if target.label != job.target:
        st.info(f"The target changed since this send: retries go to **{target.label}**.")
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
            "answer: Bento may have recorded them. Check in Bento before sending them "
            "again, or they may be recorded twice."
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
    if job is None or job.sending:
        return
    if include_unknown and not st.session_state.get(f"{prefix}_confirm_unknown"):
        return
    numbers = job.retryable(include_unknown=include_unknown)
    if numbers:
        job.begin(numbers, target.credentials, target.label)
    st.session_state[f"{prefix}_confirm_unknown"] = False


def _forget(prefix: str, source: str) -> None:
    history = jobs(prefix, source)
    if not history or not history[-1].sending:
        history.clear()
