"""Work a page remembers across reruns, in session state, until what it depends on changes.

A click (a filter, a page of a table) reruns the whole script: anything computed from the
uploaded file alone would be computed again for nothing. `once(name, key, compute)`
keeps the last answer under `name` with the `key` it was computed for (the upload's
hash and the options it depends on) and computes again only when the key differs, so a
changed file, sheet, header row, column or option is never answered from before.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar

import streamlit as st

T = TypeVar("T")


def once(name: str, key: Hashable, compute: Callable[[], T]) -> T:
    """`compute()`, remembered under `name` in this session while `key` stays the same."""
    memo = st.session_state.get(name)
    if memo is None or memo[0] != key:
        memo = (key, compute())
        st.session_state[name] = memo
    answer: T = memo[1]
    return answer
