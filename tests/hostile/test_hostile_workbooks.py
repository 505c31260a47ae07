"""Workbooks that claim far more than they hold end in a message and exit 2, and never
take the process down with them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import hostile_files as make
import pytest

from bento_ui import ReadError, list_sheets, read_table
from bento_ui.cli import main

HOSTILE: dict[str, tuple[Callable[[], bytes], str, str]] = {
    "far cell": (make.far_cell_xlsx, "xlsx", "XFD1048576"),
    "huge dimension": (make.huge_dimension_xlsx, "xlsx", "A1:XFD1048576"),
    "shared strings": (make.huge_shared_strings_xlsx, "xlsx", "96,000,000,000"),
    "giant cell": (make.giant_cell_xlsx, "xlsx", "times"),
    "zip bomb": (make.zip_bomb_xlsx, "xlsx", "times"),
    "mimetype bomb": (make.mimetype_bomb_ods, "ods", "times"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_cli_refuses_the_workbook_with_a_message(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build, ext, detail = HOSTILE[case]
    path = tmp_path / f"events.{ext}"
    path.write_bytes(build())
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"Cannot read {path}" in err and detail in err
    assert "Traceback" not in err


@pytest.mark.parametrize("case", list(HOSTILE))
def test_library_raises_read_error(case: str) -> None:
    build, ext, _ = HOSTILE[case]
    with pytest.raises(ReadError):
        read_table(build(), name=f"events.{ext}")


def test_listing_the_sheets_of_a_bomb_is_refused_too() -> None:
    with pytest.raises(ReadError, match="times"):
        list_sheets(make.zip_bomb_xlsx(), name="events.xlsx")


def test_a_reader_crash_is_a_message() -> None:
    """Past the claims (a far cell in a sheet whose dimension says nothing), the reader
    runs out of its memory in its own process; this one goes on."""
    with pytest.raises(ReadError, match="more memory"):
        read_table(make.far_cell_xlsx(), name="events.xlsx")


def test_a_normal_workbook_still_reads() -> None:
    table = read_table(make.xlsx(make.sheet_xml(make.ROWS)), name="events.xlsx")
    assert table.to_dict("records") == [{"email": "jane@example.com", "type": "signup"}]
    assert list(table.index) == [2]
