"""Small pieces of layout the pages share: problem notes, a pager, the target box."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import streamlit as st

from ui.connection import Target
from ui.logic import ERROR, FormProblem, escape_markdown, page_count, page_of

PAGE_SIZE = 500  # rows sent to the browser at once: tables stay quick at 100k rows
# On a small screen (a 1024 px laptop, the sidebar open) Streamlit's wide layout keeps
# 5rem of padding on each side of the page: the tables get that room back instead.
_SMALL_SCREEN_CSS = """<style>
@media (max-width: 1200px) {
  [data-testid="stMainBlockContainer"] { padding-left: 1.5rem; padding-right: 1.5rem; }
}
</style>"""


def fit_small_screens() -> None:
    """Less padding around the page on a small screen (see `_SMALL_SCREEN_CSS`)."""
    st.html(_SMALL_SCREEN_CSS)


def problem_notes(items: Sequence[FormProblem] | None) -> None:
    """The problems of one input, right under it: errors in red, warnings in yellow."""
    for item in items or ():
        if item.severity == ERROR:
            st.error(escape_markdown(item.message), icon=":material/error:")
        else:
            st.warning(escape_markdown(item.message), icon=":material/warning:")


def paged(
    frame: pd.DataFrame, key: str, *, size: int = PAGE_SIZE, noun: str = "rows"
) -> pd.DataFrame:
    """The page of `frame` the person chose; a page picker when there is more than one."""
    pages = page_count(len(frame), size)
    if pages == 1:
        st.session_state.pop(key, None)
        return frame
    current = st.session_state.get(key, 1)
    if not 1 <= current <= pages:
        st.session_state[key] = current = min(max(1, current), pages)
    left, right = st.columns([1, 3], vertical_alignment="bottom")
    with left:
        page = int(st.number_input(f"Page (of {pages:,})", min_value=1, max_value=pages,
                                   step=1, key=key))
    start = (page - 1) * size
    with right:
        st.caption(f"Showing {noun} {start + 1:,}-{min(start + size, len(frame)):,} "
                   f"of {len(frame):,}.")
    return page_of(frame, page, size)


def target_box(target: Target | None) -> None:
    """Where the events will go, stated before anything is sent."""
    if target is None:
        st.error("No target yet: in the sidebar, enter your Bento keys or choose the sandbox.")
    elif target.is_live:
        st.warning(f"Target: **{escape_markdown(target.label)}** (live, keys {target.source}).",
                   icon=":material/public:")
    else:
        st.info("Target: **the sandbox**, a practice Bento inside this app. Nothing leaves "
                "this computer.", icon=":material/science:")
