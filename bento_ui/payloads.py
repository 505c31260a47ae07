"""Turn valid rows of an event table into the JSON objects Bento expects.

Empty optional keys are left out (the SDKs send null; omitting is cleaner), dotted
`details.` columns become nested objects merged into the `details` JSON column, and a
`$purchase` amount is sent as integer cents. Everything else is sent as the text the
person typed: nothing changes type unless Bento needs it to.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from bento_ui import events as ev

Event = dict[str, Any]


def build_events(valid: pd.DataFrame) -> list[Event]:
    """One Bento event per row of a validated table (see `validate(...).valid`)."""
    columns = list(valid.columns)
    field_cols = [(c, c[len(ev.FIELDS_PREFIX) :]) for c in columns if ev.is_fields_column(c)]
    detail_cols = [(c, c.split(".")[1:]) for c in columns if ev.is_details_column(c)]
    has_json = ev.DETAILS in valid
    has_date = ev.DATE in valid
    position = {c: i for i, c in enumerate(columns)}

    built: list[Event] = []
    for values in valid.itertuples(index=False, name=None):
        event: Event = {"type": values[position[ev.TYPE]], "email": values[position[ev.EMAIL]]}
        fields = {name: values[position[c]] for c, name in field_cols if values[position[c]] != ""}
        if fields:
            event["fields"] = fields
        details: dict[str, Any] = {}
        if has_json and values[position[ev.DETAILS]].strip():
            details = json.loads(values[position[ev.DETAILS]])
        for c, path in detail_cols:
            if values[position[c]] != "":
                _put(details, path, values[position[c]])
        if details:
            if event["type"] == ev.PURCHASE:
                _amount_to_cents(details)
            event["details"] = details
        if has_date and values[position[ev.DATE]]:
            event["date"] = values[position[ev.DATE]]
        built.append(event)
    return built


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
