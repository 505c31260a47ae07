"""Compose: one event at a time in a form, checked as you type, collected in an outbox.

Session keys (all `compose_`): the form's widgets (`compose_kind`, `compose_custom_type`,
`compose_email`, `compose_purchase_key`, `compose_purchase_amount`,
`compose_purchase_currency`, `compose_tag`, `compose_details_mode`,
`compose_details_json`, `compose_has_date`, `compose_date`, `compose_time`, `compose_tz`),
the key/value editors `compose_fields_<n>` and `compose_details_<n>` (n in
`compose_editor_version`, bumped to clear them; `compose_fields_shown` and
`compose_details_shown` hold what they showed last, to draw them again after another
page), `compose_clear` (clear the form at the start of the next run), `compose_outbox`
(list of entries: {"form": form values, "row": the validated event-table row}),
`compose_outbox_id`, `compose_editing` (index being edited), `compose_tried` (Add was
pressed with errors). The widgets' values survive other pages (ui/keep.py).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import streamlit as st

from bento_ui import BentoUIError, build_events, validate
from bento_ui import events as ev
from bento_ui.payloads import to_json
from bento_ui.sending import Origin
from ui.logic import (
    AMOUNT_UNITS,
    CUSTOM_KIND,
    amount_both_ways,
    compose_event_table,
    date_text,
    escape_markdown,
    events_view,
    has_errors,
    outbox_table,
    pairs_frame,
    pairs_from_frame,
    problems_by_place,
    time_zones,
)
from ui.send import job_for, send_panel
from ui.widgets import problem_notes

KINDS = [CUSTOM_KIND, *ev.BENTO_KINDS]
FORM_DEFAULTS: dict[str, Any] = {
    "compose_kind": CUSTOM_KIND,
    "compose_custom_type": "",
    "compose_email": "",
    "compose_purchase_key": "",
    "compose_purchase_currency": "USD",
    "compose_tag": "",
    "compose_details_mode": "pairs",
    "compose_details_json": "",
    "compose_has_date": False,
    "compose_tz": "UTC",
}
# No fixed widths: the two columns share the editor's width. Fixed ones (200 + 400 px)
# overflowed the form column on a laptop screen and scrolled the key out of view.
PAIR_COLUMNS = {
    "key": st.column_config.TextColumn("key"),
    "value": st.column_config.TextColumn("value"),
}


def kind_label(kind: str) -> str:
    if kind == CUSTOM_KIND:
        return "Custom event (name it below)"
    return f"{kind}: {ev.BENTO_KINDS[kind]}"


def blank_pairs() -> Any:
    """A key/value table with a few empty rows to type into (empty rows are ignored)."""
    return pairs_frame([("", "")] * 3)


def init_state() -> None:
    for key, value in FORM_DEFAULTS.items():
        st.session_state.setdefault(key, value)
    st.session_state.setdefault("compose_date", dt.date.today())
    st.session_state.setdefault("compose_time", dt.time(0, 0))
    st.session_state.setdefault("compose_outbox", [])
    st.session_state.setdefault("compose_outbox_id", 1)
    st.session_state.setdefault("compose_editor_version", 0)
    st.session_state.setdefault("compose_fields_base", blank_pairs())
    st.session_state.setdefault("compose_details_base", blank_pairs())


def editor_base(name: str, version: int) -> Any:
    """What a key/value editor starts from. Streamlit forgets an editor's edits when it is
    not drawn (another page, JSON details): drawn again, it starts from the pairs it
    showed last, so nothing typed is lost."""
    shown = st.session_state.get(f"compose_{name}_shown")
    if f"compose_{name}_{version}" not in st.session_state and shown and shown[0] == version:
        st.session_state[f"compose_{name}_base"] = pairs_frame([*shown[1], ("", "")])
    return st.session_state[f"compose_{name}_base"]


def clear_form(keep_type: bool = True) -> None:
    """Empty the form (keeping the event type when asked) and its key/value editors."""
    for key, value in FORM_DEFAULTS.items():
        if keep_type and key in ("compose_kind", "compose_custom_type"):
            continue
        st.session_state[key] = value
    st.session_state["compose_purchase_amount"] = None
    st.session_state["compose_fields_base"] = blank_pairs()
    st.session_state["compose_details_base"] = blank_pairs()
    st.session_state["compose_editor_version"] += 1
    st.session_state["compose_tried"] = False
    st.session_state["compose_editing"] = None


def load_form(form: dict[str, Any]) -> None:
    """Put an outbox entry's values back into the form, to edit it."""
    for key, value in form.items():
        if key in ("fields", "details"):
            st.session_state[f"compose_{key}_base"] = pairs_frame([*value, ("", "")])
        else:
            st.session_state[key] = value
    st.session_state["compose_editor_version"] += 1
    st.session_state["compose_tried"] = False


