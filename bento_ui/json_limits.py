"""JSON from a file, a cell or a request, within limits every part of the tool handles.

One limit for every side: validation refuses details nested deeper than `MAX_DEPTH`, the
payload encoder and the ledger can always write what validation allows, and the emulator
accepts every request body such details fit in (`MAX_BODY_DEPTH`) and answers 400 to
deeper ones. Real details use a handful of levels; Python's json reads an object nested
about 1,000 levels deep only as far as its stack allows (a RecursionError past that,
sooner in a thread), and refuses integers of more than 4,300 digits with a ValueError.

Python's json also reads `1e999` as infinity, which is not JSON and cannot be sent or
served back: `finite_float` refuses it while parsing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

MAX_DEPTH = 100  # levels of objects and lists in details; real event details use a handful
MAX_DETAILS_DEPTH = MAX_DEPTH
# {"events": [ {"details": ...} ]}: the body, the list and the event hold the details.
MAX_BODY_DEPTH = MAX_DETAILS_DEPTH + 3


class TooDeep(ValueError):
    """The JSON nests objects or lists deeper than the limit."""


class NumberTooLong(ValueError):
    """The JSON holds an integer longer than Python reads (4,300 digits)."""


class NotFinite(ValueError):
    """A JSON number too large for a float (`1e999`); its text is the message."""


def finite_float(text: str) -> float:
    """`parse_float` for json.loads: the number, or NotFinite when it overflows."""
    value = float(text)
    if not math.isfinite(value):
        raise NotFinite(text[:40])
    return value


def depth(value: Any) -> int:
    """Levels of objects and lists in `value` (0 for a plain value), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        level += 1
        deepest = max(deepest, level)
        stack.extend((child, level) for child in children if isinstance(child, dict | list))
    return deepest


def deeper_than(value: Any, limit: int) -> bool:
    """Whether objects and lists nest more than `limit` levels in `value` (`{}` is one)."""
    return depth(value) > limit


def loads(
    text: str,
    *,
    max_depth: int = MAX_DEPTH,
    parse_constant: Callable[[str], Any] | None = None,
    parse_float: Callable[[str], Any] | None = None,
) -> Any:
    """`json.loads(text)`, raising TooDeep or NumberTooLong instead of what json raises
    (or lets through) for a value it cannot handle."""
    try:
        value = json.loads(text, parse_constant=parse_constant, parse_float=parse_float)
    except RecursionError:
        raise TooDeep(f"nested more than {max_depth} levels deep") from None
    except ValueError as error:
        if type(error) is ValueError and "digits" in str(error):
            raise NumberTooLong("a whole number with more than 4,300 digits") from None
        raise
    # A text with no more brackets than the limit cannot nest deeper than it.
    if text.count("{") + text.count("[") > max_depth and depth(value) > max_depth:
        raise TooDeep(f"nested more than {max_depth} levels deep")
    return value
