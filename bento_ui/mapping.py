"""Map a spreadsheet's headers onto the event table.

`suggest_mapping` recognises common headers and those of common exports (`Email Address`
-> email, `Event Name` -> type, `Created At` -> date, Mailchimp's LEID ignored; see
`known_headers`) and keeps every column it cannot place as `fields.<snake_case>`, listed
in the mapping's `unplaced` (`with_rest` ignores them instead);
`apply_mapping` turns a sheet into an event table with that mapping, filling one type
for every row that has none. Every choice can be overridden: a mapping is a plain dict
from header to target, and the person's word always wins over a suggestion.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from bento_ui import _arrow_text as arrow_text
from bento_ui import events as ev
from bento_ui import known_headers, line_items
from bento_ui.errors import MappingError

IGNORE = "ignore"
# The column of notes the app adds to a "rows to fix" download: ignored when it comes back.
PROBLEMS_COLUMN = "problems"
Rest = Literal["fields", "ignore"]
# Where the columns the tool cannot place go by default: kept as profile fields, so that
# nothing the person exported is dropped without a word; the mapping lists them as
# unplaced, and one switch (`with_rest`) ignores them all instead.
DEFAULT_REST: Rest = "fields"


def snake_case(header: str) -> str:
    """`First Name` -> `first_name`; `Order #` -> `order`; never empty."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", header.strip())
    text = re.sub(r"[^0-9A-Za-z]+", "_", text).strip("_").lower()
    return text or "column"


@dataclass
class ColumnMapping:
    """Where each spreadsheet column goes, and the type for rows that have none.

    `columns` maps a header to one of: `email`, `type`, `date`, `details` (a JSON object),
    `fields.<name>`, `details.<path.to.key>`, or `ignore`.
    """

    columns: dict[str, str] = field(default_factory=dict)
    default_type: str = ""
    # The headers the tool could not place: they went to the rest (see `with_rest`).
    unplaced: list[str] = field(default_factory=list)

    def target_of(self, target: str) -> str | None:
        """The header mapped to `target`, if any."""
        return next((h for h, t in self.columns.items() if t == target), None)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"column": list(self.columns), "goes to": list(self.columns.values())})

    def _repr_html_(self) -> str:
        return str(self.to_frame().to_html(index=False))

    def to_json(self) -> str:
        data: dict[str, Any] = {"columns": self.columns, "default_type": self.default_type}
        if self.unplaced:
            data["unplaced"] = self.unplaced
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> ColumnMapping:
        data = json.loads(text)
        return cls(columns=dict(data["columns"]), default_type=data.get("default_type", ""),
                   unplaced=[str(h) for h in data.get("unplaced", [])])


def suggest_mapping(
    headers: Iterable[Any],
    *,
    default_type: str = "",
    others: Literal["fields", "details", "ignore"] = DEFAULT_REST,
) -> ColumnMapping:
    """Guess where each header goes (see `known_headers`); the columns the tool cannot
    place are listed in `unplaced` and go to `others`.

    When the sheet is a list of orders (an order number and an amount, no type column),
    every row is suggested to be a `$purchase`.
    """
    names = [str(h) for h in headers]
    places = known_headers.place(names)
    taken = {p for p in places if p is not None and p != IGNORE}
    columns: dict[str, str] = {}
    unplaced: list[str] = []
    for header, target in zip(names, places, strict=True):
        if header == PROBLEMS_COLUMN:  # our own "rows to fix" file's notes
            target = IGNORE
        elif target is None:
            unplaced.append(header)
            target = _other_target(header, others, taken)
            taken.add(target)
        columns[header] = target
    targets = set(columns.values())
    if (not default_type and ev.TYPE not in targets
            and {ev.PURCHASE_KEY, ev.PURCHASE_AMOUNT} <= targets):
        default_type = ev.PURCHASE
    return ColumnMapping(columns=columns, default_type=default_type, unplaced=unplaced)