def add(entry: dict[str, Any] | None) -> None:
    """Add (or save) the entry the form shows in this very run, then rerun to clear the
    form. Not an on_click callback: a callback's arguments are those of the run before
    the click, which misses what was typed just before clicking."""
    if entry is None:
        st.session_state["compose_tried"] = True
        st.rerun()
    outbox = st.session_state["compose_outbox"]
    editing = st.session_state.get("compose_editing")
    if editing is not None and 0 <= editing < len(outbox):
        outbox[editing] = entry
        st.session_state["compose_note"] = f"Entry #{editing + 1} was updated."
    else:
        outbox.append(entry)
        st.session_state["compose_note"] = f"Added to the outbox as #{len(outbox)}."
    st.session_state["compose_clear"] = True  # the form's widgets are drawn: clear next run
    st.rerun()


def on_edit() -> None:
    index = st.session_state.get("compose_pick")
    outbox = st.session_state["compose_outbox"]
    if index is None or not 0 <= index < len(outbox):
        return
    clear_form(keep_type=False)
    load_form(outbox[index]["form"])
    st.session_state["compose_editing"] = index


def on_remove() -> None:
    index = st.session_state.get("compose_pick")
    outbox = st.session_state["compose_outbox"]
    if index is not None and 0 <= index < len(outbox):
        outbox.pop(index)
        st.session_state["compose_note"] = f"Entry #{index + 1} was removed."
        editing = st.session_state.get("compose_editing")
        if editing == index:
            clear_form()
        elif editing is not None and editing > index:
            st.session_state["compose_editing"] = editing - 1
    st.session_state["compose_pick"] = None


def on_new_outbox() -> None:
    st.session_state["compose_outbox"] = []
    st.session_state["compose_outbox_id"] += 1
    st.session_state["compose_pick"] = None
    clear_form()


init_state()
if st.session_state.pop("compose_clear", False):
    clear_form()
st.title("Compose events")
st.caption(
    "Build one event at a time. Each event is checked as you type and goes into the "
    "outbox below; nothing is sent until you press Send."
)

outbox: list[dict[str, Any]] = st.session_state["compose_outbox"]
source = f"outbox-{st.session_state['compose_outbox_id']}"
sent = job_for("compose", source) is not None
editing = st.session_state.get("compose_editing")
version = st.session_state["compose_editor_version"]

