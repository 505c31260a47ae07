import pandas as pd
import pytest

from bento_ui import ColumnMapping, MappingError, apply_mapping, suggest_mapping
from bento_ui.mapping import check_mapping, snake_case


def sheet(**columns: list[str]) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    return pd.DataFrame(columns, index=pd.RangeIndex(2, n + 2, name="row"), dtype="str")


@pytest.mark.parametrize(
    ("header", "target"),
    [
        ("Email Address", "email"),
        ("E-mail", "email"),
        ("email_address", "email"),
        ("EMAIL", "email"),
        ("Event", "type"),
        ("Event Name", "type"),
        ("Date", "date"),
        ("Timestamp", "date"),
        ("Created At", "date"),
        ("First Name", "fields.first_name"),
        ("fields.plan", "fields.plan"),
        ("details.value.amount", "details.value.amount"),
        ("details", "details"),
    ],
)
def test_common_headers_are_recognised(header: str, target: str) -> None:
    assert suggest_mapping([header]).columns == {header: target}


def test_only_the_first_email_column_is_the_email() -> None:
    mapping = suggest_mapping(["Email", "Work Email", "E-mail"])
    assert mapping.columns == {
        "Email": "email",
        "Work Email": "fields.work_email",
        "E-mail": "fields.e_mail",
    }


def test_unrecognised_columns_can_go_to_details_or_be_ignored() -> None:
    assert suggest_mapping(["Plan"], others="details").columns == {"Plan": "details.plan"}
    assert suggest_mapping(["Plan"], others="ignore").columns == {"Plan": "ignore"}


def test_snake_case_names_never_collide() -> None:
    mapping = suggest_mapping(["First Name", "first_name", "FirstName"])
    assert list(mapping.columns.values()) == [
        "fields.first_name",
        "fields.first_name_2",
        "fields.first_name_3",
    ]
    assert snake_case("Order #") == "order"
    assert snake_case("???") == "column"


def test_apply_mapping_keeps_row_numbers_and_fills_the_default_type() -> None:
    s = sheet(
        **{
            "Email": ["a@x.com", "", "b@x.com"],
            "Event": ["signup", "", ""],
            "Plan": ["pro", "", "free"],
        }
    )
    table = apply_mapping(s, suggest_mapping(s.columns, default_type="webinar_attended"))
    assert list(table.index) == [2, 3, 4]
    assert list(table.columns) == ["type", "email", "date", "fields.plan"]
    # A type in the sheet wins; an empty row stays empty so validation can skip it.
    assert list(table["type"]) == ["signup", "", "webinar_attended"]


def test_ignored_columns_are_left_out() -> None:
    s = sheet(Email=["a@x.com"], Secret=["internal"])
    table = apply_mapping(s, {"Email": "email", "Secret": "ignore"}, default_type="t")
    assert "Secret" not in table.columns
    assert "internal" not in table.to_numpy().ravel().tolist()


def test_mapping_without_email_or_type_says_what_to_choose() -> None:
    s = sheet(Name=["Jane"])
    with pytest.raises(MappingError, match="No column goes to email"):
        apply_mapping(s, {"Name": "fields.name"}, default_type="t")
    with pytest.raises(MappingError, match="give one type for all rows"):
        apply_mapping(sheet(Email=["a@x.com"]), {"Email": "email"})


def test_mapping_problems_are_listed_in_plain_words() -> None:
    headers = ["Email", "Mail", "Amount", "Value", "Nested"]
    mapping = ColumnMapping(
        columns={
            "Email": "email",
            "Mail": "email",
            "Amount": "details.value.amount",
            "Value": "details.value",
            "Nested": "fields.a.b",
            "Missing": "fields.x",
        },
        default_type="t",
    )
    text = " ".join(check_mapping(headers, mapping))
    assert "'Email', 'Mail' all go to email" in text
    assert "details.value and details.value.amount cannot both be filled" in text
    assert "fields are flat" in text
    assert "Missing" in text


def test_mapping_round_trips_through_json() -> None:
    mapping = suggest_mapping(["Email", "Plan"], default_type="signup")
    assert ColumnMapping.from_json(mapping.to_json()) == mapping


@pytest.mark.parametrize(
    ("header", "target"),
    [
        ("Order ID", "details.unique.key"),
        ("Amount", "details.value.amount"),
        ("Currency", "details.value.currency"),
        ("Tag", "details.tag"),
        ("Details", "details"),
    ],
)
def test_what_bentos_own_kinds_need_is_recognised(header: str, target: str) -> None:
    assert suggest_mapping([header]).columns == {header: target}