def with_rest(mapping: ColumnMapping, rest: Rest) -> ColumnMapping:
    """The mapping with every unplaced column kept as a field (`fields.<snake_case>`)
    or ignored; the columns the tool or the person placed are left as they are."""
    taken = {t for h, t in mapping.columns.items() if h not in mapping.unplaced}
    columns = dict(mapping.columns)
    for header in mapping.unplaced:
        if header in columns:
            columns[header] = _other_target(header, rest, taken)
            taken.add(columns[header])
    return ColumnMapping(columns=columns, default_type=mapping.default_type,
                         unplaced=list(mapping.unplaced))


def rest_of(mapping: ColumnMapping) -> Rest | None:
    """"fields" or "ignore" when every unplaced column goes there; None when mixed."""
    kinds = {mapping.columns.get(h, IGNORE) == IGNORE for h in mapping.unplaced}
    if kinds == {True}:
        return "ignore"
    if kinds == {False}:
        return "fields"
    return None


def _other_target(header: str, others: str, taken: set[str]) -> str:
    if others == IGNORE:
        return IGNORE
    prefix = ev.FIELDS_PREFIX if others == "fields" else ev.DETAILS_PREFIX
    base = prefix + snake_case(header)
    target, n = base, 2
    while target in taken:
        target, n = f"{base}_{n}", n + 1
    return target


# Where a column can go, as a person chooses it: a place and, for a field or a detail,
# its name. The app's mapping editor and the notebook composer both speak in these.
GOES_TO = ("email", "type", "date", "field", "detail", "details JSON", "tags", "ignore")


def split_target(target: str) -> tuple[str, str]:
    """`fields.first_name` -> ("field", "first_name"); `email` -> ("email", "")."""
    if target in ev.CORE_COLUMNS:
        return target, ""
    if target == ev.DETAILS:
        return "details JSON", ""
    if target == ev.TAGS:
        return "tags", ""
    if ev.is_fields_column(target):
        return "field", target[len(ev.FIELDS_PREFIX) :]
    if ev.is_details_column(target):
        return "detail", target[len(ev.DETAILS_PREFIX) :]
    return IGNORE, ""


def join_target(header: str, kind: str, name: str = "") -> str:
    """The target a choice of `GOES_TO` means (the inverse of `split_target`).

    A field or detail without a name is named after its column (`First Name` ->
    `fields.first_name`); a name typed with its prefix (`fields.plan`) is accepted too.
    """
    name = name.strip()
    if kind == "field":
        return ev.FIELDS_PREFIX + (name.removeprefix(ev.FIELDS_PREFIX) or snake_case(header))
    if kind == "detail":
        return ev.DETAILS_PREFIX + (name.removeprefix(ev.DETAILS_PREFIX) or snake_case(header))
    if kind == "details JSON":
        return ev.DETAILS
    if kind == "tags":
        return ev.TAGS
    if kind in ev.CORE_COLUMNS:
        return kind
    return IGNORE


