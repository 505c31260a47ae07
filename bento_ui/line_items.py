"""Orders written one line item a row: the rows that continue an order, folded into it.

A Shopify orders export writes an order of three products as three rows with the same
`Name` (the order number): the first holds the order (its `Total`, `Email`, status,
addresses) and its first line item; the next ones hold only `Lineitem *` cells (and
repeat the email and the date). Read naively, each continuation row is a `$purchase`
without an amount: an error a row, for rows that are not mistakes.

`continuations(sheet, mapping)` finds them: when a column goes to the order key
(`details.unique.key`), a row continues the order above it when it repeats that key
(the row just above has it too), has no amount, and every other mapped cell is blank or
the same as in the order's first row (so nothing it holds is lost by folding it).
`fold(table, continued)` then gives the event table one row per order: the columns the
mapping sends to `details.cart.items.<key>` (Bento's cart: `product_name`, `quantity`,
`product_price`, `product_sku`) become, for each order, the list `details.cart.items`,
one item per row of the order; the continuation rows leave the table. When no column
goes to the cart, the continuation rows are still left out (they hold nothing else),
and `describe` says so in one sentence, with their row numbers.

`apply_mapping` does both, so the CLI, the app, the notebook, the chunked reader and a
resume all see the same orders; row numbers stay the person's (each order keeps the
number of its first row).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from bento_ui import events as ev
from bento_ui import json_limits

ITEMS = "details.cart.items"
ITEMS_PREFIX = ITEMS + "."
# Where apply_mapping leaves what it folded: {continuation row: the order's first row}.
CONTINUED = "bento_ui.line_items"
_WHOLE_NUMBER = re.compile(r"[0-9]+")


def is_item_column(target: str) -> bool:
    return target.startswith(ITEMS_PREFIX) and len(target) > len(ITEMS_PREFIX)


def continuations(sheet: pd.DataFrame, columns: Mapping[str, str]) -> dict[int, int]:
    """{row that continues an order: the row that starts it}, in spreadsheet row numbers;
    {} when no column goes to the order key. `columns`: a mapping's header -> target."""
    used = {h: t for h, t in columns.items() if t != "ignore" and h in sheet.columns}
    key_header = next((h for h, t in used.items() if t == ev.PURCHASE_KEY), None)
    if key_header is None or len(sheet) < 2:
        return {}
    key = _clean(sheet[key_header])
    # Whole-column comparisons in pyarrow: this runs on every rerun of the app's page.
    repeats = np.concatenate(([False], _bools(pc.equal(key[1:], key[:-1]), False)))
    repeats &= _bools(pc.not_equal(key, ""), True)
    if not repeats.any():
        return {}
    positions = np.arange(len(sheet))
    head = np.maximum.accumulate(np.where(repeats, 0, positions))  # each run's first row
    folded = repeats.copy()
    for header, target in used.items():
        if header == key_header or is_item_column(target):
            continue
        values = _clean(sheet[header])
        blank = _bools(pc.equal(values, ""), False)
        if target == ev.PURCHASE_AMOUNT:
            folded &= blank  # an amount of its own: an order of its own
        else:
            folded &= blank | _bools(pc.equal(values, values.take(pa.array(head))), False)
        if not folded.any():
            return {}
    rows = sheet.index.to_numpy()
    return {int(rows[p]): int(rows[head[p]]) for p in np.flatnonzero(folded)}


def fold(table: pd.DataFrame, continued: Mapping[int, int]) -> pd.DataFrame:
    """The event table with one row per order: the cart columns made into each order's
    `details.cart.items` (in the `details` JSON object), the continuation rows left out."""
    item_columns = [c for c in table.columns if is_item_column(c)]
    if not item_columns:
        return table.drop(index=list(continued)) if continued else table
    names = [c[len(ITEMS_PREFIX) :] for c in item_columns]
    # Column by column into lists, then row by row in plain Python: a row of a frame
    # (.iloc) costs a thousand times more than a list item.
    values = [table[c].astype("str").str.strip().tolist() for c in item_columns]
    filled = np.zeros(len(table), dtype=bool)
    for column in values:
        filled |= np.array(column, dtype=object) != ""
    rows = table.index.tolist()
    carts: dict[int, list[dict[str, Any]]] = {}
    for position in np.flatnonzero(filled).tolist():
        row = int(rows[position])
        item = {name: _item_value(name, column[position])
                for name, column in zip(names, values, strict=True) if column[position]}
        carts.setdefault(continued.get(row, row), []).append(item)
    out = table.drop(columns=item_columns)
    if continued:
        out = out.drop(index=list(continued))
    details = (out[ev.DETAILS].astype("str") if ev.DETAILS in out
               else pd.Series("", index=out.index, dtype="str"))  # fmt: skip
    texts: list[str] = details.tolist()
    where = {int(row): i for i, row in enumerate(out.index)}
    for row, items in carts.items():
        i = where.get(row)
        merged = None if i is None else _with_items(texts[i], items)
        if i is not None and merged is not None:
            texts[i] = merged
    out[ev.DETAILS] = pd.Series(texts, index=out.index, dtype="str")
    return out


