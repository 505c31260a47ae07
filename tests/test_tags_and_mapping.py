"""A tags column becomes one $tag event per tag; a mapping that cannot make the chosen
kind is caught once, at the mapping; repeated headers and very wide files are described."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from bento_ui import apply_mapping, build_events, suggest_mapping, validate
from bento_ui.batching import describe_rows, plan_batches
from bento_ui.cli import main
from bento_ui.emulator import Emulator
from bento_ui.errors import MappingError
from bento_ui.ledger import Ledger
from bento_ui.mapping import check_mapping
from bento_ui.resume import plan_resume
from bento_ui.spreadsheet import REPEATED_HEADERS, read_table
from bento_ui.tags import split_tags


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header, *rows])
    return path


def members() -> pd.DataFrame:
    """A Mailchimp members export: its TAGS cells as Mailchimp, and others, write them."""
    return pd.DataFrame(
        {
            "Email Address": ["ann@example.com", "bob@example.com", "cat@example.com", "dan@"],
            "First Name": ["Ann", "Bob", "Cat", "Dan"],
            "TAGS": ['"Customer","VIP"', "vip, newsletter", "vip;newsletter", "vip"],
        },
        index=pd.Index([2, 3, 4, 5], name="row"),
    )


@pytest.mark.parametrize(
    ("cell", "tags"),
    [
        ('"Customer","VIP"', ["Customer", "VIP"]),
        ("vip, newsletter", ["vip", "newsletter"]),
        ("vip;newsletter", ["vip", "newsletter"]),
        ('"Black Friday, 2024","VIP"', ["Black Friday, 2024", "VIP"]),
        ("vip, , vip", ["vip"]),
        ("  ", []),
    ],
)
def test_a_tags_cell_is_split_as_exports_write_it(cell: str, tags: list[str]) -> None:
    assert split_tags(cell) == tags


def test_mailchimp_tags_become_one_tag_event_per_tag_and_row() -> None:
    mapping = suggest_mapping(members().columns)
    assert mapping.columns["TAGS"] == "tags"
    result = validate(apply_mapping(members(), mapping))
    # Counts and problems speak of source rows: 3 valid rows, row 5's bad email once.
    assert result.summary["valid"] == 3
    assert result.summary["with errors"] == 1
    assert result.problems["row"].tolist() == [5]
    assert result.events == 6
    assert result.events_per_row.to_dict() == {2: 2, 3: 2, 4: 2}
    events = build_events(result.valid)
    assert [(e["email"], e["type"], e["details"]["tag"]) for e in events] == [
        ("ann@example.com", "$tag", "Customer"),
        ("ann@example.com", "$tag", "VIP"),
        ("bob@example.com", "$tag", "vip"),
        ("bob@example.com", "$tag", "newsletter"),
        ("cat@example.com", "$tag", "vip"),
        ("cat@example.com", "$tag", "newsletter"),
    ]
    assert events[0]["fields"] == {"first_name": "Ann"}


def test_a_row_of_another_type_keeps_its_event_and_gains_tag_events() -> None:
    mapping = suggest_mapping(members().columns, default_type="$subscribe")
    result = validate(apply_mapping(members().head(1), mapping))
    assert build_events(result.valid) == [
        {"type": "$subscribe", "email": "ann@example.com", "fields": {"first_name": "Ann"}},
        {"type": "$tag", "email": "ann@example.com", "details": {"tag": "Customer"}},
        {"type": "$tag", "email": "ann@example.com", "details": {"tag": "VIP"}},
    ]


def test_tags_can_be_kept_as_a_field_instead() -> None:
    mapping = suggest_mapping(members().columns, default_type="$subscribe")
    mapping.columns["TAGS"] = "fields.tags"
    result = validate(apply_mapping(members().head(1), mapping))
    assert build_events(result.valid) == [
        {
            "type": "$subscribe",
            "email": "ann@example.com",
            "fields": {"first_name": "Ann", "tags": '"Customer","VIP"'},
        }
    ]


def test_a_tag_row_without_tags_is_one_problem_on_its_source_row() -> None:
    sheet = members().head(2).assign(TAGS=["", "vip"])
    result = validate(apply_mapping(sheet, suggest_mapping(sheet.columns)))
    assert result.problems[["row", "column"]].values.tolist() == [[2, "tags"]]
    assert "needs a tag" in result.problems["message"].iloc[0]


def test_rows_of_several_events_are_named_once_in_batches() -> None:
    result = validate(apply_mapping(members(), suggest_mapping(members().columns)))
    rows = [int(r) for r in result.valid.index]
    assert rows == [2, 2, 3, 3, 4, 4]
    batches = plan_batches(build_events(result.valid), rows, size=3)
    assert [b.row_ranges for b in batches] == ["2-3", "3-4"]
    assert describe_rows([2, 2, 2, 5, 5, 6]) == "2, 5-6"


def test_a_tags_file_is_sent_and_resumed_event_for_event(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    c = emulator.credentials
    for name, value in (("BENTO_API_URL", c.base_url), ("BENTO_SITE_UUID", c.site_uuid),
                        ("BENTO_PUBLISHABLE_KEY", c.publishable_key),
                        ("BENTO_SECRET_KEY", c.secret_key)):  # fmt: skip
        monkeypatch.setenv(name, value)
    sheet = members().head(3)
    path = write_csv(tmp_path / "members.csv", list(sheet.columns), sheet.values.tolist())
    # Batches of 4: the second tag of row 3 opens the second batch, with row 4's two.
    emulator.add_faults([{}, {"status": 400}])  # the second batch is refused
    code = main(["send", str(path), "--batch-size", "4"])
    out = capsys.readouterr().out
    assert "The 3 valid rows make 6 events" in out
    assert code == 1, out
    sent = [e["details"]["tag"] for e in emulator.events()]
    assert sent == ["Customer", "VIP", "vip", "newsletter"]
    with Ledger() as ledger:
        [run] = ledger.runs()
        assert [(b.rows, b.events) for b in run.batches] == [("2-3", 4), ("4", 2)]
        plan = plan_resume(run.id, c, ledger=ledger)
    [left] = plan.batches
    assert left.rows == (4, 4)
    assert [e["details"]["tag"] for e in left.events] == ["vip", "newsletter"]


# --- required inputs at the mapping step -------------------------------------------------


def shop() -> pd.DataFrame:
    return pd.DataFrame(
        {"Email": ["a@example.com", "b@example.com"], "Price": ["32.00", "5.00"]},
        index=pd.Index([2, 3], name="row"),
    )


def test_purchase_for_every_row_without_its_columns_is_one_mapping_message() -> None:
    mapping = suggest_mapping(shop().columns, default_type="$purchase")
    problems = check_mapping(shop().columns, mapping)
    assert problems == [
        "Every row is a $purchase, which needs details.unique.key, details.value.amount, "
        "details.value.currency: map a column to details.unique.key, one to "
        "details.value.amount and one to details.value.currency (or choose a column that "
        "holds the type)."
    ]
    with pytest.raises(MappingError, match=r"map a column to details\.unique\.key"):
        apply_mapping(shop(), mapping)
    mapping.columns["Price"] = "details.value.amount"
    [message] = check_mapping(shop().columns, mapping)
    assert "map a column to details.unique.key and one to details.value.currency" in message


def test_tag_for_every_row_needs_a_tag_column() -> None:
    mapping = suggest_mapping(["Email"], default_type="$tag")
    assert check_mapping(["Email"], mapping) == [
        "Every row is a $tag, which needs details.tag: map a column to details.tag "
        "(or choose a column that holds the type)."
    ]
    with_tags = suggest_mapping(["Email", "Tags"], default_type="$tag")
    assert check_mapping(["Email", "Tags"], with_tags) == []


def test_cli_stops_at_the_mapping_with_one_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_csv(tmp_path / "orders.csv", ["Email", "Total"],
                     [[f"u{i}@example.com", "1.00"] for i in range(50)])  # fmt: skip
    code = main(["validate", str(path), "--type", "$purchase"])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.count("map a column to details.unique.key") == 1
    assert "row " not in captured.out  # no per-row problems


# --- bad input ---------------------------------------------------------------------------


def test_repeated_headers_are_named_and_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_csv(tmp_path / "dupes.csv", ["Email", "Name", "Email", "Name", "Name"],
                     [["a@example.com", "A", "b@example.com", "B", "C"]])  # fmt: skip
    sheet = read_table(path)
    assert sheet.attrs[REPEATED_HEADERS] == {
        "Email": ["Email", "Email (2)"],
        "Name": ["Name", "Name (2)", "Name (3)"],
    }
    main(["validate", str(path), "--type", "signup"])
    out = capsys.readouterr().out
    assert (
        "Some column names repeat: 'Email' 2 times (named 'Email', 'Email (2)'); 'Name' 3 "
        "times (named 'Name', 'Name (2)', 'Name (3)')" in out
    )


def test_a_file_of_thousands_of_columns_prints_a_bounded_columns_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Long headers: the header row is wider than the part of the file the reader samples,
    # which once lost the columns past it.
    long_name = "how did you hear of us " * 3
    header = ["Email", *(f"Survey answer {i}: {long_name}" for i in range(1000))]
    path = write_csv(tmp_path / "wide.csv", header, [["a@example.com", *["x"] * 1000]])
    main(["validate", str(path), "--type", "signup"])
    out = capsys.readouterr().out
    [columns] = [line for line in out.splitlines() if line.startswith("Columns: ")]
    assert len(columns) < 5000  # 20 columns of ~170 characters, and the count
    assert "Email -> email" in columns
    assert "... and 981 more columns (1,001 in all" in columns
