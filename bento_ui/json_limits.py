"""JSON from a file or a cell, within limits every part of the tool can handle.

Python's json reads an object nested about 1,000 levels deep only as far as its stack
allows (a RecursionError past that, sooner in a thread), and refuses integers of more
than 4,300 digits with a ValueError. Whatever is read here is at most `MAX_DEPTH` levels
deep, so validation, the payload encoder and the emulator all handle what passes: what
validation allows can always be sent.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

MAX_DEPTH = 100  # levels of objects and lists; real event details use a handful


class TooDeep(ValueError):
    """The JSON nests objects or lists deeper than MAX_DEPTH."""


class NumberTooLong(ValueError):
    """The JSON holds an integer longer than Python reads (4,300 digits)."""


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
        stack.extend((child, level) for child in children)
    return deepest


def loads(
    text: str, *, max_depth: int = MAX_DEPTH, parse_constant: Callable[[str], Any] | None = None
) -> Any:
    """`json.loads(text)`, raising TooDeep or NumberTooLong instead of what json raises
    (or lets through) for a value it cannot handle."""
    try:
        value = json.loads(text, parse_constant=parse_constant)
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
