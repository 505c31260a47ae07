"""What the CLI prints and writes cannot be turned into terminal commands or formulas."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from bento_ui.cli import main
from bento_ui.progress import ProgressBar
from bento_ui.templates import template_csv

ESCAPES = ["\x1b]0;owned\x07", "\x1b[2K", "\r"]


def hostile_csv(tmp_path: Path) -> Path:
    rows = [f"user{i}@example.com,signup,ok" for i in range(50)]
    rows.append('x\x1b]0;owned\x07@example.com,"sign\x1b[2Kup\r=cmd|calc",ok')
    path = tmp_path / "events.csv"
    header = "email,type,note\x1b]0;owned\x07 \x1b[2K\r"
    path.write_text(header + "\n" + "\n".join(rows) + "\n", newline="")
    return path


def test_cli_shows_control_characters_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(hostile_csv(tmp_path))]) == 1
    out = capsys.readouterr()
    printed = out.out + out.err
    assert "\\x1b]0;owned\\x07" in printed and "\\x1b[2K" in printed
    assert not any(escape in printed for escape in ESCAPES)


def test_problems_file_quotes_a_bare_cr_and_neutralises_formulas(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "problems.csv"
    main(["validate", str(hostile_csv(tmp_path)), "--problems", str(out)])
    with open(out, encoding="utf-8", newline="") as file:
        text = file.read()
    # The CR is inside quotes: a reader that ends rows at a bare CR keeps the cell whole
    # instead of starting a row with `=cmd`.
    assert '"sign\x1b[2Kup\r=cmd|calc"' in text
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert all(len(row) == 5 for row in rows)


def test_the_progress_bar_still_redraws_its_line(capsys: pytest.CaptureFixture[str]) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    from bento_ui.terminal import EscapingStream

    bar = ProgressBar(10, stream=EscapingStream(terminal))  # type: ignore[arg-type]
    bar.update(5)
    assert terminal.getvalue().startswith("\r[")


def test_the_template_goes_through_the_safe_writer() -> None:
    assert next(csv.reader(io.StringIO(template_csv().decode())))[0] == "type"
