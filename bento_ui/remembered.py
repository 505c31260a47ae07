"""Mappings remembered across sessions, one JSON file per set of headers.

A file with the same headers, in the same order, maps the same way the next time: where
each column goes, the event type, the time zone, the date order and the money unit. The
files live in the user data folder (`paths.data_home()/mappings`), named by a hash of
the headers, so that nothing from a cell and no header text is in a file name.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bento_ui import paths
from bento_ui.mapping import ColumnMapping

FOLDER = "mappings"


@dataclass(frozen=True)
class Remembered:
    """What was chosen for a set of headers, and when."""

    mapping: ColumnMapping
    timezone: str = "UTC"
    date_order: str | None = None
    amounts: str = "minor"
    saved_at: float = 0.0  # time.time()


def _file(headers: Sequence[str], environ: Mapping[str, str] | None = None) -> Path:
    digest = hashlib.sha256(json.dumps(list(headers)).encode("utf-8")).hexdigest()[:32]
    return paths.data_home(environ) / FOLDER / f"{digest}.json"


def recall(headers: Sequence[str], environ: Mapping[str, str] | None = None) -> Remembered | None:
    """The choices saved for these headers; None when none were (or the file is not
    one this module wrote: it is then left alone and not used)."""
    try:
        data = json.loads(_file(headers, environ).read_text(encoding="utf-8"))
        if data.get("headers") != list(headers):
            return None
        mapping = ColumnMapping.from_json(json.dumps(data["mapping"]))
        return Remembered(mapping=mapping, timezone=str(data.get("timezone") or "UTC"),
                          date_order=data.get("date_order"),
                          amounts=str(data.get("amounts") or "minor"),
                          saved_at=float(data.get("saved_at", 0.0)))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def remember(headers: Sequence[str], choice: Remembered,
             environ: Mapping[str, str] | None = None) -> bool:
    """Save `choice` for these headers (written whole, then moved into place, so a
    reader never sees half a file). False when the folder cannot be written."""
    path = _file(headers, environ)
    data = {
        "headers": list(headers), "mapping": json.loads(choice.mapping.to_json()),
        "timezone": choice.timezone, "date_order": choice.date_order,
        "amounts": choice.amounts, "saved_at": choice.saved_at or time.time(),
    }  # fmt: skip
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
        partial.replace(path)
    except OSError:
        return False
    return True


def forget(headers: Sequence[str], environ: Mapping[str, str] | None = None) -> None:
    """Remove what was saved for these headers (nothing happens when nothing was)."""
    with contextlib.suppress(OSError):
        _file(headers, environ).unlink(missing_ok=True)


def same_choice(a: Remembered, b: Remembered) -> bool:
    """The same choices, whenever they were saved."""
    return (a.mapping.to_json(), a.timezone, a.date_order, a.amounts) == (
        b.mapping.to_json(), b.timezone, b.date_order, b.amounts)  # fmt: skip
