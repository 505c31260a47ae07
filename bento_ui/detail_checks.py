"""The checks of `details`: the JSON column, the dotted `details.*` columns, and how the
two fit together (a path set in both places, a value where an object has to be).

`check_details_json` parses each distinct JSON text once (exports repeat a few objects);
the other checks look at each distinct object once and spread the answer over its rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from bento_ui import _arrow_text as arrow_text
from bento_ui import events as ev
from bento_ui import json_limits
from bento_ui.problems import ERROR, WARNING, Problems


def json_or_none(text: str) -> Any:
    try:
        return json_limits.loads(text)
    except json_limits.TooDeep:
        return []  # nested too deep: certainly not flat
    except ValueError:
        return None


class _NotJSON(ValueError):
    """NaN, Infinity or -Infinity: Python's json reads them, JSON (and Bento) does not."""


def _reject_constant(name: str) -> Any:
    raise _NotJSON(name)


def _json_kind(value: Any) -> str:
    """What a person calls a JSON value that is not an object."""
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a text"
    if isinstance(value, bool):
        return "true/false"
    if value is None:
        return "null"
    return "a number"


@dataclass
class Details:
    """The `details` JSON column, parsed once per distinct text: `objects[codes[i]]` is
    row i's object ({} where it is not one); `codes[i]` is -1 where the cell is blank."""

    codes: np.ndarray
    objects: list[Any]

    def per_row(self, per_object: list[Any], blank: Any) -> np.ndarray:
        """A value computed once per distinct object, spread over the rows."""
        values = np.array([*per_object, blank], dtype=object)
        spread: np.ndarray = values[self.codes]  # -1 takes `blank`, put last
        return spread

    def rows_where(self, per_object: list[bool]) -> np.ndarray:
        """The rows whose object has `per_object` true (never a blank cell's), as bools."""
        flags = np.zeros(len(per_object) + 1, dtype=bool)  # the last one is for blank cells
        flags[: len(per_object)] = per_object
        rows: np.ndarray = flags[self.codes]
        return rows


def codes_and_values(column: pd.Series) -> tuple[np.ndarray, list[str]]:
    """(codes, distinct values): `values[codes[i]]` is the i-th cell."""
    encoded = pc.dictionary_encode(pa.array(column.astype("str").array))
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, encoded.dictionary.to_pylist()


def check_details_json(stripped: pd.DataFrame, problems: Problems) -> Details:
    """The parsed `details` JSON, each distinct text parsed once (exports repeat the same
    few objects); problems for the cells that are not a JSON object."""
    if ev.DETAILS not in stripped:
        return Details(np.full(len(stripped), -1, dtype=np.int64), [])
    column = stripped[ev.DETAILS]
    filled = arrow_text.filled(column)
    codes, distinct = codes_and_values(column[filled])
    parsed: list[Any] = []
    message: list[str] = []
    for value in distinct:
        try:
            # Numbers kept as written: they are checked, and sent, as the person wrote them.
            obj = json_limits.loads_as_written(value, parse_constant=_reject_constant)
        except json_limits.NotFinite as exc:
            parsed.append({})
            message.append(
                f"details holds the number {exc}, too large for a JSON number: write it "
                'as text in quotes, like {"big": "1e999"}'
            )
            continue
        except json_limits.TooDeep as exc:
            parsed.append({})
            message.append(
                f"details is {exc}, more than an event needs: flatten it, or put the deep "
                "part in a text"
            )
            continue
        except json_limits.NumberTooLong as exc:
            parsed.append({})
            message.append(
                f"details holds {exc}, which cannot be sent as a number: write it in "
                'quotes as a text, like {"id": "12345"}'
            )
            continue
        except _NotJSON as exc:
            parsed.append({})
            message.append(
                f"details holds {exc}, which JSON does not allow: write a number, or the "
                'text in quotes, like {"score": "NaN"}'
            )
            continue
        except json.JSONDecodeError as exc:
            parsed.append({})
            message.append(
                f"details is not valid JSON ({exc.msg} at character {exc.pos}): "
                'write an object like {"plan": "pro"}'
            )
            continue
        except ValueError:
            parsed.append({})
            message.append('details is not valid JSON: write an object like {"plan": "pro"}')
            continue
        if isinstance(obj, dict):
            parsed.append(obj)
            message.append("")
        else:
            parsed.append({})
            message.append(
                f"details must be a JSON object, not {_json_kind(obj)}: "
                'write it like {"plan": "pro"}'
            )
    details = Details(np.full(len(column), -1, dtype=np.int64), parsed)
    details.codes[filled] = codes
    # Which rows are wrong, per distinct text; the messages only for those rows.
    bad = details.rows_where([m != "" for m in message])
    if bad.any():
        texts = np.array(message, dtype=object)[details.codes[bad]]
        shown = pd.Series(texts, index=column.index[bad], dtype="str")
        problems.add(pd.Series(bad, index=column.index), ev.DETAILS, column, ERROR, shown)
    return details


def _dig(obj: Any, path: list[str]) -> Any:
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return None
        obj = obj[key]
    return obj


