"""A tags column: one `$tag` event per tag of each row.

Exports keep a subscriber's tags in one cell: Mailchimp writes `"Customer","VIP"`, other
tools `vip, newsletter` or `vip;newsletter`. Mapped to `tags` (instead of a field), the
cell becomes one `$tag` event per tag. A row whose type is `$tag` or `$remove_tag` is
replaced by one such event per tag (the rest of the row carried on each); a row of any
other type keeps its own event, followed by one `$tag` event (email and date only) per
tag. Every event keeps its source row's number, so several events can share a row.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from bento_ui import events as ev


def split_tags(cell: str) -> list[str]:
    """The tags of one cell, in order, each once: `"Customer","VIP"`, `vip, newsletter`
    and `vip;newsletter` all work; quotes around a tag are dropped, empty pieces too."""
    text = cell.strip()
    if not text:
        return []
    if text.startswith(("[", "{")):
        listed = json_tags(text)
        return [] if listed is None else list(dict.fromkeys(t.strip() for t in listed if t.strip()))
    delimiter = ";" if ";" in text and "," not in text.replace('","', "") else ","
    pieces = next(csv.reader([text], delimiter=delimiter, skipinitialspace=True), [])
    tags: list[str] = []
    for piece in pieces:
        tag = piece.strip().strip('"').strip()
        if tag and tag not in tags:
            tags.append(tag)
    return tags


def json_tags(text: str) -> list[str] | None:
    """The tags of a cell written as a JSON list of texts (`["vip", "beta"]`), else None."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def tags_per_row(cells: pd.Series) -> tuple[np.ndarray, list[list[str]]]:
    """(codes, tag lists): row i's tags are `lists[codes[i]]`; each distinct cell split once."""
    encoded = pc.dictionary_encode(pa.array(cells.astype("str").array))
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, [split_tags(v) for v in encoded.dictionary.to_pylist()]


def explode_tags(valid: pd.DataFrame) -> pd.DataFrame:
    """The events of a valid table with a `tags` column: see the module's docstring.
    The index (spreadsheet rows) repeats where a row became several events."""
    if ev.TAGS not in valid:
        return valid
    codes, lists = tags_per_row(valid[ev.TAGS])
    table = valid.drop(columns=[ev.TAGS])
    if ev.TAG_NAME not in table:
        table[ev.TAG_NAME] = ""
    counts = np.array([len(t) for t in lists], dtype=np.int64)[codes] if lists else codes * 0
    replaced = (table[ev.TYPE].isin([ev.TAG, ev.REMOVE_TAG]).to_numpy()) & (counts > 0)
    positions = np.arange(len(table))
    parents = np.repeat(positions, counts)
    if not len(parents):
        return table
    flat = [tag for code in codes for tag in lists[code]]
    tag_events = table.iloc[parents].copy()
    tag_events[ev.TAG_NAME] = flat
    added = ~replaced[parents]  # tag events beside a row's own event: email and date only
    if added.any():
        keep = {ev.EMAIL, ev.DATE, ev.TAG_NAME}
        for column in (c for c in tag_events.columns if c not in keep):
            tag_events.loc[added, column] = ""
        tag_events.loc[added, ev.TYPE] = ev.TAG
    own = table[~replaced]
    # In row order, each row's own event before its tag events.
    order_row = np.concatenate([positions[~replaced], parents])
    order_within = np.concatenate([np.zeros(int((~replaced).sum())), np.ones(len(parents))])
    both = pd.concat([own, tag_events])
    return both.iloc[np.lexsort((order_within, order_row))]
