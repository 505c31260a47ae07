"""Turn valid rows of an event table into the JSON objects Bento expects.

Empty optional keys are left out (the SDKs send null; omitting is cleaner), dotted
`details.` columns become nested objects merged into the `details` JSON column, and a
`$purchase` amount is sent as integer cents. Everything else is sent as the text the
person typed: nothing changes type unless Bento needs it to.
"""

from __future__ import annotations

import functools
import gc
import json
import marshal
import re
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any, NamedTuple, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from bento_ui import events as ev
from bento_ui import json_limits
from bento_ui._arrow_text import beside

Event = dict[str, Any]


def build_events(valid: pd.DataFrame) -> list[Event]:
    """One Bento event per row of a validated table (see `validate(...).valid`).

    Built column by column: the type and email of every row at once, then each optional
    column only for the rows where it is filled, so blank cells cost nothing.
    """
    with _collector_paused():
        return _build_events(valid)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while a table's dicts are made: every
    few thousand new dicts it would walk all the ones made so far (none is garbage),
    which for a million events took as long as making them.

    The new dicts are then handed to the oldest generation, where a long-lived table
    belongs, without being walked: switched back on with them in the youngest one, the
    collector's next young pass would walk every one of them at once (a fifth of the
    time for a million events), and again when it promotes them. `gc.freeze()` then
    `gc.unfreeze()` moves every tracked object to the oldest generation in one step;
    skipped if the caller keeps objects frozen (they must stay so)."""
    enabled = gc.isenabled()
    promote = gc.get_freeze_count() == 0
    gc.disable()
    try:
        yield
    finally:
        if promote:
            gc.freeze()
            gc.unfreeze()
        if enabled:
            gc.enable()


def _build_events(valid: pd.DataFrame) -> list[Event]:
    """Rows grouped by which optional cells they have filled (a handful of patterns in a
    real table), then each group's events made in one pass over its columns' values, by a
    function written for that pattern: a dict display per event, no per-cell calls."""
    n = len(valid)
    if n == 0:
        return []
    prepared = _prepared(valid)
    types = prepared(ev.TYPE)[0]
    purchase = _equals(types, ev.PURCHASE)
    slots: list[_Cells] = [types, prepared(ev.EMAIL)[0]]
    masks: list[np.ndarray] = []  # per optional slot, the rows where it is filled
    # What each optional slot becomes in an event, in the order of the masks.
    fields_keys: list[tuple[str, int]] = []
    dotted: list[tuple[list[str], int]] = []
    date_slot = hand_slot = json_slot = -1

    def add(values: _Cells, filled: np.ndarray) -> int:
        slots.append(values)
        masks.append(filled)
        return len(slots) - 1

    # The details JSON of a row goes first in its details, the dotted cells after it
    # (`{**json, ...}`) where they set other keys, as validation makes sure. Rows whose
    # details are put together one by one: those where the JSON sets a key a dotted column
    # sets too, and every row with details if one dotted path lies inside another (both
    # of which validation refuses). The JSON first: its distinct texts are encoded first,
    # and they are parsed while the thread encodes the other columns.
    paths = [c.split(".")[1:] for c in valid.columns if ev.is_details_column(c)]
    by_hand = np.zeros(n, dtype=bool)
    templates: _Templates | None = None
    json_cells: tuple[np.ndarray, np.ndarray] | None = None
    clean = _nested_cleanly(paths)
    if ev.DETAILS in valid:
        templates = _details_templates(prepared(ev.DETAILS)[0], purchase)
        table, where = templates
        tops = {path[0] for path in paths}
        parsed = [copy() if copy is not None else None for copy in table.tolist()]
        apart = [p is not None and clean and not tops & p.keys() for p in parsed]
        merged = np.array(apart, dtype=bool)[where]
        by_hand = np.array([p is not None for p in parsed], dtype=bool)[where] & ~merged
        if merged.any():
            json_cells = _json_cells(table, where, parsed, merged)

    for column in (c for c in valid.columns if ev.is_fields_column(c)):
        fields_keys.append((column[len(ev.FIELDS_PREFIX) :], add(*prepared(column))))
    for column in (c for c in valid.columns if ev.is_details_column(c)):
        values, filled = prepared(column)
        if column == ev.PURCHASE_AMOUNT:
            values = _priced(values, filled & purchase)
        dotted.append((column.split(".")[1:], add(values, filled)))
    if json_cells is not None:
        json_slot = add(*json_cells)
    if dotted and not clean:
        by_hand |= np.logical_or.reduce([masks[slot - 2] for _, slot in dotted])
    if by_hand.any():
        hand, has_details = _details_by_hand(by_hand, templates, dotted, slots, masks, purchase)
        for slot in [slot for _, slot in dotted] + ([json_slot] if json_slot >= 0 else []):
            masks[slot - 2] = masks[slot - 2] & ~by_hand
        hand_slot = add(hand, has_details)
    if ev.DATE in valid:
        date_slot = add(*prepared(ev.DATE))

    plans: list[tuple[np.ndarray, _Node, set[int]]] = []
    for rows, filled in _patterns(masks, n):
        there = {slot for slot, is_filled in enumerate(filled, start=2) if is_filled}
        shape: _Node = [("type", 0), ("email", 1)]
        fields: _Node = [(key, slot) for key, slot in fields_keys if slot in there]
        if fields:
            shape.append(("fields", fields))
        if hand_slot in there:
            shape.append(("details", hand_slot))
        elif details := [(None, json_slot)] * (json_slot in there) + _tree(
            [(path, slot) for path, slot in dotted if slot in there]
        ):
            shape.append(("details", details))
        if date_slot in there:
            shape.append(("date", date_slot))
        plans.append((rows, shape, _used_slots(shape)))

    # Each pattern's rows of the text kept in pyarrow are taken in the thread (without
    # the GIL) while the pattern before has its dicts made: one pattern ahead, not all
    # (each take is a copy of that text).
    def taken(rows: np.ndarray, used: set[int]) -> dict[int, pa.Array]:
        texts = {i: values for i in used if isinstance(values := slots[i], pa.Array)}
        return {i: values.take(pa.array(rows)) for i, values in texts.items()}

    def take_ahead(k: int) -> Future[dict[int, pa.Array]] | None:
        if k == len(plans):
            return None
        rows, _, used = plans[k]
        return beside(functools.partial(taken, rows, used), n)

    ahead = take_ahead(0)
    built = np.empty(n, dtype=object)
    for k, (rows, shape, used) in enumerate(plans):
        assert ahead is not None
        took = ahead.result()
        ahead = take_ahead(k + 1)
        columns = [
            took[i].to_pylist() if i in took else _at(values, rows) if i in used else []
            for i, values in enumerate(slots)
        ]
        built[rows] = _make(shape, columns, len(rows))
    events: list[Event] = built.tolist()
    return events


def _prepared(valid: pd.DataFrame) -> Callable[[str], tuple[_Cells, np.ndarray]]:
    """What gives every column's cells and where they are filled; the details JSON
    column's as its distinct texts (`_Coded`, no mask). In a big table the few-valued
    columns are encoded in a thread (pyarrow lets go of the GIL) while this one goes on;
    the others stay pyarrow text. Not to be called from a `beside` task (it would wait
    for itself)."""
    columns = [c for c in valid.columns if c in _EVENT_KEYS or ev.is_fields_column(c)]
    columns += [c for c in valid.columns if ev.is_details_column(c)]
    arrays = {c: _combined(pa.array(valid[c].astype("str").array)) for c in columns}
    coded = [c for c in columns if c == ev.DETAILS or _few(arrays[c])]

    def encode(some: list[str]) -> dict[str, tuple[_Cells, np.ndarray]]:
        return {
            c: (_distinct_texts(arrays[c]), _NO_MASK) if c == ev.DETAILS else _coded(arrays[c])
            for c in some
        }

    # Types and the details JSON first: their events' details are worked out meanwhile.
    first = [c for c in coded if c in (ev.TYPE, ev.DETAILS)]
    early = beside(lambda: encode(first), len(valid))
    late = beside(lambda: encode([c for c in coded if c not in first]), len(valid))
    texts = {c: _texts(arrays[c]) for c in columns if c not in coded}

    def cells(column: str) -> tuple[_Cells, np.ndarray]:
        if column in texts:
            return texts[column]
        return (early if column in first else late).result()[column]

    return cells


_NO_MASK = np.zeros(0, dtype=bool)
_EVENT_KEYS = (ev.TYPE, ev.EMAIL, ev.DETAILS, ev.DATE)


# A dict to make, as its keys and what goes under each: a slot's value, or another dict.
# A key None: the slot's dict unpacked there (`{**json, ...}`, a copy of it).
_Node: TypeAlias = list[tuple[str | None, "int | _Node"]]


def _patterns(masks: list[np.ndarray], n: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The rows of each pattern of filled optional slots, and the pattern."""
    if not masks:  # type and email only
        yield np.arange(n), np.zeros(0, dtype=bool)
        return
    if len(masks) <= 62:
        # One bit per slot; numpy sorts 16-bit keys by radix: a fraction of the time.
        kind = np.uint16 if len(masks) <= 16 else np.int64
        codes: np.ndarray = np.zeros(n, dtype=kind)
        for bit, mask in enumerate(masks):
            codes |= np.left_shift(mask.astype(kind), bit)
        bits = np.asarray([1 << bit for bit in range(len(masks))], dtype=kind)
    else:
        filled = np.column_stack(masks)
        _, codes = np.unique(np.packbits(filled, axis=1), axis=0, return_inverse=True)
        codes = codes.reshape(-1)
    order = np.argsort(codes, kind="stable")
    starts = np.flatnonzero(np.diff(codes[order])) + 1
    for rows in np.split(order, starts):
        if len(masks) <= 62:
            yield rows, (codes[rows[0]] & bits) != 0
        else:
            yield rows, filled[rows[0]]


