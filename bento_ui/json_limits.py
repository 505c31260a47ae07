"""JSON from a file, a cell or a request, within limits every part of the tool handles.

One limit for every side: validation refuses details nested deeper than `MAX_DEPTH`, the
payload encoder and the ledger can always write what validation allows, and the emulator
accepts every request body such details fit in (`MAX_BODY_DEPTH`) and answers 400 to
deeper ones. Real details use a handful of levels; Python's json reads an object nested
about 1,000 levels deep only as far as its stack allows (a RecursionError past that,
sooner in a thread), and refuses integers of more than 4,300 digits with a ValueError.

Python's json also reads `1e999` as infinity, which is not JSON and cannot be sent or
served back: `finite_float` refuses it while parsing.

Numbers go out as the person wrote them: `loads_as_written` keeps a number whose text a
float would change (`1.5e3`, `4999.00`, `-0`, `0.1000000000000000055511`) as a
`WrittenNumber`, a float that shows itself as its text, and `dumps` writes it back as that
text (Python's json would write `1500.0`). Every other number stays a plain int or float.
"""

from __future__ import annotations

import functools
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


class WrittenNumber(float):
    """A JSON number a float would rewrite, kept as written: it compares and computes as
    its float, and shows (repr, str) and is written by `dumps` as `text`."""

    __slots__ = ("text",)
    text: str

    def __new__(cls, text: str) -> WrittenNumber:
        number = super().__new__(cls, text)
        number.text = text
        return number

    def __repr__(self) -> str:
        return self.text

    __str__ = __repr__

    def __reduce__(self) -> tuple[type[WrittenNumber], tuple[str]]:
        return (WrittenNumber, (self.text,))


def written_float(text: str) -> float:
    """`parse_float` for json.loads: the float, a WrittenNumber when the float would write
    it differently, NotFinite when it overflows."""
    value = float(text)
    if not math.isfinite(value):
        raise NotFinite(text[:40])
    return value if repr(value) == text else WrittenNumber(text)


def written_int(text: str) -> int | float:
    """`parse_int` for json.loads: the int; `-0` (the one integer an int rewrites) kept as
    written."""
    return WrittenNumber(text) if text == "-0" else int(text)


def loads_as_written(
    text: str, *, max_depth: int = MAX_DEPTH, parse_constant: Callable[[str], Any] | None = None
) -> Any:
    """`loads`, with every number kept as written (see the module's docstring); a number
    too large for a float raises NotFinite."""
    return loads(
        text,
        max_depth=max_depth,
        parse_constant=parse_constant,
        parse_float=written_float,
        # Only "-0" is an integer an int rewrites: the hook (a call per integer) only then.
        parse_int=written_int if "-0" in text else None,
    )


def holds_written(value: Any) -> bool:
    """Whether a WrittenNumber is somewhere in `value` (without recursion)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif type(item) is WrittenNumber:
            return True
    return False


def dumps(value: Any, *, indent: int | None = None) -> str:
    """`json.dumps(value, ensure_ascii=False, allow_nan=False)`, compact (or indented),
    with each WrittenNumber written as written. Raises ValueError for NaN or infinity."""
    if not holds_written(value):  # the common case: Python's json, in C
        separators = (",", ":") if indent is None else (",", ": ")
        return json.dumps(
            value, ensure_ascii=False, allow_nan=False, indent=indent, separators=separators
        )
    parts: list[str] = []
    _write(value, parts, indent, 0)
    return "".join(parts)


_encode_text = json.encoder.encode_basestring  # json.dumps(text, ensure_ascii=False)


def _write(value: Any, parts: list[str], indent: int | None, level: int) -> None:
    """`dumps` for a value holding a WrittenNumber: json.dumps' layout, in Python."""
    if isinstance(value, str):
        parts.append(_encode_text(value))
    elif type(value) is WrittenNumber:
        parts.append(value.text)
    elif value is None or isinstance(value, bool | int | float):
        parts.append(json.dumps(value, allow_nan=False))
    elif isinstance(value, dict | list):
        items = list(value.items()) if isinstance(value, dict) else list(value)
        opening, closing = ("{", "}") if isinstance(value, dict) else ("[", "]")
        if not items:
            parts.append(opening + closing)
            return
        inner = "" if indent is None else "\n" + " " * (indent * (level + 1))
        parts.append(opening)
        for position, item in enumerate(items):
            parts.append(("," if position else "") + inner)
            if isinstance(value, dict):
                key, item = item
                parts.append(_encode_text(str(key)) + (":" if indent is None else ": "))
            _write(item, parts, indent, level + 1)
        parts.append(("" if indent is None else "\n" + " " * (indent * level)) + closing)
    else:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


@functools.lru_cache(maxsize=16)
def _decoder(
    parse_constant: Callable[[str], Any] | None,
    parse_float: Callable[[str], Any] | None,
    parse_int: Callable[[str], Any] | None,
) -> json.JSONDecoder:
    """One decoder per set of hooks: json.loads with hooks builds a new one every call,
    which costs as much as reading a small object."""
    return json.JSONDecoder(
        parse_constant=parse_constant, parse_float=parse_float, parse_int=parse_int
    )


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
    parse_int: Callable[[str], Any] | None = None,
) -> Any:
    """`json.loads(text)`, raising TooDeep or NumberTooLong instead of what json raises
    (or lets through) for a value it cannot handle."""
    try:
        value = _decoder(parse_constant, parse_float, parse_int).decode(text)
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