def check_mapping(headers: Iterable[Any], mapping: ColumnMapping) -> list[str]:
    """Everything that stops `mapping` from being applied, as messages; [] when fine."""
    header_set = {str(h) for h in headers}
    problems: list[str] = []
    unknown = [h for h in mapping.columns if h not in header_set]
    if unknown:
        problems.append(
            f"The mapping names columns the sheet does not have: {', '.join(unknown)}. "
            "Map the columns of this sheet."
        )
    used = {h: t for h, t in mapping.columns.items() if t != IGNORE and h in header_set}
    for header, target in used.items():
        if not ev.is_event_column(target):
            problems.append(
                f"Column '{header}' goes to '{target}', which is not a place in an event: "
                "choose email, type, date, details, fields.<name>, details.<path> or ignore."
            )
        elif ev.is_fields_column(target) and "." in target[len(ev.FIELDS_PREFIX) :]:
            problems.append(
                f"Column '{header}' goes to '{target}', but fields are flat: "
                f"use fields.{snake_case(target[len(ev.FIELDS_PREFIX) :])} or a details path."
            )
    by_target: dict[str, list[str]] = {}
    for header, target in used.items():
        by_target.setdefault(target, []).append(header)
    for target, sources in by_target.items():
        if len(sources) > 1:
            problems.append(
                f"Columns {', '.join(repr(s) for s in sources)} all go to {target}: "
                "choose one of them and ignore or rename the others."
            )
    paths = {t for t in by_target if ev.is_details_column(t)}
    for longer in sorted(paths):
        parts = longer.split(".")
        for shorter in (".".join(parts[:i]) for i in range(2, len(parts))):
            if shorter in paths:
                problems.append(
                    f"{shorter} and {longer} cannot both be filled: {shorter} would have to "
                    "be a value and an object at once. Rename one of them."
                )
    if ev.EMAIL not in by_target:
        problems.append("No column goes to email: choose the column that holds the addresses.")
    if ev.TYPE not in by_target and not mapping.default_type.strip() and ev.TAGS not in by_target:
        problems.append(
            "No column goes to type and no type is given for every row: choose the column "
            "that holds the event name, or give one type for all rows."
        )
    problems.extend(_missing_kind_inputs(set(by_target), mapping))
    return problems


# What each of Bento's kinds needs from the sheet, as detail columns.
_KIND_INPUTS = {
    ev.PURCHASE: (ev.PURCHASE_KEY, ev.PURCHASE_AMOUNT, ev.PURCHASE_CURRENCY),
    ev.TAG: (ev.TAG_NAME,),
    ev.REMOVE_TAG: (ev.TAG_NAME,),
}


def _missing_kind_inputs(targets: set[str], mapping: ColumnMapping) -> list[str]:
    """When every row gets one of Bento's kinds (one type for all rows, no type column),
    the columns it needs must be mapped: one message here instead of the same error on
    every row. A details JSON column may hold them, so it is trusted to."""
    kind = mapping.default_type.strip()
    if ev.TYPE in targets or ev.DETAILS in targets or kind not in _KIND_INPUTS:
        return []
    if kind in (ev.TAG, ev.REMOVE_TAG) and ev.TAGS in targets:
        return []
    missing = [t for t in _KIND_INPUTS[kind] if t not in targets]
    if not missing:
        return []
    wanted = "map a column to " + missing[0]
    if len(missing) > 1:
        wanted += "".join(f", one to {t}" for t in missing[1:-1]) + f" and one to {missing[-1]}"
    return [
        f"Every row is a {kind}, which needs {', '.join(missing)}: {wanted} "
        "(or choose a column that holds the type)."
    ]