def _tree(dotted: list[tuple[list[str], int]]) -> _Node:
    """The nested dict the filled dotted columns make, keys in the order `_put` puts
    them (paths never inside one another here)."""
    root: dict[str, Any] = {}
    for path, slot in dotted:
        node = root
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = slot

    def as_node(tree: dict[str, Any]) -> _Node:
        return [(k, v if isinstance(v, int) else as_node(v)) for k, v in tree.items()]

    return as_node(root)


def _nested_cleanly(paths: list[list[str]]) -> bool:
    """Whether no dotted path is the start of another one (`details.a`, `details.a.b`)."""
    whole = {tuple(path) for path in paths}
    return not any(tuple(path[:i]) in whole for path in paths for i in range(1, len(path)))


# Patterns with fewer rows than this are made without writing a function for them.
_WRITE_FROM = 64


def _used_slots(node: _Node) -> set[int]:
    used: set[int] = set()
    for _, child in node:
        used |= {child} if isinstance(child, int) else _used_slots(child)
    return used


def _make(shape: _Node, lists: list[list[Any]], count: int) -> np.ndarray:
    """The dicts of `shape` for `count` rows, values from `lists`, as an object array."""
    if count >= _WRITE_FROM:
        keys: list[str] = []
        source = _display(shape, keys)
        made = _maker(source)(keys, lists)
    else:
        made = _assemble(shape, lists)
    return np.fromiter(made, dtype=object, count=count)


