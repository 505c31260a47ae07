"""What a person chose on a page is still there when they come back to it.

Streamlit forgets a widget's value at the end of any run that does not draw the widget,
so going from Upload to Compose and back would reset the time zone, the sheet, the
date order, the batch size... Setting a value through `st.session_state` makes it the
session's own, which Streamlit keeps; the widget takes it back when it is drawn again
(Streamlit's documented way to keep widget state across pages). `keep_choices` does this
from the entry point, on every run, for the pages that are not running.

Only plain input widgets are listed: never a button (its value is a click, and keeping
it would replay the click), a file uploader or a data editor (Streamlit refuses to
have their values set). The pages keep those themselves: Upload keeps the file's bytes
and rebuilds its mapping editor, Compose rebuilds its key/value editors.
"""

from __future__ import annotations

import streamlit as st

# The send panel's choices (ui/send.py), under each page's prefix.
SEND_PANEL = ("batch_size", "confirm", "send_again", "resend_unknown", "confirm_unknown",
              "report_page")
CHOICES: dict[str, tuple[str, ...]] = {
    "compose": (
        "compose_kind", "compose_custom_type", "compose_email", "compose_purchase_key",
        "compose_purchase_amount", "compose_purchase_currency", "compose_tag",
        "compose_details_mode", "compose_details_json", "compose_has_date", "compose_date",
        "compose_time", "compose_tz", "compose_pick",
        *(f"compose_{name}" for name in SEND_PANEL),
    ),
    "upload": (
        "upload_sheet", "upload_default_type", "upload_tz", "upload_date_order",
        "upload_errors_only", "upload_problems_page", "upload_fix_warnings",
        "upload_fix_page", "upload_choice", "upload_preview_row",
        *(f"upload_{name}" for name in SEND_PANEL),
    ),
}


def keep_choices(running: str | None) -> None:
    """Keep the choices of every page but `running` (a page keeps its own while it is
    drawn; setting them there would make Streamlit warn about a widget's default)."""
    state = st.session_state
    for page, keys in CHOICES.items():
        if page == running:
            continue
        for key in keys:
            if key in state:
                state[key] = state[key]