def whole_orders(parts: Iterable[pd.DataFrame], columns: Mapping[str, str]
                 ) -> Iterator[pd.DataFrame]:
    """Chunks of a sheet, each ending on a whole order: the last rows of a chunk that
    share the order key of its last row wait for the next chunk, in case the order goes
    on there. Without a column for the order key the chunks pass as they are."""
    key_header = next((h for h, t in columns.items() if t == ev.PURCHASE_KEY), None)
    held: pd.DataFrame | None = None
    for part in parts:
        if held is not None and len(held):
            part = pd.concat([held, part])
        held = None
        if key_header is None or key_header not in part.columns or not len(part):
            yield part
            continue
        key = _clean(part[key_header])
        last = key[-1].as_py()
        if last == "" or last is None:
            yield part
            continue
        others = np.flatnonzero(~_bools(pc.equal(key, last), False))
        start = int(others[-1]) + 1 if len(others) else 0
        held = part.iloc[start:]
        if start:
            yield part.iloc[:start]
    if held is not None and len(held):
        yield held


def describe(continued: Mapping[int, int], columns: Mapping[str, str]) -> str:
    """One sentence about the continuation rows, for the person; "" when there are none.
    `columns`: the mapping's header -> target, to name the person's own headers."""
    if not continued:
        return ""
    key = next((h for h, t in columns.items() if t == ev.PURCHASE_KEY), "order key")
    amount = next((h for h, t in columns.items() if t == ev.PURCHASE_AMOUNT), None)
    cart = any(is_item_column(t) for t in columns.values())
    rows = sorted(continued)
    shown = ", ".join(f"{r:,}" for r in rows[:10]) + (", ..." if len(rows) > 10 else "")
    one = len(rows) == 1
    if cart:
        what = ("its line item is in that order's cart" if one
                else "their line items are in that order's cart")
        what += " (details.cart.items), not an event of its own" if one else (
            " (details.cart.items), not events of their own")
    else:
        what = ("it is not sent on its own" if one else "they are not sent on their own") + (
            ", and no line item goes to the cart: map the line-item columns to "
            "details.cart.items.product_name (and .quantity, .product_sku) to send them")
    no_amount = f", no '{amount}'" if amount else ""
    return (f"{len(rows):,} row{'' if one else 's'} continue{'s' if one else ''} the order "
            f"above {'it' if one else 'them'} (same '{key}'{no_amount}): {what}. "
            f"Row{'' if one else 's'} {shown}.")


def _clean(column: pd.Series) -> pa.Array:
    """The column's text trimmed (as `Series.str.strip`), missing cells kept missing."""
    data = pa.array(column.astype("str").array)
    if isinstance(data, pa.ChunkedArray):
        data = data.combine_chunks()
    return pc.utf8_trim_whitespace(data)


def _bools(flags: pa.Array, missing: bool) -> np.ndarray:
    """A pyarrow comparison as NumPy booleans, `missing` where a cell was missing."""
    result: np.ndarray = pc.fill_null(flags, missing).to_numpy(zero_copy_only=False)
    return result


def _item_value(name: str, text: str) -> Any:
    # Bento's examples give the quantity as a number; every other value goes as typed.
    if name == "quantity" and _WHOLE_NUMBER.fullmatch(text):
        return int(text)
    return text


def _with_items(details: str, items: list[dict[str, Any]]) -> str | None:
    """The details JSON text with the cart's items in it; None when the person's own
    details JSON cannot take them (not an object: validation reports it)."""
    if details.strip():
        try:  # numbers as the person wrote them (see json_limits)
            data = json_limits.loads_as_written(details)
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
    else:
        data = {}
    cart = data.setdefault("cart", {})
    if not isinstance(cart, dict):
        return None
    cart["items"] = [*cart.get("items", []), *items] if isinstance(cart.get("items"), list) \
        else items
    return json_limits.dumps(data)
