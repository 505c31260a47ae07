"""The Upload page's mapping step: the header row picker, the columns the tool cannot
place and the switch for them, mappings saved across sessions, an editor without an
inner scroll."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest
from test_app_helpers import edit_data_editor, isolated, metrics, open_app, texts, upload

from ui.logic import EDITOR_ROW_PX, editor_height, goes_to_kind

DATA = Path(__file__).parent / "data"
TITLED = (b'"Webinar attendees, exported 2024-01-05"\n\nEmail,Event,First Name\n'
          b"ann@example.com,signup,Ann\nbo@,signup,Bo\n")  # fmt: skip


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from isolated(monkeypatch)


def mapping_frame(at: AppTest) -> pd.DataFrame:
    return next(d.value for d in at.data_editor if "goes to" in d.value.columns)


def export(at: AppTest, name: str) -> AppTest:
    return upload(at, name, (DATA / "exports" / name).read_bytes())


def test_the_header_row_can_be_picked_and_row_numbers_stay_the_files() -> None:
    at = upload(open_app("upload"), "titled.csv", TITLED)
    assert any("Row 3 looks like the column names" in w for w in texts(at.warning))
    picker = at.selectbox(key="upload_header_row")
    assert picker.options[:4] == ["Row 1: Webinar attendees, exported 2024-01-05", "Row 2: ",
                                  "Row 3: Email, Event, First Name",
                                  "Row 4: ann@example.com, signup, Ann"]  # fmt: skip
    first = next(d.value for d in at.dataframe if "A" in d.value.columns)
    assert first.loc[3].tolist() == ["Email", "Event", "First Name"]
    picker.set_value(3).run()
    assert not at.exception and not texts(at.error)
    assert mapping_frame(at)["column"].tolist() == ["Email", "Event", "First Name"]
    assert metrics(at)["Rows"] == "2" and metrics(at)["With errors"] == "1"
    problems = next(d.value for d in at.dataframe if "severity" in d.value.columns)
    assert problems["row"].tolist() == [5]  # the spreadsheet's own row number


def test_a_file_whose_header_is_first_shows_no_picker() -> None:
    at = export(open_app("upload"), "signups_de.csv")
    assert "upload_header_row" not in [s.key for s in at.selectbox]


def test_unplaced_columns_are_marked_and_one_switch_ignores_or_keeps_them() -> None:
    at = export(open_app("upload"), "hubspot_contacts.csv")
    frame = mapping_frame(at)
    marked = frame.loc[frame["note"] == "not recognised", "column"].tolist()
    assert marked == ["Phone Number", "Contact owner", "Lead Status",
                      "Marketing contact status", "Lifecycle Stage", "Company Name"]
    assert set(frame.loc[frame["column"].isin(marked), "goes to"].map(goes_to_kind)) == {"field"}
    at.radio(key="upload_rest").set_value("ignore").run()
    frame = mapping_frame(at)
    assert set(frame.loc[frame["column"].isin(marked), "goes to"].map(goes_to_kind)) == {"ignore"}
    assert frame.set_index("column").loc["Email", "goes to"] == "email ▼"
    assert frame.set_index("column").loc["First Name", "goes to"] == "field ▼"
    at.radio(key="upload_rest").set_value("fields").run()
    again = mapping_frame(at)
    assert set(again.loc[again["column"].isin(marked), "goes to"].map(goes_to_kind)) == {"field"}


def test_the_mapping_editor_is_as_tall_as_its_rows_up_to_30() -> None:
    # AppTest does not expose an element's height: the page asks editor_height for it.
    assert editor_height(30) == 31 * EDITOR_ROW_PX + 3  # 30 rows and the header
    assert editor_height(5) == 6 * EDITOR_ROW_PX + 3
    assert editor_height(400) == editor_height(30)  # more than 30: the editor scrolls
    headers = ["Email", "Event"] + [f"Extra {i}" for i in range(28)]
    data = (",".join(headers) + "\n" + ",".join(["a@example.com", "signup"] + ["x"] * 28)
            + "\n").encode()
    at = upload(open_app("upload"), "wide.csv", data)
    assert len(mapping_frame(at)) == 30


def test_a_mapping_is_remembered_in_the_next_session_and_can_be_forgotten() -> None:
    at = export(open_app("upload"), "signups_de.csv")
    edit_data_editor(at, str(at.session_state["upload_mapping_key"]),
                     {4: {"goes to": "ignore"}})  # Tarif
    at.text_input(key="upload_default_type").set_value("signup").run()
    at.selectbox(key="upload_tz").set_value("Europe/Berlin").run()
    assert not texts(at.error)

    later = export(open_app("upload"), "signups_de.csv")  # a new session
    assert any("Applied the mapping you saved" in i and "Europe/Berlin" in i
               for i in texts(later.info))
    assert mapping_frame(later).set_index("column").loc["Tarif", "goes to"] == "ignore ▼"
    assert later.text_input(key="upload_default_type").value == "signup"
    assert later.selectbox(key="upload_tz").value == "Europe/Berlin"
    later.button(key="upload_forget_saved").click().run()
    assert not any("Applied the mapping you saved" in i for i in texts(later.info))
    assert mapping_frame(later).set_index("column").loc["Tarif", "goes to"] == "field ▼"
    assert later.checkbox(key="upload_remember").value is False

    again = export(open_app("upload"), "signups_de.csv")
    assert not any("Applied the mapping you saved" in i for i in texts(again.info))
    assert mapping_frame(again).set_index("column").loc["Tarif", "goes to"] == "field ▼"


def test_a_shopify_orders_line_item_rows_join_their_orders_not_the_errors() -> None:
    at = export(open_app("upload"), "shopify_orders.csv")
    at.radio(key="upload_amounts").set_value("major").run()
    assert not at.exception and not texts(at.error)
    assert metrics(at)["With errors"] == "0" and metrics(at)["Ready to send"] == "3"
    assert any("3 rows continue the order above them (same 'Name', no 'Total')" in i
               and "Rows 4, 6, 7." in i for i in texts(at.info))
