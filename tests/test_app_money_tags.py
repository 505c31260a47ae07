"""The Upload page: the unit of a money column, a tags column as $tag events, and a
$purchase mapping missing its columns caught at the mapping."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from streamlit.testing.v1 import AppTest
from test_app_helpers import (
    edit_data_editor,
    isolated,
    metrics,
    no_errors_on_screen,
    open_app,
    texts,
    upload,
)

from bento_ui import sandbox
from ui.logic import goes_to_kind

SHOP = (
    b"Email,Order ID,Amount,Currency\n"
    b"ann@example.com,#1001,32.00,USD\n"
    b"bob@example.com,#1002,1500,JPY\n"
    b"cat@example.com,#1003,0.99,gbp\n"
)
MEMBERS = (
    b"Email Address,First Name,TAGS\n"
    b'ann@example.com,Ann,"""Customer"",""VIP"""\n'
    b'bob@example.com,Bob,"vip, newsletter"\n'
)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from isolated(monkeypatch)


def send(at: AppTest) -> AppTest:
    at.checkbox(key="upload_confirm").check().run()
    at.button(key="upload_send").click().run()
    no_errors_on_screen(at)
    return at


def shop() -> AppTest:
    at = upload(open_app("upload"), "orders.csv", SHOP)
    at.text_input(key="upload_default_type").input("$purchase").run()
    return at


def test_decimals_in_the_amount_column_suggest_currency_units_and_say_so() -> None:
    at = shop()
    assert at.radio(key="upload_amounts").value == "major"
    assert any("holds amounts with decimals" in c for c in texts(at.caption))
    assert metrics(at)["Ready to send"] == "3"
    send(at)
    # Before: 32.00 went out as 32 (0.32 USD).
    assert [e["details"]["value"] for e in sandbox().events()] == [
        {"amount": 3200, "currency": "USD"},
        {"amount": 1500, "currency": "JPY"},
        {"amount": 99, "currency": "GBP"},
    ]


def test_choosing_cents_for_decimals_is_an_error_not_a_truncation() -> None:
    at = shop()
    at.radio(key="upload_amounts").set_value("minor").run()
    assert metrics(at)["Ready to send"] == "1"
    assert metrics(at)["With errors"] == "2"


def test_each_file_gets_its_own_amount_unit_suggestion_at_once() -> None:
    # The suggestion is remembered per file and column (not worked out on every click):
    # a file with the same columns but whole amounts is suggested cents, and back.
    at = shop()
    assert at.radio(key="upload_amounts").value == "major"
    whole = SHOP.replace(b"32.00", b"3200").replace(b"0.99", b"99")
    upload(at, "orders-cents.csv", whole)
    assert at.radio(key="upload_amounts").value == "minor"
    assert not any("holds amounts with decimals" in c for c in texts(at.caption))
    assert metrics(at)["Ready to send"] == "3"
    upload(at, "orders.csv", SHOP)
    assert at.radio(key="upload_amounts").value == "major"


def test_a_tags_column_becomes_tag_events_or_stays_a_field() -> None:
    at = upload(open_app("upload"), "members.csv", MEMBERS)
    mapping = next(d.value for d in at.data_editor if "goes to" in d.value.columns)
    assert mapping["goes to"].map(goes_to_kind).tolist() == ["email", "field", "tags"]
    assert metrics(at)["Ready to send"] == "2"
    assert any("make 4 events" in c for c in texts(at.caption))
    send(at)
    assert [(e["type"], e["details"]["tag"]) for e in sandbox().events()] == [
        ("$tag", "Customer"), ("$tag", "VIP"), ("$tag", "vip"), ("$tag", "newsletter"),
    ]  # fmt: skip


def test_tags_kept_as_a_field() -> None:
    at = upload(open_app("upload"), "members.csv", MEMBERS)
    key = str(at.session_state["upload_mapping_key"])
    edit_data_editor(at, key, {2: {"goes to": "field"}})
    at.text_input(key="upload_default_type").input("$subscribe").run()
    assert metrics(at)["Ready to send"] == "2"
    assert not any("events:" in c for c in texts(at.caption))


def test_purchase_for_every_row_without_its_columns_is_one_message_at_the_mapping() -> None:
    at = upload(open_app("upload"), "orders.csv", b"Email,Total\nann@example.com,32.00\n")
    at.text_input(key="upload_default_type").input("$purchase").run()
    [error] = texts(at.error)
    assert "map a column to details.unique.key" in error
    assert not at.metric  # stopped at the mapping: no rows checked, no send button
