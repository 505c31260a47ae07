"""The JSON text of a table's events (`payloads.encode_events`), one element-wise join a row.

Every event of a table is the same sequence of leaves (type, email, the `fields.`
cells, the details JSON's members, the dotted `details.` cells, the date), each there
or not in a row. The text between two leaves that are there depends only on which two
they are (and whether each is quoted): a comma, the keys, the braces that open and close
around them. So a window of rows is written as ONE `binary_join_element_wise` of the
leaves' cells, each after its "glue": per row the one of those few texts its neighbours
call for, "" where the leaf is not there (taken from a small array, or a scalar where
every row takes the same). No per-member joins, no per-object list joins, no pandas.

    writer = EventJson(valid.columns)
    texts = writer.write({column: arrow_cells, ...})   # one string per row

The details JSON's distinct texts are parsed and written once per writer (a send writes
a table window by window with one writer), not once a window.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bento_ui import events as ev
from bento_ui import payloads as pl

_TEXT = pa.large_string()
_EMPTY = pa.scalar("", _TEXT)
# A leaf's cell goes out as a JSON string, as Bento wants an amount, or as members.
STRING, AMOUNT, MEMBERS = range(3)
# Details texts remembered per writer at most (each with what it is written as).
_DETAILS_MEMORY = 100_000


@dataclass(frozen=True)
class _Leaf:
    column: str
    objects: tuple[str, ...]  # the keys of the objects it is in, outermost first
    key: str | None  # None: the details JSON, whose members go in as they are
    kind: int = STRING
    always: bool = False  # written even when blank (type and email)
    # Leaves (`details.a` beside `details.a.b`) whose cell, there in a row, is written
    # instead of this one (validation refuses both filled; `payloads._either`).
    yields_to: tuple[int, ...] = ()


class EventJson:
    """How the events of a table with these columns are written (see the module)."""

    def __init__(self, columns: Iterable[str]) -> None:
        self.leaves = _leaves(list(columns))
        # Per details text: its members as written, plain and on a $purchase row.
        self._details: dict[str, tuple[str, str | None]] = {}
        # Per leaf, the glues before it, by the leaf there before it (-1: none) and
        # whether each is quoted (`write`'s codes); then the glues at the end.
        count = len(self.leaves)
        # Each array ends with "", taken where the leaf is not there.
        self._glues = [
            _texts(
                self._glue(p, p_quoted, i, i_quoted)
                for p in range(-1, i)
                for p_quoted in (False, True)
                for i_quoted in (False, True)
            )
            for i in range(count)
        ]
        ends = [(p, quoted) for p in range(-1, count) for quoted in (False, True)]
        self._glues.append(_texts(self._glue(p, quoted, None, False) for p, quoted in ends))

    def write(self, cells: Mapping[str, pa.Array], *, then: str = "") -> pa.Array:
        """The JSON text of each row's event, from the table's cells (large strings),
        each followed by `then`."""
        leaves = self.leaves
        n = len(cells[ev.TYPE])
        if n == 0:
            return pa.array([], _TEXT)
        columns = {leaf.column: pc.fill_null(cells[leaf.column], _EMPTY) for leaf in leaves}
        purchase = pc.equal(columns[ev.TYPE], ev.PURCHASE).to_numpy(zero_copy_only=False)
        texts: list[pa.Array] = []
        there: list[np.ndarray] = []
        quoted: list[np.ndarray | bool] = []
        for leaf in leaves:
            values = columns[leaf.column]
            if leaf.kind == MEMBERS:
                members, filled = self._members(values, purchase)
                texts.append(members)
                there.append(filled)
                quoted.append(False)
                continue
            filled = (
                np.ones(n, dtype=bool)
                if leaf.always
                else pc.not_equal(values, _EMPTY).to_numpy(zero_copy_only=False)
            )
            texts.append(_escaped(values))
            there.append(filled)
            quoted.append(_quoted(values, purchase) if leaf.kind == AMOUNT else True)
        for i, leaf in enumerate(leaves):
            for other in leaf.yields_to:
                left_out = there[i] & there[other]
                if left_out.any():
                    there[i] = there[i] & ~left_out
                    texts[i] = pc.if_else(pa.array(left_out), _EMPTY, texts[i])
        parts: list[pa.Array | pa.Scalar] = []
        before = np.full(n, -1, dtype=np.int64)  # per row, the last leaf there so far
        before_quoted = np.zeros(n, dtype=bool)
        for i in range(len(leaves)):
            own = np.broadcast_to(np.asarray(quoted[i], dtype=bool), (n,))
            codes = ((before + 1) * 2 + before_quoted) * 2 + own
            variants = self._glues[i]
            parts.append(_chosen(variants, np.where(there[i], codes, len(variants) - 1)))
            parts.append(texts[i])
            before = np.where(there[i], i, before)
            before_quoted = np.where(there[i], own, before_quoted)
        parts.append(_chosen(self._glues[-1], (before + 1) * 2 + before_quoted))
        if then:
            parts.append(pa.scalar(then, _TEXT))
        joined = pc.binary_join_element_wise(*parts, _EMPTY)
        return joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined

    def _glue(self, p: int, p_quoted: bool, q: int | None, q_quoted: bool) -> str:
        """The text between leaf `p` (-1: the start) and the next leaf there, `q` (None:
        the end): `p`'s closing quote and braces, then a comma or the opening brace, the
        objects `q` opens, its key and opening quote."""
        first = self.leaves[p] if p >= 0 else None
        then = self.leaves[q] if q is not None else None
        outer = first.objects if first is not None else ()
        inner = then.objects if then is not None else ()
        common = 0
        while common < min(len(outer), len(inner)) and outer[common] == inner[common]:
            common += 1
        text = ('"' if first is not None and p_quoted else "") + "}" * (len(outer) - common)
        if then is None:
            return text + "}"
        text += "," if first is not None else "{"
        text += "".join(pl._key(key) + "{" for key in inner[common:])
        if then.key is not None:
            text += pl._key(then.key) + ('"' if q_quoted else "")
        return text

    def _members(self, values: pa.Array, purchase: np.ndarray) -> tuple[pa.Array, np.ndarray]:
        """The details JSON's members (`"k":v,...`: `payloads._inside` of the parsed object,
        its amount in cents on a $purchase row) and where there are any: each distinct
        text parsed once per writer."""
        encoded = pc.dictionary_encode(values)
        distinct = encoded.dictionary.to_pylist()
        codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        on_purchase = np.zeros(len(distinct), dtype=bool)
        on_purchase[codes[purchase]] = True
        known = self._details
        if len(known) > _DETAILS_MEMORY:
            known.clear()
        plain: list[str] = []
        priced: list[str] = []
        for text, wanted in zip(distinct, on_purchase.tolist(), strict=True):
            written = known.get(text)
            if written is None or (wanted and written[1] is None):
                written = known[text] = _details_members(text, wanted)
            plain.append(written[0])
            priced.append(written[1] or "")
        rows = np.where(purchase, codes + len(distinct), codes)
        everything = plain + priced
        filled = np.asarray([t != "" for t in everything], dtype=bool)[rows]
        return pa.array(everything, _TEXT).take(pa.array(rows)), filled


def _details_members(text: str, priced: bool) -> tuple[str, str | None]:
    if not text.strip():
        return "", ""
    parsed = pl._parse_details(text)
    written = pl._inside(parsed)
    if not priced:
        return written, None
    value = parsed.get("value")
    if isinstance(value, dict) and "amount" in value:
        pl._amount_to_cents(parsed)
        return written, pl._inside(parsed)
    return written, written


def _leaves(columns: list[str]) -> list[_Leaf]:
    """The leaves of the events of a table with these columns, in the order they go out
    (`payloads.encode_events`' order)."""
    leaves = [
        _Leaf(ev.TYPE, (), "type", always=True),
        _Leaf(ev.EMAIL, (), "email", always=True),
    ]
    leaves += [
        _Leaf(c, ("fields",), c[len(ev.FIELDS_PREFIX) :]) for c in columns if ev.is_fields_column(c)
    ]
    if ev.DETAILS in columns:
        leaves.append(_Leaf(ev.DETAILS, ("details",), None, MEMBERS))

    def kind(column: str) -> int:
        return AMOUNT if column == ev.PURCHASE_AMOUNT else STRING

    def walk(
        tree: dict[str | None, object], objects: tuple[str, ...], yields: tuple[int, ...]
    ) -> None:
        for key, child in tree.items():
            if key is None:  # pl._ITSELF: written by its parent, below
                continue
            if isinstance(child, dict):
                inner = yields
                itself = child.get(pl._ITSELF)
                if isinstance(itself, str):
                    leaves.append(_Leaf(itself, objects, key, kind(itself), yields_to=yields))
                    inner = (*yields, len(leaves) - 1)
                walk(child, (*objects, key), inner)
            else:
                assert isinstance(child, str)
                leaves.append(_Leaf(child, objects, key, kind(child), yields_to=yields))

    walk(pl._details_tree(columns), ("details",), ())
    if ev.DATE in columns:
        leaves.append(_Leaf(ev.DATE, (), "date"))
    return leaves


def _escaped(values: pa.Array) -> pa.Array:
    """The cells as they go inside a JSON string's quotes (escaped as json.dumps does)."""
    if not pl._has_special(values):  # the usual: nothing to escape
        return values
    special = pc.match_substring_regex(values, pl._NEEDS_ESCAPE)
    rows = pa.array(np.flatnonzero(special.to_numpy(zero_copy_only=False)))
    escaped = [json.dumps(v, ensure_ascii=False)[1:-1] for v in values.take(rows).to_pylist()]
    return pc.replace_with_mask(values, special, pa.array(escaped, _TEXT))


def _quoted(values: pa.Array, purchase: np.ndarray) -> np.ndarray | bool:
    """Per row, whether an amount goes out as a string: all but a $purchase row's whole
    number of cents, which goes out as the number (`payloads._cents`)."""
    if not purchase.any():
        return True
    whole = pc.and_(
        pc.match_substring_regex(values, pl._WHOLE_RE2), pc.not_equal(values, "-0")
    ).to_numpy(zero_copy_only=False)
    quoted: np.ndarray = ~(purchase & whole)
    return quoted


def _texts(texts: Iterable[str]) -> pa.Array:
    return pa.array([*texts, ""], _TEXT)


def _chosen(variants: pa.Array, codes: np.ndarray) -> pa.Array | pa.Scalar:
    """Per row, `variants[code]`: a scalar when every row takes the same."""
    first, last = int(codes.min()), int(codes.max())
    if first == last:
        return variants[first]
    return variants.take(pa.array(codes))