def apply_mapping(
    sheet: pd.DataFrame,
    mapping: ColumnMapping | Mapping[str, str],
    *,
    default_type: str | None = None,
) -> pd.DataFrame:
    """The event table for `sheet`: one row per sheet row, same index (row numbers).

    Rows with no type get `default_type` (a type in the sheet wins); rows whose mapped
    cells are all blank stay blank, so validation can count and skip them. The rows that
    continue an order (the same order key, no amount: a Shopify line item) are folded
    into its first row (`line_items`); `folded_rows(table)` lists them.
    Raises MappingError when the mapping cannot be applied.
    """
    if not isinstance(mapping, ColumnMapping):
        mapping = ColumnMapping(columns=dict(mapping))
    if default_type is not None:
        mapping = ColumnMapping(columns=mapping.columns, default_type=default_type)
    problems = check_mapping(sheet.columns, mapping)
    if problems:
        raise MappingError(" ".join([*problems, *_header_hint(sheet, mapping)]))

    # check_mapping has made every target unique, so each has one header. The columns
    # are gathered first and made into a table at once: adding them one by one copies
    # the table each time, which takes minutes for a sheet of a few thousand columns.
    used = {h: t for h, t in mapping.columns.items() if t != IGNORE}
    header_of = {t: h for h, t in used.items()}
    columns = {t: _text(sheet[header_of[t]]) for t in _column_order(header_of)}
    for core in ev.CORE_COLUMNS:
        if core not in columns:  # made from offsets alone: no Python string per row
            blank = arrow_text.empty_texts(len(sheet))
            columns[core] = pd.Series(blank, index=sheet.index, dtype="str")
    order = [*ev.CORE_COLUMNS, *(c for c in columns if c not in ev.CORE_COLUMNS)]
    table = pd.DataFrame({c: columns[c] for c in order}, index=sheet.index)

    default = mapping.default_type.strip()
    if not default and ev.TAGS in used.values() and ev.TYPE not in used.values():
        default = ev.TAG  # a tags column alone: each row is its tags
    if default:
        no_type = (table[ev.TYPE].str.strip() == "").to_numpy()
        if no_type.any():
            # Only the rows without a type can take the default; of those, the blank
            # ones stay blank.
            fill = no_type.copy()
            fill[no_type] = ~arrow_text.blank_rows(table if no_type.all() else table[no_type])
            table.loc[fill, ev.TYPE] = default
    # An order written one line item a row (Shopify): one event per order, its items in
    # the cart (see `line_items`); what was folded is kept for the caller to tell.
    continued = line_items.continuations(sheet, used)
    if continued or any(line_items.is_item_column(t) for t in used.values()):
        table = line_items.fold(table, continued)
    table.attrs[line_items.CONTINUED] = continued
    return table


def folded_rows(table: pd.DataFrame) -> dict[int, int]:
    """{row folded into an order: the order's first row} of an `apply_mapping` table."""
    folded: dict[int, int] = table.attrs.get(line_items.CONTINUED, {})
    return folded


def _text(column: pd.Series) -> pd.Series:
    return column if column.dtype == "str" else column.astype("str")


def _header_hint(sheet: pd.DataFrame, mapping: ColumnMapping) -> list[str]:
    """When no column goes to email because the column names sit lower down (a title
    above them), say which row holds them."""
    if ev.EMAIL in mapping.columns.values():
        return []
    row = header_row_hint(sheet)
    if row is None:
        return []
    names = ", ".join(str(v).strip() for v in sheet.loc[row] if str(v).strip())
    return [
        f"Row {row} looks like the column names ({names}): delete the rows above it "
        "so that the column names are the first row, and try again."
    ]


def header_row_hint(sheet: pd.DataFrame) -> int | None:
    """The spreadsheet row, among the first 20, that looks like the column names (it
    names an email column), when the header read is not it; None otherwise.

    A header that names an email column may still be the wrong one: Zoom's participants
    export "with meeting data" starts with a block about the meeting (the host's `User
    Email`), then a blank row, then the participants' own header. A row below that names
    an email column and at least two more known columns is taken for the real header."""
    if any(p == ev.EMAIL for p in known_headers.place([str(h) for h in sheet.columns])):
        for row, values in zip(sheet.index[:20], sheet.head(20).itertuples(index=False),
                               strict=False):  # fmt: skip
            places = known_headers.place([str(v) for v in values])
            known = [p for p in places if p is not None and p != IGNORE]
            if ev.EMAIL in known and len(known) >= 3:
                return int(row)
        return None
    for row, values in zip(sheet.index[:20], sheet.head(20).itertuples(index=False), strict=False):
        if any(known_headers.place([str(v)]) == [ev.EMAIL] for v in values):
            return int(row)
    return None


def _column_order(targets: Iterable[str]) -> list[str]:
    """type, email, date first; then fields; then details paths; then the details JSON."""

    def rank(target: str) -> tuple[int, str]:
        if target in ev.CORE_COLUMNS:
            return (0, str(ev.CORE_COLUMNS.index(target)))
        if ev.is_fields_column(target):
            return (1, "")
        if ev.is_details_column(target):
            return (2, "")
        return (3, "")

    return sorted(targets, key=rank)
