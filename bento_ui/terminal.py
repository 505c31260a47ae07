"""Text for a terminal that a file or Bento cannot turn into terminal commands.

A cell holding `\\x1b]0;owned\\x07` retitles the terminal, `\\x1b[2K` wipes the line and a
bare `\\r` writes over what was printed before it. The CLI prints cells, problems and
Bento's answers, so `bento_ui.cli.main` puts `EscapingStream` around stdout and stderr:
every control character but the line break and the tab is shown as `\\xNN`. The progress
bar, which redraws its line with `\\r` on purpose, writes to the stream underneath
(`raw`).
"""

from __future__ import annotations

import io
import re
from typing import Any, TextIO

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def escape_controls(text: str) -> str:
    """`text` with every C0 and C1 control character but `\\n` and `\\t` as `\\xNN`."""
    return _CONTROL.sub(lambda found: f"\\x{ord(found.group()):02x}", text)


class EscapingStream(io.TextIOBase):
    """A text stream that writes to `raw` with control characters escaped, and with
    characters the terminal's encoding lacks written as `\\uNNNN` instead of failing."""

    def __init__(self, raw: TextIO) -> None:
        super().__init__()
        self.raw = raw

    def write(self, text: str) -> int:
        safe = escape_controls(text)
        try:
            self.raw.write(safe)
        except UnicodeEncodeError:
            encoding = getattr(self.raw, "encoding", None) or "ascii"
            self.raw.write(safe.encode(encoding, "backslashreplace").decode(encoding))
        return len(text)

    def flush(self) -> None:
        self.raw.flush()

    def isatty(self) -> bool:
        return self.raw.isatty()

    def fileno(self) -> int:
        return self.raw.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self.raw, "encoding", None) or "utf-8")

    def writable(self) -> bool:
        return True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


def raw_stream(stream: TextIO) -> TextIO:
    """The stream underneath an EscapingStream, or `stream` itself."""
    return stream.raw if isinstance(stream, EscapingStream) else stream