def _display(node: _Node, keys: list[str]) -> str:
    """`node` as a dict display over names `k<i>` (its keys, added to `keys`) and `v<i>`
    (the values of slot i): the text holds no key or value, only these names."""
    members = []
    for key, child in node:
        if key is None:
            members.append(f"**v{child}")
            continue
        name = f"k{len(keys)}"
        keys.append(key)
        inner = f"v{child}" if isinstance(child, int) else _display(child, keys)
        members.append(f"{name}: {inner}")
    return "{" + ", ".join(members) + "}"


@functools.lru_cache(maxsize=512)
def _maker(display: str) -> Callable[[list[str], list[list[Any]]], list[Event]]:
    """A function making `display` for every row of the slots' lists (written once per
    shape of event)."""
    keys = sorted({int(name[1:]) for name in re.findall(r"\bk[0-9]+\b", display)})
    slots = sorted({int(name[1:]) for name in re.findall(r"\bv[0-9]+\b", display)})
    names = ", ".join(f"v{i}" for i in slots)
    source = (
        "def make(keys, slots):\n"
        f"    {''.join(f'k{i}, ' for i in keys)}= keys\n"
        f"    return [{display} for {names}, in zip({', '.join(f'slots[{i}]' for i in slots)})]\n"
    )
    scope: dict[str, Any] = {}
    exec(compile(source, "<bento_ui.payloads event maker>", "exec"), scope)
    made: Callable[[list[str], list[list[Any]]], list[Event]] = scope["make"]
    return made


def _assemble(node: _Node, lists: list[list[Any]]) -> list[dict[str, Any]]:
    """The dicts of `node`, one per row, made level by level (for a pattern of few rows)."""
    unpacked = [lists[child] for key, child in node if key is None and isinstance(child, int)]
    members = [(key, child) for key, child in node if key is not None]
    keys = [key for key, _ in members]
    parts = [
        lists[child] if isinstance(child, int) else _assemble(child, lists)
        for _, child in members
    ]
    if not parts:  # the JSON alone
        return [dict(obj) for obj in unpacked[0]]
    made = [dict(zip(keys, values, strict=True)) for values in zip(*parts, strict=True)]
    if unpacked:
        return [{**obj, **rest} for obj, rest in zip(unpacked[0], made, strict=True)]
    return made


def _distinct_texts(values: pa.Array) -> _Coded:
    """The column's distinct texts, and per row the one it holds (a null: their count)."""
    encoded = pc.dictionary_encode(values)
    distinct = encoded.dictionary.to_pylist()
    codes = encoded.indices
    if codes.null_count:
        codes = codes.fill_null(len(distinct))
    return _Coded(np.fromiter(distinct, dtype=object, count=len(distinct)), codes.to_numpy())


def _details_templates(texts: _Cells, purchase: np.ndarray) -> _Templates:
    """Per row, what makes a fresh copy of its details JSON parsed as validation parsed it
    ($purchase rows' amount as cents), None where the cell is blank once trimmed. Each
    distinct text is parsed once (a real column repeats a few thousand texts)."""
    assert isinstance(texts, _Coded)
    distinct = texts.uniques.tolist()
    count = len(distinct)
    where = texts.codes.astype(np.int64)
    where[where == count] = 2 * count  # a null
    where = np.where(purchase & (where < count), where + count, where)
    wanted = np.bincount(where, minlength=2 * count + 1) > 0  # plain, then priced
    copiers: list[Callable[[], dict[str, Any]] | None] = [None] * (2 * count + 1)
    for k, text in enumerate(distinct):
        if text is None or not text.strip():
            continue
        parsed = _parse_details(text)
        plain = copiers[k] = _copier(parsed) if wanted[k] else None
        if wanted[k + count]:  # the same object on a $purchase row unless it has an amount
            if _has_amount(parsed):
                parsed = _parse_details(text)
                _amount_to_cents(parsed)
                plain = None
            copiers[k + count] = plain or _copier(parsed)
    table = np.fromiter(copiers, dtype=object, count=len(copiers))
    return table, where


