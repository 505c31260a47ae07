"""A validation the Upload page asks the same questions of on every rerun, answered once.

`Validation.error_rows`, `warning_rows`, `valid_rows` and `summary` are computed each
time they are read (a pass over the problems or the valid table: tens of milliseconds at
100k rows), and the page reads them many times per script run, on every click. The page
keeps one `Checked` per validation (in its session memo, keyed by the file, the mapping,
the fixes and the options), so each is computed once; the problems in the person's own
headers as well. A `Checked` is a `Validation`: it goes wherever one goes.

Nothing here changes what a validation says: it is never modified after `validate`
returns it (the page keeps it and shows it; a change of choice makes a new one).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cached_property

import pandas as pd

from bento_ui.mapping import ColumnMapping
from bento_ui.payloads import Event, build_events
from bento_ui.validation import Validation
from ui.logic import person_problems


@dataclass(eq=False)
class Checked(Validation):
    """`validation`'s answers, remembered; `mapping` names the person's headers."""

    mapping: ColumnMapping | None = None

    @classmethod
    def of(cls, validation: Validation, mapping: ColumnMapping) -> Checked:
        found = {f.name: getattr(validation, f.name) for f in fields(Validation)}
        return cls(**found, mapping=mapping)

    @cached_property
    def error_rows(self) -> list[int]:
        return super().error_rows

    @cached_property
    def warning_rows(self) -> list[int]:
        return super().warning_rows

    @cached_property
    def valid_rows(self) -> int:
        return super().valid_rows

    @cached_property
    def summary(self) -> dict[str, int]:
        return super().summary

    @cached_property
    def person_problems(self) -> pd.DataFrame:
        """The problems in the person's headers, with a `kind` (see `person_problems`)."""
        if self.mapping is None:
            raise ValueError("Checked.of(validation, mapping) names the headers")
        return person_problems(self.problems, self.mapping)

    def first_events(self, n: int) -> list[Event]:
        """The events of the first `n` valid rows, as the send builds them (the page's
        preview), built once per `n`."""
        built: dict[int, list[Event]] = self.__dict__.setdefault("_first_events", {})
        if n not in built:
            built[n] = build_events(self.valid.iloc[:n])
        return built[n]
