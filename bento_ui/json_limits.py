"""How deep event details may nest, and JSON numbers that are no numbers.

One limit for both sides: validation refuses details nested deeper than
`MAX_DETAILS_DEPTH`, and the emulator accepts every request body that such details fit in
(`MAX_BODY_DEPTH`) and answers 400 to deeper ones. Real details are a few levels deep;
the limit is far above that and far below Python's recursion limit, so parsing, copying
and writing the JSON back never hits it.

Python's json reads `1e999` as infinity, which is not JSON and cannot be sent or served
back: `finite_float` refuses it while parsing.
"""

from __future__ import annotations

import math
from typing import Any

MAX_DETAILS_DEPTH = 512
# {"events": [ {"details": ...} ]}: the body, the list and the event hold the details.
MAX_BODY_DEPTH = MAX_DETAILS_DEPTH + 3


class NotFinite(ValueError):
    """A JSON number too large for a float (`1e999`); its text is the message."""


def finite_float(text: str) -> float:
    """`parse_float` for json.loads: the number, or NotFinite when it overflows."""
    value = float(text)
    if not math.isfinite(value):
        raise NotFinite(text[:40])
    return value


def deeper_than(value: Any, limit: int) -> bool:
    """Whether objects and lists nest more than `limit` levels in `value` (`{}` is one
    level). Walked with a stack, not recursion, so no depth can break it."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth + 1 > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False
