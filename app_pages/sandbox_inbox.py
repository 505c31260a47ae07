"""Sandbox inbox: what the built-in practice Bento received, and practice failures.

Session keys (all `inbox_`): `inbox_search`, `inbox_page`, `inbox_reset`, `inbox_fault`,
`inbox_add_fault`.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from bento_ui import BentoUIError, sandbox
from bento_ui.payloads import to_json
from ui.logic import csv_bytes, escape_markdown, events_view
from ui.widgets import paged

JSON_EVENTS = 100  # events in the JSON tab: the newest of those the search finds

FAULTS: dict[str, tuple[str, list[dict[str, Any]]]] = {
    "401": ("Wrong keys (401): Bento refuses the request", [{"status": 401}]),
    "429": ("Rate limited (429), then accepted after a short wait",
            [{"status": 429, "retry_after": 1}]),
    "503": ("Bento is down (503) for the next 5 tries: the batch fails",
            [{"status": 503}] * 5),
    "slow": ("Slow answers: each of the next 10 requests takes 1 second",
             [{"delay": 1}] * 10),
    "partial": ("Bento refuses the last event of the batch", [{"failed": 1}]),
    "unknown": ("No answer after the events arrived: the outcome is unknown",
                [{"drop": "after_body"}]),
}


def add_fault() -> None:
    choice = st.session_state.get("inbox_fault")
    if choice in FAULTS:
        sandbox().add_faults(list(FAULTS[choice][1]))
        st.session_state["inbox_note"] = (
            f"The next send to the sandbox will meet: {FAULTS[choice][0].lower()}."
        )


def empty_sandbox() -> None:
    sandbox().reset()
    st.session_state["inbox_note"] = "The sandbox is empty again."


st.title("Sandbox inbox")
st.caption(
    "The sandbox is a practice Bento running inside this app. Here is every event it "
    "recorded, exactly as received. None of them reached Bento, and no one got an email."
)
try:
    bento = sandbox()
except BentoUIError as exc:
    st.error(f"The sandbox could not start: {escape_markdown(exc)}")
    st.stop()

note = st.session_state.pop("inbox_note", None)
if note:
    st.success(note)

events = bento.events()
left, middle, right = st.columns([1, 1, 2], vertical_alignment="bottom")
left.metric("Events received", f"{len(events):,}")
middle.metric("Requests", f"{bento.request_count:,}",
              help="Requests that reached the sandbox, including refused ones.")
right.button("Empty the sandbox", key="inbox_reset", on_click=empty_sandbox,
             help="Forgets every event it received and any practice failure queued.")

if not events:
    st.info(
        "The sandbox has not received any events yet. Choose the sandbox in the sidebar, "
        "then send events from Compose or Upload a spreadsheet."
    )
else:
    # Newest first: the events just sent are the ones people come to look at.
    view = events_view(events).iloc[::-1]
    search = st.text_input("Search", key="inbox_search", placeholder="an email or an event type")
    if search.strip():
        needle = search.strip().lower()
        mask = view["email"].str.lower().str.contains(needle, regex=False) | view[
            "type"
        ].str.lower().str.contains(needle, regex=False)
        view = view[mask]
        st.caption(f"{len(view):,} of {len(events):,} events match.")
    st.caption("Newest first; # is the order they arrived in.")
    shown = [events[number - 1] for number in view.index[:JSON_EVENTS]]  # what the table shows
    table_tab, json_tab = st.tabs(["Table", f"JSON of the newest {min(len(view), JSON_EVENTS):,}"])
    with table_tab:
        st.dataframe(paged(view, "inbox_page", noun="events"), width="stretch")
        st.download_button("Download as CSV", lambda: csv_bytes(events_view(events), index=True),
                           file_name="sandbox-events.csv", mime="text/csv",
                           key="inbox_csv", on_click="ignore")
    with json_tab:
        st.code(to_json(shown), language="json")

with st.expander("Practice failures: see how the app handles Bento's bad days"):
    st.caption(
        "Choose what the sandbox does with the next send, then send something from "
        "Compose or Upload. Each failure applies to the next request only (slow answers: "
        "to the next 10)."
    )
    st.selectbox("Next request", list(FAULTS), format_func=lambda k: FAULTS[k][0],
                 key="inbox_fault")
    st.button("Make the next request fail this way", key="inbox_add_fault", on_click=add_fault)
