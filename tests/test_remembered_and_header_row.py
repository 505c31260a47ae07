"""Saved mappings in the data folder, and a header row chosen in a workbook."""

from __future__ import annotations

from pathlib import Path

import pytest

from bento_ui import read_table, remembered
from bento_ui.errors import ReadError
from bento_ui.mapping import ColumnMapping

BAD = Path(__file__).parent / "data" / "bad"


def test_a_workbook_reads_from_the_chosen_header_row_with_its_own_row_numbers() -> None:
    sheet = read_table(BAD / "header_not_first_row.xlsx", header_row=3)
    assert list(sheet.columns) == ["Email", "Event", "First Name"]
    assert sheet.index.tolist() == [4]
    with pytest.raises(ReadError, match=r"Row 2 of 'header_not_first_row\.csv' is blank"):
        read_table(BAD / "header_not_first_row.csv", header_row=2)


def test_a_saved_mapping_comes_back_and_a_damaged_file_is_not_used(tmp_path: Path) -> None:
    env = {"BENTO_UI_HOME": str(tmp_path)}
    headers = ["Email", "Plan"]
    choice = remembered.Remembered(
        ColumnMapping({"Email": "email", "Plan": "ignore"}, "signup", unplaced=["Plan"]),
        timezone="Europe/Berlin", date_order="day-first", amounts="major")
    assert remembered.remember(headers, choice, env)
    back = remembered.recall(headers, env)
    assert back is not None and remembered.same_choice(back, choice)
    assert remembered.recall(["Email", "Plan", "Extra"], env) is None  # other headers
    [saved] = (tmp_path / "mappings").glob("*.json")
    assert "Plan" not in saved.name  # no header text in a file name
    saved.write_text("{not json", encoding="utf-8")
    assert remembered.recall(headers, env) is None
    remembered.forget(headers, env)
    assert not saved.exists()


def test_a_run_stored_with_its_header_row_is_read_again_the_same_way() -> None:
    from bento_ui.resume import source_options, validate_source
    from ui.logic import upload_options

    mapping = ColumnMapping({"Email": "email", "Event": "type", "First Name": "fields.name"})
    data = (BAD / "header_not_first_row.csv").read_bytes()
    options = upload_options(mapping, sheet=None, timezone="UTC", date_order=None, header_row=3)
    assert validate_source(data, "header_not_first_row.csv", options).valid.index.tolist() == [4]
    cli_like = source_options(mapping, header_row=3)
    assert validate_source(data, "x.csv", cli_like).valid_rows == 1