form_col, preview_col = st.columns([3, 2], gap="large")
with form_col:
    st.subheader(f"Edit entry #{editing + 1}" if editing is not None else "New event")
    kind = st.selectbox("Event type", KINDS, format_func=kind_label, key="compose_kind",
                        help="Bento's own kinds start with $. Anything else is a custom "
                        "event, named as you like (webinar_attended, trial_started).")
    if kind == CUSTOM_KIND:
        event_type = st.text_input("Event name", key="compose_custom_type",
                                   placeholder="webinar_attended")
    else:
        event_type = kind
    type_notes = st.container()
    email = st.text_input("Email", key="compose_email", placeholder="jane@example.com",
                          help="The subscriber. Bento creates them when the address is new.")
    email_notes = st.container()

    kind_details: dict[str, str] = {}
    kind_notes: dict[str, Any] = {}
    if kind == ev.PURCHASE:
        key_col, amount_col, currency_col = st.columns([2, 1, 1])
        with key_col:
            kind_details[ev.PURCHASE_KEY] = st.text_input(
                "Unique key (order id)", key="compose_purchase_key", placeholder="ORDER-1001",
                help="Bento drops a second purchase with the same key.")
            kind_notes[ev.PURCHASE_KEY] = st.container()
        # Money: typed as text in the unit chosen below, never through a float.
        with amount_col:
            amount = st.text_input("Amount", key="compose_purchase_amount", placeholder="49.99",
                                   help="In the unit chosen below: 49.99, or 4999 cents.")
            kind_details[ev.PURCHASE_AMOUNT] = (amount or "").strip()
            kind_notes[ev.PURCHASE_AMOUNT] = st.container()
        with currency_col:
            kind_details[ev.PURCHASE_CURRENCY] = st.text_input(
                "Currency", key="compose_purchase_currency", max_chars=3,
                help="A 3-letter code: USD, EUR, GBP.")
            kind_notes[ev.PURCHASE_CURRENCY] = st.container()
        st.session_state.setdefault("compose_amount_unit", "major")
        amount_unit = st.radio("The amount is in", list(AMOUNT_UNITS), key="compose_amount_unit",
                               format_func=AMOUNT_UNITS.get, horizontal=True)
        both = amount_both_ways(amount, kind_details[ev.PURCHASE_CURRENCY], amount_unit)
        if both:
            # Digits and a checked code only: nothing to escape.
            st.caption(f"{both}: Bento receives the amount in minor units.")
    elif kind in (ev.TAG, ev.REMOVE_TAG):
        kind_details[ev.TAG_NAME] = st.text_input("Tag", key="compose_tag", placeholder="vip")
        kind_notes[ev.TAG_NAME] = st.container()

    st.markdown("**Fields**: written to the subscriber's profile (one plain value each).")
    fields_frame = st.data_editor(
        editor_base("fields", version), key=f"compose_fields_{version}",
        num_rows="dynamic", hide_index=True, width="stretch", column_config=PAIR_COLUMNS,
    )
    fields_notes = st.container()

    st.markdown("**Details**: data about this event (nested allowed).")
    details_mode = st.radio(
        "Write details as", ["pairs", "json"], key="compose_details_mode", horizontal=True,
        format_func=lambda m: "Key and value (dots nest: order.id)" if m == "pairs" else "JSON",
        label_visibility="collapsed",
    )
    details_pairs: list[tuple[str, str]] = []
    details_json = ""
    if details_mode == "pairs":
        details_frame = st.data_editor(
            editor_base("details", version), key=f"compose_details_{version}",
            num_rows="dynamic", hide_index=True, width="stretch", column_config=PAIR_COLUMNS,
        )
        details_pairs = pairs_from_frame(details_frame)
        st.session_state["compose_details_shown"] = (version, details_pairs)
    else:
        details_json = st.text_area("Details as JSON", key="compose_details_json",
                                    placeholder='{"plan": "pro", "order": {"id": "A-17"}}',
                                    height=120)
    details_notes = st.container()

    has_date = st.checkbox("Set when it happened (backfill)", key="compose_has_date",
                           help="Without a date, Bento uses the moment it receives the event.")
    day = time_of_day = None
    tz = "UTC"
    if has_date:
        day_col, time_col, tz_col = st.columns(3)
        day = day_col.date_input("Date", key="compose_date")
        time_of_day = time_col.time_input("Time", key="compose_time", step=60)
        tz = tz_col.selectbox("Time zone", time_zones(), key="compose_tz",
                              help="The date and time are read in this zone and sent as UTC.")
    date_notes = st.container()

fields_pairs = pairs_from_frame(fields_frame)
st.session_state["compose_fields_shown"] = (version, fields_pairs)
table, form_problems = compose_event_table(
    event_type, email, fields=fields_pairs, details=details_pairs, details_json=details_json,
    kind_details=kind_details, date=date_text(day, time_of_day) if has_date else "",
    row=len(outbox) + 1,
)
validation = validate(table, timezone=tz,
                      amounts=st.session_state.get("compose_amount_unit", "minor")
                      if kind == ev.PURCHASE else "minor")
tried = bool(st.session_state.get("compose_tried"))
grouped = problems_by_place(validation, form_problems, hide_blank=not tried)
blocked = has_errors(problems_by_place(validation, form_problems))

for place, slot in [("type", type_notes), ("email", email_notes), ("fields", fields_notes),
                    ("details", details_notes), ("date", date_notes), ("event", date_notes),
                    *kind_notes.items()]:
    with slot:
        problem_notes(grouped.get(place))

