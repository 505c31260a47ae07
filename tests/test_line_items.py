"""Orders written one line item a row (Shopify): the rows that continue an order are
folded into its cart, never an error each, never lost; whole or chunk by chunk."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bento_ui import apply_mapping, build_events, read_table, suggest_mapping, validate
from bento_ui.mapping import folded_rows
from bento_ui.pipeline import prepare_in_chunks
from ui.logic import ready_rows_file, rows_to_fix_file

SHOPIFY = Path(__file__).parent / "data" / "exports" / "shopify_orders.csv"


def orders(sheet: pd.DataFrame, **overrides: str) -> list[dict]:  # type: ignore[type-arg]
    mapping = suggest_mapping(sheet.columns)
    mapping.columns.update(overrides)
    result = validate(apply_mapping(sheet, mapping), amounts="major")
    assert result.problems.empty, result.problems
    return build_events(result.valid)


def test_each_order_is_one_purchase_with_every_line_item_in_its_cart() -> None:
    sheet = read_table(SHOPIFY)
    events = orders(sheet)
    assert [e["details"]["unique"]["key"] for e in events] == ["#1001", "#1002", "#1003"]
    assert [e["details"]["value"]["amount"] for e in events] == [3719, 5300, 6100]
    carts = [[(i["product_name"], i["quantity"], i["product_sku"])
              for i in e["details"]["cart"]["items"]] for e in events]  # fmt: skip
    assert carts == [
        [("Classic Tee - Black / M", 1, "TEE-BLK-M")],
        [("Hoodie - Grey / L", 1, "HOOD-GRY-L"), ("Sticker pack", 2, "STK-01")],
        [("Canvas Tote", 1, "TOTE-01"), ("Classic Tee - White / S", 1, "TEE-WHT-S"),
         ("Sticker pack", 2, "STK-01")],
    ]  # fmt: skip
    # Each order keeps its first row's number; the rows folded into it are listed.
    table = apply_mapping(sheet, suggest_mapping(sheet.columns))
    assert list(validate(table, amounts="major").valid.index) == [2, 3, 5]
    assert folded_rows(table) == {4: 3, 6: 5, 7: 5}


def test_without_cart_columns_the_line_item_rows_are_left_out_not_errors() -> None:
    sheet = read_table(SHOPIFY)
    ignored = {h: "ignore" for h in sheet.columns if h.startswith("Lineitem")}
    events = orders(sheet, **ignored)
    assert len(events) == 3 and all("cart" not in e["details"] for e in events)


@pytest.mark.parametrize(
    ("second", "events"),
    [
        ("#1,a@example.com,5.00,Mug", 2),  # an amount of its own: an order of its own
        ("#1,b@example.com,,Mug", 2),  # another person: not a line item of this order
        ("#1,a@example.com,,Mug", 1),  # Shopify's line item: folded
        (",,,Mug", 2),  # no order number: a row of its own (an error, not hidden)
    ],
)  # fmt: skip
def test_only_a_row_that_repeats_the_order_with_nothing_of_its_own_is_folded(
    second: str, events: int
) -> None:
    sheet = read_table(("Name,Email,Total,Lineitem name,Currency,Financial Status\n"
                        f"#1,a@example.com,9.00,Tee,USD,paid\n{second},,\n").encode())
    mapping = suggest_mapping(sheet.columns)
    table = apply_mapping(sheet, mapping)
    assert len(table) == events
    assert validate(table, amounts="major").rows == events


def test_an_orders_own_details_json_keeps_its_numbers_as_written() -> None:
    # Before, folding the cart into the details JSON rewrote 1.5e3 as 1500.0.
    sheet = read_table(
        b"Name,Email,Total,Currency,Lineitem name,Details\n"
        b'#1,a@example.com,9.00,USD,Tee,"{""score"": 1.5e3}"\n'
        b"#1,a@example.com,,,Mug,\n"
    )
    [event] = orders(sheet, Details="details")
    assert repr(event["details"]["score"]) == "1.5e3"
    assert [i["product_name"] for i in event["details"]["cart"]["items"]] == ["Tee", "Mug"]


def test_an_order_cut_by_a_chunk_boundary_is_folded_whole(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_bytes(SHOPIFY.read_bytes())
    mapping = suggest_mapping(read_table(path).columns)
    whole = [e for c in prepare_in_chunks(path, mapping, amounts="major").chunks()
             for e in c.events]  # fmt: skip
    # Chunks of 2 rows cut order #1003 (rows 5, 6, 7) in two.
    prepared = prepare_in_chunks(path, mapping, chunk_rows=2, amounts="major")
    assert prepared.problems.empty and prepared.folded == {4: 3, 6: 5, 7: 5}
    assert [e for c in prepared.chunks() for e in c.events] == whole == orders(read_table(path))


def test_the_downloads_keep_an_orders_line_item_rows_with_it() -> None:
    sheet = read_table(SHOPIFY)
    sheet.loc[5, "Currency"] = "EURO"  # order #1003 cannot be sent
    mapping = suggest_mapping(sheet.columns)
    result = validate(apply_mapping(sheet, mapping), amounts="major")
    folded = folded_rows(apply_mapping(sheet, mapping))
    assert list(ready_rows_file(sheet, result, folded).index) == [2, 3, 4]
    problems = result.problems.assign(kind="")
    to_fix = rows_to_fix_file(sheet, problems, folded)
    assert list(to_fix.index) == [5, 6, 7]
    assert to_fix["problems"].tolist()[1:] == ["", ""]


def test_the_notebook_says_which_rows_it_folded() -> None:
    from bento_ui.notebook.state import ComposerState

    state = ComposerState()
    state.load(SHOPIFY)
    assert state.validation is not None and state.validation.problems.empty
    assert state.folded_note.startswith("3 rows continue the order above them")
