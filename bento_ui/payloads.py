"""Turn valid rows of an event table into the JSON objects Bento expects.

Empty optional keys are left out (the SDKs send null; omitting is cleaner), dotted
`details.` columns become nested objects merged into the `details` JSON column, and a
`$purchase` amount is sent as integer cents. Everything else is sent as the text the
person typed: nothing changes type unless Bento needs it to.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from bento_ui import events as ev

Event = dict[str, Any]


def build_events(valid: pd.DataFrame) -> list[Event]:
    """One Bento event per row of a validated table (see `validate(...).valid`).

    Built column by column: the type and email of every row at once, then each optional
    column only for the rows where it is filled, so blank cells cost nothing.
    """
    n = len(valid)
    types = _texts(valid[ev.TYPE])
    built: list[Event] = [
        {"type": t, "email": e} for t, e in zip(types, _texts(valid[ev.EMAIL]), strict=True)
    ]

    fields: list[dict[str, str] | None] = [None] * n
    for column in (c for c in valid.columns if ev.is_fields_column(c)):
        name = column[len(ev.FIELDS_PREFIX) :]
        for i, value in _filled(valid[column]):
            row_fields = fields[i]
            if row_fields is None:
                fields[i] = {name: value}
            else:
                row_fields[name] = value

    details: list[dict[str, Any] | None] = [None] * n
    if ev.DETAILS in valid:
        for i, text in _filled(valid[ev.DETAILS]):
            if text.strip():  # parsed trimmed, as validation parsed it
                details[i] = json.loads(text.strip())
    for column in (c for c in valid.columns if ev.is_details_column(c)):
        path = column.split(".")[1:]
        for i, value in _filled(valid[column]):
            row_details = details[i]
            if row_details is None:
                row_details = details[i] = {}
            _put(row_details, path, value)

    # Keys in the order Bento's docs show them: type, email, fields, details, date.
    for i in np.flatnonzero([f is not None for f in fields]).tolist():
        built[i]["fields"] = fields[i]
    for i in np.flatnonzero([d is not None and d != {} for d in details]).tolist():
        row_details = details[i]
        assert row_details is not None
        if types[i] == ev.PURCHASE:
            _amount_to_cents(row_details)
        built[i]["details"] = row_details
    if ev.DATE in valid:
        for i, date in _filled(valid[ev.DATE]):
            built[i]["date"] = date
    return built


def _texts(column: pd.Series) -> list[str]:
    """The column as a list of str. A column with few distinct values (types, plans,
    countries) converts each of them once and shares it: faster, and less memory."""
    values = pa.array(column.astype("str").array)
    if len(values) > 1000:
        sample = values.slice(0, 1000)
        if len(pc.unique(sample)) < 200:
            encoded = pc.dictionary_encode(values)
            if isinstance(encoded, pa.ChunkedArray):
                encoded = encoded.combine_chunks()
            uniques = np.array(encoded.dictionary.to_pylist(), dtype=object)
            codes = encoded.indices.to_numpy(zero_copy_only=False)
            texts: list[str] = uniques[codes].tolist()
            return texts
    listed: list[str] = values.to_pylist()
    return listed


def _filled(column: pd.Series) -> zip[tuple[int, str]]:
    """(position, text) of the cells that are not blank."""
    text = column.astype("str")
    mask = (text != "").to_numpy()
    positions: list[int] = np.flatnonzero(mask).tolist()
    return zip(positions, _texts(text[mask]), strict=True)


def _put(target: dict[str, Any], path: list[str], value: Any) -> None:
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value


def _amount_to_cents(details: dict[str, Any]) -> None:
    value = details.get("value")
    if isinstance(value, dict) and "amount" in value:
        value["amount"] = int(str(value["amount"]).strip().split(".")[0])


def to_json(events: list[Event]) -> str:
    """The exact request body Bento receives, pretty-printed for people to read."""
    return json.dumps({"events": events}, indent=2, ensure_ascii=False)


# --- the same events as JSON text, built column by column -------------------------------

_TEXT = pa.large_string()
_NEEDS_ESCAPE = r'["\\\x00-\x1f]'  # what json.dumps(ensure_ascii=False) escapes


def encode_events(valid: pd.DataFrame) -> pa.Array:
    """The JSON text of every event of `build_events(valid)`, one string per row, built
    column by column in pyarrow: ten times faster than building dicts and dumping them,
    for the request bodies of a big file (see `batch_bodies`).

    Each text parses to exactly the event `build_events` gives (`json.loads(text) ==
    event`) and is written as `json.dumps(event, ensure_ascii=False, separators=(",",
    ":"))` writes it; only the order of keys inside `details` can differ, where dotted
    detail columns of one parent are not next to each other.
    """
    n = len(valid)
    parts: list[pa.Array | pa.Scalar] = [
        _pieces(valid[ev.TYPE], '{"type":', always=True),
        _pieces(valid[ev.EMAIL], ',"email":', always=True),
    ]
    field_pieces = [
        _pieces(valid[c], "," + _key(c[len(ev.FIELDS_PREFIX) :]))
        for c in valid.columns
        if ev.is_fields_column(c)
    ]
    if field_pieces:
        parts.append(_object_piece('"fields"', _concat(field_pieces, n)))
    purchase = (valid[ev.TYPE].astype("str") == ev.PURCHASE).to_numpy()
    details = [_dotted_details(valid, purchase)]
    if ev.DETAILS in valid:
        details.insert(0, _json_details(valid[ev.DETAILS], purchase))
    parts.append(_object_piece('"details"', _concat(details, n)))
    if ev.DATE in valid:
        parts.append(_pieces(valid[ev.DATE], "," + _key("date")))
    parts.append(_lit("}"))
    return _join(parts)


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


def _key(name: str) -> str:
    return json.dumps(name, ensure_ascii=False) + ":"


def _arrow(column: pd.Series) -> pa.Array:
    values = pa.array(column.astype("str").array)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return values.cast(_TEXT)


def _pieces(
    column: pd.Series,
    prefix: str,
    *,
    always: bool = False,
    purchase: np.ndarray | None = None,
) -> pa.Array:
    """`prefix` + the cell as a JSON string for each filled cell ("" for blank ones,
    unless `always`). With `purchase`, those rows get the cell as integer cents.

    A column with few distinct values (types, plans, countries, currencies) is written
    once per distinct value and taken for its rows: a fraction of the work per row."""
    values = _arrow(column)
    if len(values) > 1000 and len(pc.unique(values.slice(0, 1000))) < 200:
        encoded = pc.dictionary_encode(values)
        distinct = _piece_texts(encoded.dictionary, prefix, always)
        codes = encoded.indices
        if purchase is not None:
            distinct = pa.concat_arrays([distinct, _cent_texts(encoded.dictionary, prefix)])
            where = codes.to_numpy(zero_copy_only=False).astype(np.int64)
            codes = pa.array(np.where(purchase, where + len(encoded.dictionary), where))
        return distinct.take(codes)
    texts = _piece_texts(values, prefix, always)
    if purchase is not None:
        texts = pc.if_else(pa.array(purchase), _cent_texts(values, prefix), texts)
    return texts


def _piece_texts(values: pa.Array, prefix: str, always: bool) -> pa.Array:
    texts = _join([_lit(prefix + '"'), values, _lit('"')])
    if _has_special(values):  # rare: a quote, a backslash or a control character
        special = pc.match_substring_regex(values, _NEEDS_ESCAPE)
        rows = pa.array(np.flatnonzero(special.to_numpy(zero_copy_only=False)))
        escaped = [
            prefix + json.dumps(v, ensure_ascii=False) for v in values.take(rows).to_pylist()
        ]
        texts = pc.replace_with_mask(texts, special, pa.array(escaped, _TEXT))
    if always:
        return texts
    return pc.if_else(pc.not_equal(values, _lit("")), texts, _lit(""))


def _cent_texts(values: pa.Array, prefix: str) -> pa.Array:
    """`prefix` + a $purchase amount as Bento wants it, integer cents (`_amount_to_cents`)."""
    texts = []
    for text in values.to_pylist():
        try:
            texts.append(prefix + str(int(text.strip().split(".")[0])) if text else "")
        except ValueError:  # not a whole number: validation keeps such rows out
            texts.append(prefix + json.dumps(text, ensure_ascii=False))
    return pa.array(texts, _TEXT)


# The bytes json.dumps escapes: control characters, '"' and '\'.
_SPECIAL_BYTES = np.zeros(256, dtype=bool)
_SPECIAL_BYTES[:32] = _SPECIAL_BYTES[ord('"')] = _SPECIAL_BYTES[ord("\\")] = True


def _has_special(values: pa.Array) -> bool:
    """Whether any value holds a byte json.dumps escapes: one pass over the raw bytes."""
    offsets, data = values.buffers()[1], values.buffers()[2]
    if data is None or len(values) == 0:
        return False
    bounds = np.frombuffer(offsets, dtype=np.int64)[values.offset : values.offset + len(values) + 1]
    raw = np.frombuffer(data, dtype=np.uint8)[bounds[0] : bounds[-1]]
    return bool(_SPECIAL_BYTES[raw].any())


def _concat(pieces: list[pa.Array], n: int) -> pa.Array:
    return _join(list(pieces)) if pieces else pa.array([""] * n, _TEXT)


def _object_piece(key: str, inner: pa.Array) -> pa.Array:
    """`,key:{inner without its leading comma}` where inner is not empty, "" elsewhere."""
    body = _join([_lit("," + key + ":{"), pc.utf8_slice_codeunits(inner, 1), _lit("}")])
    return pc.if_else(pc.not_equal(inner, _lit("")), body, _lit(""))


def _dotted_details(valid: pd.DataFrame, purchase: np.ndarray) -> pa.Array:
    """The members written by `details.<path>` columns, nested, as pieces of an object."""
    tree: dict[str, Any] = {}
    for column in (c for c in valid.columns if ev.is_details_column(c)):
        node = tree
        *parents, leaf = column.split(".")[1:]
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = column
    return _tree_pieces(valid, tree, purchase, ["details"])


def _tree_pieces(
    valid: pd.DataFrame, tree: dict[str, Any], purchase: np.ndarray, path: list[str]
) -> pa.Array:
    pieces = []
    for key, child in tree.items():
        if isinstance(child, dict):
            inner = _tree_pieces(valid, child, purchase, [*path, key])
            pieces.append(_object_piece(_key(key)[:-1], inner))
        else:
            priced = child == ev.PURCHASE_AMOUNT and purchase.any()
            pieces.append(
                _pieces(valid[child], "," + _key(key), purchase=purchase if priced else None)
            )
    return _concat(pieces, len(valid))


def _json_details(column: pd.Series, purchase: np.ndarray) -> pa.Array:
    """The members of the `details` JSON column as pieces of an object (`,"k":v,...`),
    each distinct text parsed and written once (once more for $purchase rows, whose
    amount becomes cents)."""
    encoded = pc.dictionary_encode(_arrow(column))
    distinct = encoded.dictionary.to_pylist()
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    plain, cents = [], []
    for text in distinct:
        if not text.strip():
            plain.append("")
            cents.append("")
            continue
        obj = json.loads(text.strip())
        plain.append(_members(obj))
        priced = json.loads(text.strip())
        _amount_to_cents(priced)
        cents.append(_members(priced))
    pieces = pa.array(plain + cents, _TEXT)
    return pieces.take(pa.array(np.where(purchase, codes + len(distinct), codes)))


def _members(obj: dict[str, Any]) -> str:
    """`,"k":v,...` of a JSON object, "" when it is empty."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return "," + text[1:-1] if len(text) > 2 else ""