# Per distinct details text (plain, then priced, then none): what copies its object;
# per row the one it takes.
_Templates = tuple[np.ndarray, np.ndarray]


def _copier(parsed: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    """What makes a copy of parsed details that shares no dict or list with them: a
    shallow copy of a flat object (the usual details); for a small nested one, a function
    written for its shape (`_rebuilder`) that makes only its dicts and lists, sharing the
    keys and values, which cannot change; else a copy in C where marshal can write the
    object (not a WrittenNumber), else one made in Python."""
    if _is_flat(parsed):
        return parsed.copy
    keys: list[str] = []
    leaves: list[Any] = []
    shape = _shape(parsed, keys, leaves, 0)
    if shape is not None:
        return functools.partial(_rebuilder(shape), tuple(keys), tuple(leaves))
    try:
        return functools.partial(marshal.loads, marshal.dumps(parsed))
    except ValueError:
        return functools.partial(_deep, parsed)


# Nested details at most this deep and this big get a function for their shape.
_SHAPE_DEPTH = 8
_SHAPE_SIZE = 64


def _shape(value: Any, keys: list[str], leaves: list[Any], depth: int) -> str | None:
    """`value` as a display over `K[i]` (its keys, added to `keys`) and `L[j]` (its plain
    values, added to `leaves`): the text holds no key or value. None when too deep or
    too big to be worth writing."""
    if isinstance(value, dict | list):
        if depth == _SHAPE_DEPTH or len(keys) + len(leaves) + len(value) > _SHAPE_SIZE:
            return None
        items = list(value.items()) if isinstance(value, dict) else [(None, v) for v in value]
        parts = []
        for key, item in items:
            inner = _shape(item, keys, leaves, depth + 1)
            if inner is None:
                return None
            if key is not None:
                keys.append(key)
                inner = f"K[{len(keys) - 1}]: {inner}"
            parts.append(inner)
        opening, closing = ("{", "}") if isinstance(value, dict) else ("[", "]")
        return opening + ", ".join(parts) + closing
    leaves.append(value)
    return f"L[{len(leaves) - 1}]"


@functools.lru_cache(maxsize=256)
def _rebuilder(shape: str) -> Callable[[tuple[str, ...], tuple[Any, ...]], dict[str, Any]]:
    """A function making `shape` anew from its keys and values (written once per shape)."""
    source = f"def rebuild(K, L):\n    return {shape}\n"
    scope: dict[str, Any] = {}
    exec(compile(source, "<bento_ui.payloads details copier>", "exec"), scope)
    rebuild: Callable[[tuple[str, ...], tuple[Any, ...]], dict[str, Any]] = scope["rebuild"]
    return rebuild


def _json_cells(
    table: np.ndarray, where: np.ndarray, parsed: list[Any], merged: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The rows' details JSON for `{**json, ...}`, and where it has any key: a flat object
    shared (the display copies it), a nested one copied for each row."""
    objects = np.fromiter(parsed, dtype=object, count=len(parsed))
    nested = np.array([p is not None and not _is_flat(p) for p in parsed], dtype=bool)
    filled = np.array([bool(p) for p in parsed], dtype=bool)[where] & merged
    cells = objects[where]
    own = np.flatnonzero(nested[where] & filled)
    if own.size:
        copies = table[where[own]].tolist()
        cells[own] = np.fromiter((copy() for copy in copies), dtype=object, count=own.size)
    return cells, filled


def _details_by_hand(
    by_hand: np.ndarray,
    templates: _Templates | None,
    dotted: list[tuple[list[str], int]],
    slots: list[_Cells],
    masks: list[np.ndarray],
    purchase: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The details of the rows `by_hand`, as the column by column way makes them: a copy
    of the row's parsed JSON (or {}), then each filled dotted cell put in (`_put`), the
    amount as cents on $purchase rows; and the rows where they are not empty."""
    n = len(by_hand)
    rows = np.flatnonzero(by_hand)
    hand: list[dict[str, Any] | None] = [None] * n
    if templates is None:
        for i in rows.tolist():
            hand[i] = {}
    else:
        table, where = templates
        for i, copy in zip(rows.tolist(), table[where[rows]].tolist(), strict=True):
            hand[i] = {} if copy is None else copy()
    priced = np.zeros(n, dtype=bool)
    for path, slot in dotted:
        put = np.flatnonzero(masks[slot - 2] & by_hand)
        priced[put] = True
        for i, value in zip(put.tolist(), _at(slots[slot], put), strict=True):
            row = hand[i]
            assert row is not None
            _put(row, path, value)
    for i in np.flatnonzero(priced & purchase).tolist():
        row = hand[i]
        assert row is not None
        _amount_to_cents(row)  # once more, after the merge: as the JSON's amount was
    has_details = np.zeros(n, dtype=bool)
    has_details[[i for i in rows.tolist() if hand[i]]] = True  # {}: no details
    return np.fromiter(hand, dtype=object, count=n), has_details


def _is_flat(parsed: dict[str, Any]) -> bool:
    return not any(isinstance(value, dict | list) for value in parsed.values())


def _deep(value: Any) -> Any:
    """A copy of parsed JSON that shares no dict or list with it."""
    if isinstance(value, dict):
        return {key: _deep(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_deep(item) for item in value]
    return value


class _Coded(NamedTuple):
    """A column of few distinct values: each converted to `str` once (`uniques`), and per
    row the one it holds (`codes`); a row's value is only fetched for the rows that need
    it, from the small array of uniques."""

    uniques: np.ndarray
    codes: np.ndarray


# A column's cells: `_Coded`, or the Arrow text itself (converted only for the rows that
# need it), or an object array of the rows' values.
_Cells: TypeAlias = _Coded | np.ndarray | pa.Array


def _few(values: pa.Array) -> bool:
    """Whether a column looks few-valued (types, plans, countries) and has no null."""
    few = len(values) > 1000 and len(pc.unique(values.slice(0, 1000))) < 200
    return few and not values.null_count


def _coded(values: pa.Array) -> tuple[_Coded, np.ndarray]:
    """A few-valued column's cells (`_Coded`) and where they are not blank."""
    encoded = pc.dictionary_encode(values)
    distinct = encoded.dictionary.to_pylist()
    uniques = np.fromiter(distinct, dtype=object, count=len(distinct))
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    return _Coded(uniques, codes), np.asarray(uniques != "", dtype=bool)[codes]


def _texts(values: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Any other column's cells, kept in pyarrow (each pattern's rows taken and turned
    into `str` in their order, where they are made), and where they are filled (a null
    counts as filled)."""
    filled = pc.fill_null(pc.not_equal(values, ""), True).to_numpy(zero_copy_only=False)
    return values, filled


def _at(cells: _Cells, rows: np.ndarray) -> list[Any]:
    """The cells of `rows`, as Python values."""
    if isinstance(cells, _Coded):
        listed: list[Any] = cells.uniques[cells.codes[rows]].tolist()
    elif isinstance(cells, np.ndarray):
        listed = cells[rows].tolist()
    else:
        listed = cells.take(pa.array(rows)).to_pylist()
    return listed


def _equals(cells: _Cells, text: str) -> np.ndarray:
    if isinstance(cells, _Coded):
        same: np.ndarray = np.asarray(cells.uniques == text, dtype=bool)[cells.codes]
        return same
    if isinstance(cells, np.ndarray):
        return np.asarray(cells == text, dtype=bool)
    equal: np.ndarray = pc.fill_null(pc.equal(cells, text), False).to_numpy(zero_copy_only=False)
    return equal


def _priced(values: _Cells, purchase: np.ndarray) -> _Cells:
    """A `details.value.amount` column's cells, as cents on the rows `purchase` (each
    distinct amount converted once, by `_cents`)."""
    rows = np.flatnonzero(purchase)
    if not rows.size:
        return values
    if isinstance(values, _Coded):  # the cents of each distinct amount after the amounts
        count = len(values.uniques)
        as_cents = map(_cents, values.uniques.tolist())
        priced_uniques = np.fromiter(as_cents, dtype=object, count=count)
        codes = values.codes.astype(np.int64)
        codes[rows] += count
        return _Coded(np.concatenate([values.uniques, priced_uniques]), codes)
    amounts = _at(values, rows)
    cents = {amount: _cents(amount) for amount in set(amounts)}
    if isinstance(values, np.ndarray):
        priced = values.copy()
    else:
        priced = values.to_numpy(zero_copy_only=False)
    priced[rows] = np.fromiter((cents[a] for a in amounts), dtype=object, count=len(amounts))
    return priced


def _put(target: dict[str, Any], path: list[str], value: Any) -> None:
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value


# An amount as validation lets it through: whole minor units, written plainly.
_WHOLE = re.compile(r"-?(?:0|[1-9][0-9]*)")
_WHOLE_RE2 = r"^-?(?:0|[1-9][0-9]*)$"  # `_WHOLE.fullmatch`, for pyarrow (RE2: `$` is the end)


def _has_amount(details: dict[str, Any]) -> bool:
    value = details.get("value")
    return isinstance(value, dict) and "amount" in value


def _amount_to_cents(details: dict[str, Any]) -> None:
    value = details.get("value")
    if isinstance(value, dict) and "amount" in value:
        value["amount"] = _cents(value["amount"])


def _cents(amount: Any) -> Any:
    """A checked amount as the integer Bento wants, digit for digit. Anything else (which
    validation keeps out) is left as it is: never truncated or rounded into cents."""
    if isinstance(amount, str) and amount != "-0" and _WHOLE.fullmatch(amount):
        return int(amount)
    return amount


# The ledger's canonical JSON (`canonical_json`): one encoder for every call, since
# `json.dumps` with options builds a new one each time.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value: Any) -> str:
    """The one JSON text of a value: sorted keys, no spaces, Unicode kept as is. What the
    send ledger hashes (an event's fingerprint, a batch's payload hash)."""
    return _CANONICAL.encode(value)


def to_json(events: list[Event]) -> str:
    """The exact request body Bento receives, pretty-printed for people to read (numbers
    in details as they were written: see `json_limits.dumps`)."""
    return json_limits.dumps({"events": events}, indent=2)


# --- the same events as JSON text, built column by column -------------------------------

_TEXT = pa.large_string()
_NEEDS_ESCAPE = r'["\\\x00-\x1f]'  # what json.dumps(ensure_ascii=False) escapes
# One member of a JSON object for every row: its `"key":value` text, and where it is there.
_Member = tuple[pa.Array, np.ndarray]


def encode_events(valid: pd.DataFrame) -> pa.Array:
    """The JSON text of every event of `build_events(valid)`, one string per row, built
    column by column in pyarrow (`event_json`: one element-wise join a row): several
    times faster than building dicts and dumping them, for the request bodies of a big
    file (see `batch_bodies`).

    Each text parses to exactly the event `build_events` gives (`json.loads(text) ==
    event`) and is written as `json.dumps(event, ensure_ascii=False, separators=(",",
    ":"))` writes it; only the order of keys inside `details` can differ, where dotted
    detail columns of one parent are not next to each other.
    """
    from bento_ui.event_json import EventJson  # it builds on this module's helpers

    return EventJson(valid.columns).write({c: _arrow(valid[c]) for c in valid.columns})


def _optional(member: _Member) -> pa.Array:
    """`,member` where it is there, "" elsewhere."""
    texts, there = member
    return pc.if_else(pa.array(there), _join([_lit(","), texts]), _lit(""))


def batch_bodies(texts: pa.Array, size: int) -> pa.Array:
    """Request bodies `{"events":[...]}` of `size` events each, from `encode_events`."""
    offsets = np.append(np.arange(0, len(texts), size), len(texts)).astype(np.int64)
    lists = pa.LargeListArray.from_arrays(pa.array(offsets), texts)
    return _join([_lit('{"events":['), pc.binary_join(lists, _lit(",")), _lit("]}")])


def _lit(text: str) -> pa.Scalar:
    return pa.scalar(text, _TEXT)


def _join(parts: list[pa.Array | pa.Scalar]) -> pa.Array:
    joined = pc.binary_join_element_wise(*parts, _lit(""))
    return joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined


def _members_join(members: list[_Member], n: int) -> pa.Array:
    """Per row, the members that are there, joined with commas: one list join in pyarrow
    (element-wise joins would need a comma to be cut off where the first is missing)."""
    present = np.column_stack([there for _, there in members])
    rows, which = np.nonzero(present)  # row by row, members in order
    values = pa.chunked_array([texts for texts, _ in members]).take(
        pa.array(which.astype(np.int64) * n + rows)
    )
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(present.sum(axis=1), out=offsets[1:])
    lists = pa.LargeListArray.from_arrays(pa.array(offsets), _combined(values))
    return _combined(pc.binary_join(lists, _lit(",")))


def _combined(values: Any) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _object(key: str, members: list[_Member], n: int) -> _Member:
    """`key:{members}` where any member is there; an object with none is left out."""
    there = np.logical_or.reduce([present for _, present in members])
    return _join([_lit(key + ":{"), _members_join(members, n), _lit("}")]), there


def _key(name: str) -> str:
    return json.dumps(name, ensure_ascii=False) + ":"


def _arrow(column: pd.Series) -> pa.Array:
    return _combined(pa.array(column.astype("str").array)).cast(_TEXT)


def _member(
    column: pd.Series, prefix: str, *, purchase: np.ndarray | None = None
) -> _Member:
    present = (column.astype("str") != "").to_numpy()
    return _texts_of(column, prefix, purchase=purchase), present


def _texts_of(
    column: pd.Series,
    prefix: str,
    *,
    always: bool = False,
    purchase: np.ndarray | None = None,
) -> pa.Array:
    """`prefix` + each cell as a JSON string (with `purchase`, those rows' cells as
    integer cents); "" for a blank cell, unless `always`.

    A column with few distinct values (types, plans, countries, currencies) is written
    once per distinct value and taken for its rows: a fraction of the work per row."""
    values = _arrow(column)
    if len(values) > 1000 and len(pc.unique(values.slice(0, 1000))) < 200:
        encoded = pc.dictionary_encode(values)
        distinct = _blank_to_empty(
            encoded.dictionary, _string_texts(encoded.dictionary, prefix), always
        )
        codes = encoded.indices
        if purchase is not None:
            cents = _cent_texts(encoded.dictionary, prefix)
            distinct = pa.concat_arrays([distinct, cents])
            where = codes.to_numpy(zero_copy_only=False).astype(np.int64)
            codes = pa.array(np.where(purchase, where + len(encoded.dictionary), where))
        return distinct.take(codes)
    texts = _string_texts(values, prefix)
    if purchase is not None:
        texts = pc.if_else(pa.array(purchase), _cent_texts(values, prefix), texts)
    return _blank_to_empty(values, texts, always)


def _blank_to_empty(values: pa.Array, texts: pa.Array, always: bool) -> pa.Array:
    if always:
        return texts
    return pc.if_else(pc.not_equal(values, _lit("")), texts, _lit(""))


def _string_texts(values: pa.Array, prefix: str) -> pa.Array:
    texts = _join([_lit(prefix + '"'), values, _lit('"')])
    if _has_special(values):  # rare: a quote, a backslash or a control character
        special = pc.match_substring_regex(values, _NEEDS_ESCAPE)
        rows = pa.array(np.flatnonzero(special.to_numpy(zero_copy_only=False)))
        escaped = [
            prefix + json.dumps(v, ensure_ascii=False) for v in values.take(rows).to_pylist()
        ]
        texts = pc.replace_with_mask(texts, special, pa.array(escaped, _TEXT))
    return texts


def _cent_texts(values: pa.Array, prefix: str) -> pa.Array:
    """`prefix` + a $purchase amount as Bento wants it, integer cents (`_amount_to_cents`):
    the digits as they are where they are a whole number, else the text as a JSON string
    (validation keeps such rows out); "" for a blank. In pyarrow, without the GIL."""
    values = pc.fill_null(values, _lit(""))
    whole = pc.and_(
        pc.match_substring_regex(values, _WHOLE_RE2), pc.not_equal(values, _lit("-0"))
    )
    texts = pc.if_else(whole, _join([_lit(prefix), values]), _string_texts(values, prefix))
    return pc.if_else(pc.equal(values, _lit("")), _lit(""), texts)


def _has_special(values: pa.Array) -> bool:
    """Whether any value holds a byte json.dumps escapes, read off the raw bytes."""
    offsets, data = values.buffers()[1], values.buffers()[2]
    if data is None or len(values) == 0:
        return False
    bounds = np.frombuffer(offsets, dtype=np.int64)[values.offset : values.offset + len(values) + 1]
    raw = np.frombuffer(data, dtype=np.uint8)[bounds[0] : bounds[-1]]
    # The bytes json.dumps escapes: control characters, '"' and '\\'. Three comparisons
    # over the bytes cost a sixth of one table look-up per byte.
    return bool((raw < 32).any() or (raw == ord('"')).any() or (raw == ord("\\")).any())


# In a tree of detail columns, the key of the column that is also a parent of longer
# paths (details.a beside details.a.b): not a text, so it is never a JSON key.
_ITSELF = None


def _details_tree(columns: Iterable[str]) -> dict[str | None, Any]:
    """The `details.<path>` columns as a tree of their keys, each leaf its column; a key
    that is both a column and a parent (details.a and details.a.b) is a subtree holding
    its own column under `_ITSELF`: a row fills at most one of them (validation refuses
    both), and that one is written."""
    tree: dict[str | None, Any] = {}
    for column in (c for c in columns if ev.is_details_column(c)):
        node = tree
        *parents, leaf = column.split(".")[1:]
        for key in parents:
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                child = node[key] = {_ITSELF: child}
            node = child
        if isinstance(node.get(leaf), dict):
            node[leaf][_ITSELF] = column
        else:
            node[leaf] = column
    return tree


def _tree_members(
    valid: pd.DataFrame, tree: dict[str | None, Any], purchase: np.ndarray, *, in_order: bool
) -> list[_Member]:
    """The members of a tree of detail columns; with `in_order`, keys sorted (canonical)."""
    keys = [k for k in tree if k is not None]  # not _ITSELF
    members = []
    for key in sorted(keys) if in_order else keys:
        child = tree[key]
        if isinstance(child, dict):
            inner = _tree_members(valid, child, purchase, in_order=in_order)
            member = _object(_key(key)[:-1], inner, len(valid)) if inner else None
            if _ITSELF in child:
                itself = _leaf_member(valid, key, child[_ITSELF], purchase)
                member = itself if member is None else _either(itself, member)
            if member is not None:
                members.append(member)
        else:
            members.append(_leaf_member(valid, key, child, purchase))
    return members


def _leaf_member(valid: pd.DataFrame, key: str, column: str, purchase: np.ndarray) -> _Member:
    priced = column == ev.PURCHASE_AMOUNT and purchase.any()
    return _member(valid[column], _key(key), purchase=purchase if priced else None)


def _either(first: _Member, other: _Member) -> _Member:
    """`first` where it is there, else `other`: one key, never written twice."""
    (texts, there), (other_texts, other_there) = first, other
    return pc.if_else(pa.array(there), texts, other_texts), there | other_there


def _parse_details(text: str) -> dict[str, Any]:
    """A `details` JSON cell as validation parsed it: trimmed, numbers kept as written
    (`1.5e3` stays `1.5e3`, not 1500.0)."""
    parsed: dict[str, Any] = json_limits.loads_as_written(text.strip())
    return parsed


def _inside(obj: dict[str, Any]) -> str:
    """A JSON object's members without the braces, "" when it has none (numbers as
    written)."""
    return json_limits.dumps(obj)[1:-1]


# --- the same events as canonical JSON, for their fingerprints ---------------------------


def encode_canonical(valid: pd.DataFrame) -> pa.Array:
    """`canonical_json(event)` of every event of `build_events(valid)`, one string per
    row, built column by column like `encode_events`: keys sorted at every level, so
    `date, details, email, fields, type`. What the send ledger's fingerprints hash: the
    same text as from the dicts, so ledgers written from dicts know these events.

    Rows whose details JSON has keys that sort between the dotted `details.` columns'
    keys (or equal to one) are written from their dicts: rare, and exact either way.
    """
    n = len(valid)
    if n == 0:
        return pa.array([], _TEXT)
    purchase = (valid[ev.TYPE].astype("str") == ev.PURCHASE).to_numpy()
    parts: list[pa.Array | pa.Scalar] = [_lit("{")]
    if ev.DATE in valid:
        date = _texts_of(valid[ev.DATE], '"date":')
        parts.append(_then_comma(date, pc.not_equal(date, _lit("")).to_numpy(zero_copy_only=False)))
    details, by_dicts = _canonical_details(valid, purchase)
    if details is not None:
        parts.append(_then_comma(*details))
    parts.append(_texts_of(valid[ev.EMAIL], '"email":', always=True))
    names = sorted(
        (c[len(ev.FIELDS_PREFIX) :], c) for c in valid.columns if ev.is_fields_column(c)
    )
    if names:
        members = [_member(valid[c], _key(name)) for name, c in names]
        parts.append(_optional(_object('"fields"', members, n)))
    parts.append(_texts_of(valid[ev.TYPE], ',"type":', always=True))
    parts.append(_lit("}"))
    texts = _join(parts)
    if by_dicts.any():
        rows = np.flatnonzero(by_dicts)
        exact = [canonical_json(e) for e in build_events(valid.iloc[rows])]
        texts = pc.replace_with_mask(texts, pa.array(by_dicts), pa.array(exact, _TEXT))
    return _combined(texts)


def _then_comma(texts: pa.Array, there: np.ndarray) -> pa.Array:
    """`text,` where it is there, "" elsewhere."""
    return pc.if_else(pa.array(there), _join([texts, _lit(",")]), _lit(""))


def _canonical_details(
    valid: pd.DataFrame, purchase: np.ndarray
) -> tuple[_Member | None, np.ndarray]:
    """`"details":{...}` with sorted keys, and the rows to write from their dicts."""
    n = len(valid)
    tree = _details_tree(valid.columns)
    members = _tree_members(valid, tree, purchase, in_order=True)
    by_dicts = np.zeros(n, dtype=bool)
    if ev.DETAILS in valid:
        keys = sorted(k for k in tree if k is not None)
        before, after, mixed = _canonical_json_column(valid[ev.DETAILS], purchase, keys)
        if members:
            dotted = np.logical_or.reduce([there for _, there in members])
            by_dicts = mixed & dotted
        members = [before, *members, after]
    if not members:
        return None, by_dicts
    return _object('"details"', members, n), by_dicts


def _canonical_json_column(
    column: pd.Series, purchase: np.ndarray, dotted: list[str]
) -> tuple[_Member, _Member, np.ndarray]:
    """The `details` JSON column's members in canonical JSON, parsed as `build_events`
    parses them, each distinct text once (once more for $purchase rows): those whose keys
    all sort before the dotted columns' keys, those whose keys all sort after them, and
    the rows whose keys fall between (or on) them (written from their dicts where a
    dotted column is filled too; alone, they are in order)."""
    encoded = pc.dictionary_encode(_arrow(column))
    distinct = encoded.dictionary.to_pylist()
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    texts: list[list[str]] = [[], []]  # plain, then priced: before and after
    place: list[int] = []  # per distinct object: 0 before, 1 after, 2 between
    for priced in (False, True):
        for text in distinct:
            obj = json_limits.loads_as_written(text.strip()) if text.strip() else {}
            if priced:
                _amount_to_cents(obj)
            inside = canonical_json(obj)[1:-1]
            where = (
                0 if not dotted or all(k < dotted[0] for k in obj)
                else 1 if all(k > dotted[-1] for k in obj)
                else 2
            )  # fmt: skip
            texts[0].append(inside if where != 1 else "")  # alone in its row: in order
            texts[1].append(inside if where == 1 else "")
            place.append(where)
    rows = pa.array(np.where(purchase, codes + len(distinct), codes))
    before, after = (pa.array(t, _TEXT).take(rows) for t in texts)
    mixed = np.asarray(place, dtype=np.int8)[rows.to_numpy()] == 2
    return (
        (before, pc.not_equal(before, _lit("")).to_numpy(zero_copy_only=False)),
        (after, pc.not_equal(after, _lit("")).to_numpy(zero_copy_only=False)),
        mixed,
    )
