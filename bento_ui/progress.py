"""A one-line progress bar for terminals; nothing at all when output is not a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from bento_ui.terminal import raw_stream


class ProgressBar:
    def __init__(self, total: int, *, unit: str = "events", stream: TextIO | None = None) -> None:
        self.total = max(total, 1)
        self.unit = unit
        # The bar redraws its line with \r: it writes past the CLI's escaping stream.
        self.stream = raw_stream(stream or sys.stderr)
        self.enabled = self.stream.isatty()
        self.started = time.monotonic()
        self.done = 0

    def update(self, done: int) -> None:
        self.done = done
        if not self.enabled:
            return
        width = 30
        filled = int(width * done / self.total)
        rate = done / max(time.monotonic() - self.started, 1e-9)
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {done / self.total:4.0%} "
            f"{done:,}/{self.total:,} {self.unit}  {rate:,.0f}/s"
        )
        self.stream.flush()

    def clear(self) -> None:
        """Wipe the bar so a normal line can be printed; `update` draws it again."""
        if self.enabled:
            self.stream.write("\r\033[K")
            self.stream.flush()
