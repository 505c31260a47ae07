"""The CLI's mapping options: --header-row, --rest, and errors that name the option to give."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from bento_ui.cli import main

DATA = Path(__file__).parent / "data"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_a_missing_type_names_the_type_and_map_options() -> None:
    code, _, err = run("validate", str(DATA / "exports" / "hubspot_contacts.csv"))
    assert code == 2
    assert "--type NAME" in err and "--map HEADER=type" in err


def test_the_header_row_can_be_chosen_and_row_numbers_stay_the_files(tmp_path: Path) -> None:
    bad = DATA / "bad" / "header_not_first_row.csv"
    code, _, err = run("validate", str(bad))
    assert code == 2 and "--header-row 3" in err
    problems = tmp_path / "problems.csv"
    source = tmp_path / "late.csv"
    source.write_text(bad.read_text(encoding="utf-8") + "nobody@,signup,Bo\n", encoding="utf-8")
    code, out, err = run("validate", str(source), "--header-row", "3", "--problems",
                         str(problems))
    assert "Email -> email, Event -> type" in out
    assert "2 rows: 1 valid, 1 with errors" in out
    assert problems.read_text(encoding="utf-8").splitlines()[1].startswith("5,")


def test_a_header_row_past_the_end_says_which_rows_can_be_chosen() -> None:
    code, _, err = run("validate", str(DATA / "bad" / "header_not_first_row.xlsx"),
                       "--header-row", "9")
    assert code == 2 and "choose a header row from 1 to 3" in err


def test_the_rest_is_kept_as_fields_or_ignored() -> None:
    path = str(DATA / "exports" / "hubspot_contacts.csv")
    _, out, _ = run("validate", path, "--type", "contact_imported")
    assert "Company Name -> fields.company_name" in out
    assert "Not recognised: Phone Number, Contact owner" in out
    _, out, _ = run("validate", path, "--type", "contact_imported", "--rest", "ignore",
                    "--map", "Company Name=fields.company")
    assert "Company Name -> fields.company" in out and "Lead Status -> ignore" in out
    assert "Not recognised: Phone Number, Contact owner, Lead Status" in out
    assert "Company Name," not in out.split("Not recognised:")[1]


def test_a_shopify_orders_line_item_rows_are_folded_into_their_orders() -> None:
    code, out, _ = run("validate", str(DATA / "exports" / "shopify_orders.csv"),
                       "--amounts", "major")
    assert code == 0
    assert ("3 rows continue the order above them (same 'Name', no 'Total'): their line "
            "items are in that order's cart") in out
    assert "Rows 4, 6, 7." in out
    assert "3 orders in 6 rows: 3 valid, 0 with errors" in out
