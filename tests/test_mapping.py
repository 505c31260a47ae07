import pandas as pd
import pytest

from bento_ui import (
    ColumnMapping,
    MappingError,
    apply_mapping,
    build_events,
    read_table,
    suggest_mapping,
    validate,
)
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


WIDE = 1999  # with the email, the widest file read (2,000): column by column took seconds


def wide_csv(rows: list[list[str]]) -> bytes:
    header = ["Email", *(f"Col {i}" for i in range(WIDE))]
    lines = [header, *rows]
    return "\n".join(",".join(cells) for cells in lines).encode()


def test_a_sheet_of_thousands_of_columns_maps_and_validates_every_column() -> None:
    first = ["jane@example.com", *(f"v{i}" for i in range(WIDE))]
    blank = [""] * (WIDE + 1)
    far = ["john@example.com", *(f"w{i}" for i in range(WIDE))]
    far[1 + 1500] = '"[1, 2]"'  # a list in a field, 1,500 columns in
    far[1 + 1998] = " padded "
    sheet_ = read_table(wide_csv([first, blank, far]), name="wide.csv")
    table = apply_mapping(sheet_, suggest_mapping(sheet_.columns, default_type="signup"))
    assert list(table.columns) == [
        "type", "email", "date", *(f"fields.col_{i}" for i in range(WIDE))
    ]  # fmt: skip
    assert list(table["type"]) == ["signup", "", "signup"]  # the blank row stays blank
    assert table.loc[2, "fields.col_1234"] == "v1234"

    result = validate(table)
    assert result.summary == {
        "rows": 3, "valid": 1, "with errors": 1, "with warnings": 1, "empty skipped": 1
    }  # fmt: skip
    assert result.problems[["row", "column", "severity"]].values.tolist() == [
        [4, "fields.col_1500", "error"],
        [4, "fields.col_1998", "warning"],  # " padded " is sent trimmed, as it was checked
    ]
    (event,) = build_events(result.valid)
    assert len(event["fields"]) == WIDE
    assert event["fields"]["col_1998"] == "v1998"


def test_thousands_of_details_columns_are_checked_against_each_other_and_the_json() -> None:
    columns = {f"details.d{i}": [f"x{i}", ""] for i in range(WIDE)}
    columns["details.d7.deeper"] = ["", "y"]  # details.d7 is empty in that row: fine
    columns["details.d9.deeper"] = ["z", ""]  # details.d9 is filled too: an error
    columns["details"] = ['{"d1998": 1}', '{"d5": "x"}']  # row 2 sets d1998 twice
    columns["details.d5.inner"] = ["", "q"]  # the JSON holds a value at d5: two errors
    # Built by hand: a mapping refuses to fill details.d9 and details.d9.deeper at once.
    table = sheet(type=["t", "t"], email=["a@x.com", "b@x.com"], **columns)
    found = validate(table).problems[["row", "column"]].values.tolist()
    assert found == [
        [2, "details.d1998"],
        [2, "details.d9.deeper"],
        [3, "details.d5.inner"],  # set in the JSON too (at d5),
        [3, "details.d5.inner"],  # where it holds a value, not an object
    ]