def detail_values(stripped: pd.DataFrame, details: Details, column: str) -> pd.Series:
    """A detail's text per row, from its dotted column or else from the details JSON."""
    path = column.split(".")[1:]
    found = [
        "" if (v := _dig(d, path)) is None else v if isinstance(v, str) else json_limits.dumps(v)
        for d in details.objects
    ]
    if not any(found):  # the path is in no object: the column as it is (or blank)
        if column in stripped:
            return stripped[column]
        return pd.Series("", stripped.index, dtype="str")
    # Each distinct object's text, taken for its rows ("" put last for blank rows).
    distinct = pa.array([*found, ""], pa.large_string())
    where = np.where(details.codes < 0, len(found), details.codes)
    if column in stripped:
        # Candidates first: only the blank cells whose object holds the path take its
        # text (a few rows of most tables); the column is kept as it is where none do.
        own = stripped[column]
        held = np.array([v != "" for v in found] + [False], dtype=bool)[where]
        held &= ~arrow_text.filled(own)
        data = arrow_text.arrow(own)
        if not held.any():
            return own
        if data is not None:
            texts = distinct.take(pa.array(where[held]))
            new = arrow_text.replaced(arrow_text.flat(data), held, texts)
            return pd.Series(new, index=own.index, dtype=own.dtype, name=own.name)
        from_json = pd.Series(distinct.take(pa.array(where)), stripped.index, dtype="str")
        return own.where(~held, from_json)
    return pd.Series(distinct.take(pa.array(where)), stripped.index, dtype="str")


def check_details_overlap(stripped: pd.DataFrame, details: Details, problems: Problems) -> None:
    if ev.DETAILS not in stripped or not details.objects:
        return
    for name, values in stripped.items():
        column = str(name)
        if not ev.is_details_column(column):
            continue
        # Candidates first: the distinct objects that set the path or a part of it (most
        # set none). Every part of a path starts with its first key: that says it.
        first = column.split(".")[1]
        sets_it = [first in d for d in details.objects]
        if not any(sets_it):
            continue
        clash = details.rows_where(sets_it) & arrow_text.filled(values)
        if not clash.any():
            continue
        problems.add(
            pd.Series(clash, index=stripped.index),
            column,
            values,
            ERROR,
            f"{column} is set both here and in the details JSON: keep one of them",
        )


def check_details_paths(text: pd.DataFrame, details: Details, problems: Problems) -> None:
    """Rows where a dotted details column has no place to go: another column fills a
    shorter path (`details.a` and `details.a.b`), or the details JSON holds a value, not
    an object, on the way (`{"a": "x"}` or `{"a": null}`). Filled means not "", as in
    `build_events`."""
    columns = [c for c in text.columns if ev.is_details_column(c)]
    position = {c: i for i, c in enumerate(columns)}
    for column in columns:
        parts = column.split(".")
        # The shorter paths are looked up, not searched for: a sheet of thousands of
        # details columns would otherwise compare every pair.
        prefixes = (".".join(parts[:i]) for i in range(2, len(parts)))
        shorter_ones = sorted((p for p in prefixes if p in position), key=position.__getitem__)
        path = parts[1:]
        # Candidates first: the distinct objects in the way (most tables have none).
        blocked = (
            [_blocked(d, path) for d in details.objects]
            if ev.DETAILS in text and len(path) > 1
            else []
        )
        if not shorter_ones and not any(blocked):
            continue
        filled = arrow_text.filled(text[column])
        for shorter in shorter_ones:
            problems.add(
                pd.Series(filled & arrow_text.filled(text[shorter]), index=text.index),
                column,
                text[column],
                ERROR,
                f"{shorter} and {column} cannot both be filled: {shorter} would have to be "
                "a value and an object at once. Empty one of them in this row",
            )
        if any(blocked):
            problems.add(
                pd.Series(filled & details.rows_where(blocked), index=text.index),
                column,
                text[column],
                ERROR,
                f"{column} cannot be set: the details JSON holds a value, not an object, "
                f"at {'.'.join(path[:-1])}. Keep the detail in one place",
            )


def send_trimmed(
    text: pd.DataFrame, stripped: pd.DataFrame, out: pd.DataFrame, problems: Problems
) -> None:
    """`fields.*` and `details.*` cells into `out` as they were checked, trimmed, with a
    warning where that changed one (and one where nothing but spaces was left out)."""
    for name in text.columns:
        column = str(name)
        if not (ev.is_fields_column(column) or ev.is_details_column(column)):
            continue
        if arrow_text.same_texts(text[column], stripped[column]):
            continue  # the trim kept the column as it was (most columns)
        raw, trimmed = _arrow_of(text[column]), _arrow_of(stripped[column])
        if pc.sum(pc.binary_length(raw)) == pc.sum(pc.binary_length(trimmed)):
            continue  # the common case: trimming changed nothing (it only ever shortens)
        before, after = _byte_lengths(raw), _byte_lengths(trimmed)
        out[column] = stripped[column]
        changed = before != after
        problems.add(
            pd.Series(changed & (after > 0), index=text.index), column, text[column], WARNING,
            f"{column} had spaces around it: they were trimmed",
        )  # fmt: skip
        problems.add(
            pd.Series(changed & (after == 0), index=text.index), column, text[column], WARNING,
            f"{column} held only spaces: it was left out, like an empty cell",
        )  # fmt: skip


def _arrow_of(column: pd.Series) -> pa.Array | pa.ChunkedArray:
    array = column.array
    if hasattr(array, "__arrow_array__"):
        data: pa.Array | pa.ChunkedArray = array.__arrow_array__()
        return data
    return pa.array(column.astype("str").tolist(), pa.large_string())


def _byte_lengths(data: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Each cell's length in UTF-8 bytes."""
    lengths: np.ndarray = (
        pc.fill_null(pc.binary_length(data), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    )
    return lengths


def _blocked(obj: Any, path: list[str]) -> bool:
    """True when something that is not an object sits on the way to `path` in `obj`."""
    for key in path[:-1]:
        if not isinstance(obj, dict) or key not in obj:
            return False
        obj = obj[key]
        if not isinstance(obj, dict):
            return True
    return False
