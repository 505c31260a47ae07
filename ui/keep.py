"""What a person chose on a page is still there when they come back to it.

Streamlit forgets a widget's value when another page runs (it clears the widgets of
the page left as the new page starts), so going from Upload to Compose and back would
reset the time zone, the sheet, the date order, the batch size... The entry point
copies each page's choices to a key of its own at the end of every run of that page
(`remember_choices`, in a `finally`, so a run cut short by leaving counts too), and
puts them back when the person arrives on the page again (`restore_choices`), before
any widget is drawn: the widgets take those values as their own.

Only plain input widgets are listed: never a button (its value is a click, and keeping
it would replay the click), a file uploader or a data editor (Streamlit refuses to
have their values set). The pages keep those themselves: Upload keeps the file's bytes
and rebuilds its mapping editor, Compose rebuilds its key/value editors.
"""

from __future__ import annotations

import streamlit as st

KEPT = "kept_choices"  # page -> {widget key: value}
ARRIVED = "kept_page"  # the page the last run was for
# The send panel's choices (ui/send.py), under each page's prefix.
SEND_PANEL = ("batch_size", "rate", "confirm", "send_again", "resend_unknown",
              "confirm_unknown", "report_page", "canary_size", "curl")
CHOICES: dict[str, tuple[str, ...]] = {
    "compose": (
        "compose_kind", "compose_custom_type", "compose_email", "compose_purchase_key",
        "compose_purchase_amount", "compose_amount_unit", "compose_purchase_currency",
        "compose_tag",
        "compose_details_mode", "compose_details_json", "compose_has_date", "compose_date",
        "compose_time", "compose_tz", "compose_pick",
        *(f"compose_{name}" for name in SEND_PANEL),
    ),
    "upload": (
        "upload_sheet", "upload_default_type", "upload_tz", "upload_date_order",
        "upload_errors_only", "upload_problems_page", "upload_fix_warnings",
        "upload_fix_page", "upload_choice", "upload_preview_row", "upload_amounts",
        "upload_problem_column", "upload_problem_kind", "upload_bulk_column",
        "upload_bulk_action", "upload_bulk_find", "upload_bulk_value", "upload_drop_row",
        "upload_header_row", "upload_rest", "upload_remember",
        *(f"upload_{name}" for name in SEND_PANEL),
    ),
}


def restore_choices(page: str) -> None:
    """On arriving at `page` from another page: its choices as they were when it was left.
    Within the page nothing is put back, so a choice the page itself clears (a new file
    starts afresh) stays cleared."""
    state = st.session_state
    arrived = state.get(ARRIVED) != page
    state[ARRIVED] = page
    kept = state.get(KEPT, {}).get(page, {})
    if not arrived:
        return
    for key, value in kept.items():
        if key not in state:
            state[key] = value


def remember_choices(page: str) -> None:
    """The choices of `page` as this run leaves them."""
    state = st.session_state
    kept = state.setdefault(KEPT, {}).setdefault(page, {})
    for key in CHOICES.get(page, ()):
        if key in state:
            kept[key] = state[key]
        else:
            kept.pop(key, None)