form_values = {
    "compose_kind": kind, "compose_custom_type": st.session_state.get("compose_custom_type", ""),
    "compose_email": email, "compose_details_mode": details_mode,
    "compose_details_json": details_json, "compose_has_date": has_date,
    "fields": fields_pairs, "details": details_pairs,
}
if kind == ev.PURCHASE:
    form_values.update({
        "compose_purchase_key": kind_details[ev.PURCHASE_KEY],
        "compose_purchase_amount": st.session_state.get("compose_purchase_amount"),
        "compose_amount_unit": st.session_state.get("compose_amount_unit", "major"),
        "compose_purchase_currency": kind_details[ev.PURCHASE_CURRENCY],
    })
if ev.TAG_NAME in kind_details:
    form_values["compose_tag"] = kind_details[ev.TAG_NAME]
if has_date:
    form_values.update({"compose_date": day, "compose_time": time_of_day, "compose_tz": tz})
entry = None
if not blocked and len(validation.valid) == 1:
    entry = {"form": form_values, "row": validation.valid.iloc[0].to_dict()}

with form_col:
    if sent:
        st.info("This outbox was sent. Start a new outbox (below) to add more events.")
    add_col, cancel_col = st.columns([1, 1])
    if add_col.button(
        f"Save changes to #{editing + 1}" if editing is not None else "Add to outbox",
        key="compose_add", type="primary", disabled=sent,
    ):
        add(entry)
    if editing is not None:
        cancel_col.button("Cancel editing", key="compose_cancel", on_click=clear_form)
    if tried and blocked:
        st.error("This event has problems: fix the inputs marked above, then add it again.")
    note = st.session_state.pop("compose_note", None)
    if note:
        st.success(note)

with preview_col:
    st.subheader("What Bento will receive")
    if entry is not None:
        # Wrapped: the preview column is narrow, and a long value must not hide its end.
        st.code(json.dumps(build_events(validation.valid)[0], indent=2, ensure_ascii=False),
                language="json", wrap_lines=True)
    else:
        st.caption("The event appears here as JSON once the form has no errors.")

st.divider()
st.header("Outbox")
if not outbox:
    st.info("The outbox is empty. Add an event above; nothing is sent until you press Send.")
else:
    try:
        box = outbox_table([e["row"] for e in outbox])
        checked = validate(box)
        events = build_events(checked.valid)
    except (BentoUIError, ValueError) as exc:
        st.error(f"The outbox cannot be prepared: {escape_markdown(exc)}")
        st.stop()
    for message in checked.problems["message"].unique():
        st.warning(escape_markdown(message[:1].upper() + message[1:]))
    st.caption(f"{len(outbox):,} event{'s' if len(outbox) != 1 else ''} in the outbox.")
    table_tab, json_tab = st.tabs(["Table", "JSON (exactly what is sent)"])
    with table_tab:
        st.dataframe(events_view(events), width="stretch")
    with json_tab:
        st.code(to_json(events), language="json")

    if sent:
        st.button("Start a new outbox", key="compose_new_outbox", on_click=on_new_outbox)
    else:
        pick_col, edit_col, remove_col, clear_col = st.columns([3, 1, 1, 1],
                                                               vertical_alignment="bottom")
        pick_col.selectbox(
            "Entry", list(range(len(outbox))), index=None, key="compose_pick",
            placeholder="Choose an entry to edit or remove",
            format_func=lambda i: f"#{i + 1}  {outbox[i]['row'].get('type', '')}  "
            f"{outbox[i]['row'].get('email', '')}",
        )
        picked = st.session_state.get("compose_pick") is not None
        edit_col.button("Edit", key="compose_edit", disabled=not picked, on_click=on_edit)
        remove_col.button("Remove", key="compose_remove", disabled=not picked,
                          on_click=on_remove)
        clear_col.button("Empty the outbox", key="compose_clear", on_click=on_new_outbox)

    st.subheader("Send the outbox")
    send_panel("compose", checked.valid, source=source, rows_label="outbox entries",
               origin=Origin(name="Compose outbox", options={"origin": "app compose"}))
