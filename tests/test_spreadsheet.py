"""Reading the files people upload: every cell as the text they see, on the row they see.

The workbooks are real files written by openpyxl (XLSX), xlwt (XLS) and pandas' odf
writer (ODS); the CSVs are written byte for byte in each encoding and delimiter.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import re
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
import xlwt  # type: ignore[import-untyped]

from bento_ui.errors import ReadError
from bento_ui.spreadsheet import detect_format, list_sheets, read_table


def rows(frame: pd.DataFrame) -> dict[int, dict[str, str]]:
    """The table as {spreadsheet row: {column: text}}, the way a person would check it."""
    table: dict[int, dict[str, str]] = {}
    for row in frame.index:
        table[int(row)] = {}
        for column in frame.columns:
            value = frame.at[row, column]
            assert isinstance(value, str), (row, column, value)
            table[int(row)][str(column)] = value
    return table


def cells(frame: pd.DataFrame, row: int) -> list[str]:
    return [str(value) for value in frame.loc[row]]


def assert_all_text(frame: pd.DataFrame) -> None:
    assert frame.index.name == "row"
    for column in frame.columns:
        assert all(type(value) is str for value in frame[column]), column
        assert frame[column].str.strip().notna().all()  # string methods work, no NaN


class Upload(io.BytesIO):
    """What Streamlit's file_uploader hands over: a BytesIO with the file's name."""

    def __init__(self, data: bytes, name: str) -> None:
        super().__init__(data)
        self.name = name


# --- CSV and TSV ------------------------------------------------------------------------


def test_csv_cells_stay_exactly_as_typed(tmp_path: Path) -> None:
    path = tmp_path / "attendees.csv"
    path.write_bytes(
        b"Email,Plan,Zip,Customer Id,Phone,Note\n"
        b"jane@example.com,NA,007,12345678901234567890,+44 20 7946 0000,null\n"
        b"joe@example.com,,N/A,00042,,\n"
    )
    frame = read_table(path)
    assert_all_text(frame)
    assert rows(frame) == {
        2: {
            "Email": "jane@example.com",
            "Plan": "NA",
            "Zip": "007",
            "Customer Id": "12345678901234567890",
            "Phone": "+44 20 7946 0000",
            "Note": "null",
        },
        3: {
            "Email": "joe@example.com",
            "Plan": "",
            "Zip": "N/A",
            "Customer Id": "00042",
            "Phone": "",
            "Note": "",
        },
    }


@pytest.mark.parametrize(
    ("encoding", "prefix"),
    [
        ("utf-8", b""),
        ("utf-8-sig", b""),
        ("utf-16", b""),  # Python writes the BOM
        ("utf-16-le", b""),  # no BOM: recognised by the NUL bytes between letters
        ("cp1252", b""),  # Excel's "CSV (Comma delimited)" on Windows
    ],
)
def test_csv_encodings(tmp_path: Path, encoding: str, prefix: bytes) -> None:
    text = "Email,Name,Price\r\nzoe@example.com,Zoë Brontë,€5\r\n"
    path = tmp_path / "people.csv"
    path.write_bytes(prefix + text.encode(encoding))
    frame = read_table(path)
    assert list(frame.columns) == ["Email", "Name", "Price"]
    assert rows(frame) == {2: {"Email": "zoe@example.com", "Name": "Zoë Brontë", "Price": "€5"}}


def test_cp1252_undefined_byte_falls_back_to_latin1() -> None:
    frame = read_table(b"Email,Code\r\na@example.com,X\x81\xe9\r\n", name="legacy.csv")
    assert rows(frame) == {2: {"Email": "a@example.com", "Code": "X\x81é"}}


def test_cp1252_byte_far_into_a_utf8_looking_file() -> None:
    lines = [b"Email,Name"] + [b"user%d@example.com,Plain" % i for i in range(5000)]
    lines.append(b"last@example.com,Ren\xe9e")  # cp1252 e-acute after 64 KB of ASCII
    frame = read_table(b"\n".join(lines) + b"\n", name="big.csv")
    assert len(frame) == 5001
    assert frame.loc[5002].to_dict() == {"Email": "last@example.com", "Name": "Renée"}


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_is_detected(delimiter: str) -> None:
    body = delimiter.join(["Email", "Event", "Amount"]) + "\n"
    body += delimiter.join(["jane@example.com", "signup", "1.50"]) + "\n"
    body += delimiter.join(["joe@example.com", '"paid, twice; oops"', "2"]) + "\n"
    frame = read_table(body.encode(), name="export.csv")
    assert list(frame.columns) == ["Email", "Event", "Amount"]
    assert frame.loc[3, "Event"] == "paid, twice; oops"


def test_semicolon_csv_with_decimal_commas() -> None:
    data = b"Email;Amount;Note\njane@example.com;1,50;a\njoe@example.com;12,00;b\n"
    frame = read_table(data, name="europe.csv")
    assert rows(frame)[2] == {"Email": "jane@example.com", "Amount": "1,50", "Note": "a"}


def test_tsv_extension_means_tab_even_with_commas() -> None:
    data = b"Name\tCity\nSmith, Jane\tLondon, UK\n"
    assert detect_format(data, "list.tsv") == "tsv"
    frame = read_table(data, name="list.tsv")
    assert rows(frame) == {2: {"Name": "Smith, Jane", "City": "London, UK"}}


def test_excel_sep_hint_line() -> None:
    frame = read_table(b"sep=;\nEmail;Event\njane@example.com;signup\n", name="excel.csv")
    assert rows(frame) == {2: {"Email": "jane@example.com", "Event": "signup"}}


def test_quoted_fields_with_newlines_quotes_and_delimiters() -> None:
    data = (
        b"Email,Note,Tag\r\n"
        b'jane@example.com,"line one\r\nline two, with comma",vip\r\n'
        b'joe@example.com,"He said ""hi""",\r\n'
    )
    frame = read_table(data, name="notes.csv")
    assert rows(frame) == {
        2: {"Email": "jane@example.com", "Note": "line one\r\nline two, with comma", "Tag": "vip"},
        3: {"Email": "joe@example.com", "Note": 'He said "hi"', "Tag": ""},
    }


def test_a_big_quoted_csv_keeps_every_row_and_line_break_in_place() -> None:
    """A quoted file is parsed as one block (see `_block_size`): 40,000 rows (4 MB, more
    than pyarrow's default block), with line breaks inside cells, keep their numbers."""
    lines = [b"Email,Note"]
    for i in range(40_000):
        pad = "x" * 60
        note = f'"row {i}\nsecond line, ""quoted""{pad}"' if i % 7 == 0 else f"plain {i}{pad}"
        lines.append(f"user{i}@example.com,{note}".encode())
    frame = read_table(b"\r\n".join(lines) + b"\r\n", name="big.csv")
    assert len(frame) == 40_000
    assert list(frame.index[[0, -1]]) == [2, 40_001]
    assert frame.loc[2, "Note"] == 'row 0\nsecond line, "quoted"' + "x" * 60
    assert frame.loc[40_001, "Email"] == "user39999@example.com"
    assert frame.loc[40_001, "Note"] == "plain 39999" + "x" * 60


def test_a_line_break_in_a_cell_where_pyarrow_splits_the_file_is_read_in_place() -> None:
    """pyarrow's parallel reading splits a file at the last line break before each 1 MiB;
    when that break is inside a quoted cell, it gives as many rows with the cells
    shifted, and no error. A quoted file is read minding the quotes (`_block_size`)."""
    lines = [b"Email,Note,Tag"]
    size = len(lines[0]) + 1
    while size < (1 << 20) - 200:
        lines.append(b"user%d@example.com,plain note,vip" % len(lines))
        size += len(lines[-1]) + 1
    head = b'cut@example.com,"'
    note = b"x" * ((1 << 20) - size - len(head) - 11) + b"\nsecond, half"
    lines.append(head + note + b'",vip')
    assert size + len(head) + note.index(b"\n") < 1 << 20 < size + len(lines[-1])
    lines += [b"after%d@example.com,plain,vip" % i for i in range(1000)]
    frame = read_table(b"\n".join(lines) + b"\n", name="cut.csv")
    cut = len(lines) - 1000
    assert len(frame) == len(lines) - 1
    assert frame.loc[cut, "Email"] == "cut@example.com"
    assert frame.loc[cut, "Note"] == note.decode()
    assert frame.loc[cut - 1, "Note"] == "plain note"
    assert frame.loc[cut + 1].to_dict() == {
        "Email": "after0@example.com",
        "Note": "plain",
        "Tag": "vip",
    }


@pytest.mark.parametrize(
    ("newline", "breaks_in_cells"), [("\n", False), ("\r\n", False), ("\n", True), ("\r\n", True)]
)
def test_a_quoted_export_reads_as_pythons_csv_reader_reads_it(
    newline: str, breaks_in_cells: bool
) -> None:
    """3 MB of rows as Excel writes them (quotes doubled, line breaks inside quotes or
    none): every cell as the csv module reads it."""
    pick = random.Random(11)
    values = ["plain", "", "with, comma", 'say "hi"', "Zoë ✓", "  spaced  ", '""']
    if breaks_in_cells:
        values += ["two\nlines", "a\r\nb, c", "\n", 'end"\n']
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=newline)
    writer.writerow(["Email", "Note", "Tag"])
    for i in range(60_000):
        writer.writerow([f"user{i}@example.com", pick.choice(values), pick.choice(values) * 3])
    text = out.getvalue()
    assert len(text) > 3_000_000  # three of pyarrow's default blocks
    expected = list(csv.reader(io.StringIO(text, newline="")))
    frame = read_table(text.encode(), name="export.csv")
    assert list(frame.columns) == expected[0]
    assert list(frame.index) == list(range(2, len(expected) + 1))
    assert frame.to_numpy().tolist() == expected[1:]


def test_excel_unicode_text_export() -> None:
    # Excel's "Unicode Text (*.txt)": UTF-16 with a BOM, tab-separated, CRLF.
    data = "Email\tName\r\nzoe@example.com\tZoë\r\n".encode("utf-16")
    assert rows(read_table(data, name="export.txt")) == {
        2: {"Email": "zoe@example.com", "Name": "Zoë"}
    }


def test_multiline_value_in_the_last_row() -> None:
    frame = read_table(b'Email,Note\na@example.com,"first\nsecond"\n', name="notes.csv")
    assert rows(frame) == {2: {"Email": "a@example.com", "Note": "first\nsecond"}}


def test_old_mac_line_endings() -> None:
    frame = read_table(b"Email,Note\ra@example.com,x\r\rb@example.com,y\r", name="mac.csv")
    assert list(frame.index) == [2, 3, 4]
    assert frame.loc[4, "Email"] == "b@example.com"


def test_row_numbers_count_blank_rows_above_header_and_keep_blank_rows_inside() -> None:
    data = b"\n,,\nEmail,Event,Amount\na@example.com,signup,1\n,,\n\nb@example.com,signup,2\n\n\n"
    frame = read_table(data, name="gaps.csv")
    assert list(frame.index) == [4, 5, 6, 7]  # header on row 3; trailing blank lines dropped
    assert frame.loc[4, "Email"] == "a@example.com"
    assert cells(frame, 5) == ["", "", ""]
    assert cells(frame, 6) == ["", "", ""]
    assert frame.loc[7, "Email"] == "b@example.com"


def test_ragged_rows_are_padded_and_extra_cells_kept() -> None:
    data = b"Email,Event,Amount\na@example.com,signup\nb@example.com,buy,3,gift,extra\n"
    frame = read_table(data, name="ragged.csv")
    assert list(frame.columns) == ["Email", "Event", "Amount", "Column D", "Column E"]
    assert rows(frame) == {
        2: {
            "Email": "a@example.com",
            "Event": "signup",
            "Amount": "",
            "Column D": "",
            "Column E": "",
        },
        3: {
            "Email": "b@example.com",
            "Event": "buy",
            "Amount": "3",
            "Column D": "gift",
            "Column E": "extra",
        },
    }


def test_header_names_blank_duplicate_dotted_and_padded() -> None:
    data = b" Email ,,Email,details.value.amount,Email (2),Email,\nq@x.io,1,r@x.io,500,s,t,\n"
    frame = read_table(data, name="headers.csv")
    # The last column has neither a header nor a value, so it is not kept.
    assert list(frame.columns) == [
        "Email",
        "Column B",
        "Email (3)",
        "details.value.amount",
        "Email (2)",
        "Email (4)",
    ]
    assert cells(frame, 2) == ["q@x.io", "1", "r@x.io", "500", "s", "t"]


def test_header_only_csv_is_an_empty_table_with_its_columns() -> None:
    frame = read_table(b"Email,Event\r\n", name="template.csv")
    assert list(frame.columns) == ["Email", "Event"]
    assert len(frame) == 0
    assert frame.index.name == "row"


def test_single_column_csv_keeps_blank_rows() -> None:
    frame = read_table(b"Email\na@example.com\n\nb@example.com\n", name="emails.csv")
    assert rows(frame) == {
        2: {"Email": "a@example.com"},
        3: {"Email": ""},
        4: {"Email": "b@example.com"},
    }


def test_large_csv_row_numbers(tmp_path: Path) -> None:
    path = tmp_path / "many.csv"
    body = "".join(f"user{i}@example.com,{i:06d}\n" for i in range(20_000))
    path.write_text("Email,Code\n" + body, encoding="utf-8")
    frame = read_table(path)
    assert frame.index[0] == 2 and frame.index[-1] == 20_001
    assert cells(frame, 20_001) == ["user19999@example.com", "019999"]
    assert_all_text(frame)


def test_unclosed_quote_is_reported_not_swallowed() -> None:
    data = b'Email,Note\na@example.com,"fine"\nb@example.com,"oops\nc@example.com,x\n'
    with pytest.raises(ReadError, match=r"never closed, starting in row 3"):
        read_table(data, name="broken.csv")


# --- where the bytes come from ----------------------------------------------------------


def test_sources_path_str_bytes_open_file_and_upload(tmp_path: Path) -> None:
    data = b"Email,Event\njane@example.com,signup\n"
    path = tmp_path / "events.tsv"
    path.write_bytes(data.replace(b",", b"\t"))
    expected = {2: {"Email": "jane@example.com", "Event": "signup"}}
    assert rows(read_table(path)) == expected
    assert rows(read_table(str(path))) == expected
    assert rows(read_table(data, name="events.csv")) == expected
    assert rows(read_table(Upload(data, "events.csv"))) == expected
    assert rows(read_table(io.BytesIO(data), name="events.csv")) == expected
    with path.open("rb") as file:
        assert rows(read_table(file)) == expected


def test_missing_path_is_a_read_error(tmp_path: Path) -> None:
    with pytest.raises(ReadError, match=r"Cannot open .*nope.csv"):
        read_table(tmp_path / "nope.csv")


# --- workbooks ----------------------------------------------------------------------------


def _patch_xlsx(path: Path, replacements: dict[str, str]) -> None:
    """Rewrite cells in sheet1's XML, the way Excel stores what openpyxl cannot write:
    the cached value of a formula, an error value, an integer stored with all its digits."""
    with zipfile.ZipFile(path) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    sheet = files["xl/worksheets/sheet1.xml"].decode()
    for pattern, replacement in replacements.items():
        sheet, count = re.subn(pattern, replacement, sheet)
        assert count == 1, pattern
    files["xl/worksheets/sheet1.xml"] = sheet.encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)


@pytest.fixture
def orders_xlsx(tmp_path: Path) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Orders"
    # Two blank rows, then a table starting in column B.
    header = ["Email", "Amount", "Ordered", "Shipped", "Paid", "Zip", "Double", "Id", "Plan"]
    for column, text in enumerate(header, start=2):
        sheet.cell(row=3, column=column, value=text)
    values: list[list[Any]] = [
        [
            "jane@example.com",
            42.0,
            dt.date(2024, 1, 5),
            dt.datetime(2024, 1, 5, 13, 45),
            True,
            "007",
            "=C4*2",
            1e16,
            "NA",
        ],
        [None] * 9,  # a blank row inside the data stays, so row 6 is still row 6
        [
            "joe@example.com",
            0.1,
            dt.datetime(2024, 2, 29),
            None,
            False,
            "01234",
            "=1/0",
            12345,
            None,
        ],
    ]
    for offset, row in enumerate(values):
        for column, value in enumerate(row, start=2):
            sheet.cell(row=4 + offset, column=column, value=value)
    hidden = workbook.create_sheet("Notes")
    hidden["A1"] = "Note"
    hidden["A2"] = "hello"
    path = tmp_path / "orders.xlsx"
    workbook.save(path)
    _patch_xlsx(
        path,
        {
            r'<c r="H4"><f>C4\*2</f><v\s*/></c>': '<c r="H4"><f>C4*2</f><v>84</v></c>',
            r'<c r="H6"><f>1/0</f><v\s*/></c>': '<c r="H6" t="e"><f>1/0</f><v>#DIV/0!</v></c>',
        },
    )
    return path


def test_xlsx_cells_read_as_excel_shows_them(orders_xlsx: Path) -> None:
    frame = read_table(orders_xlsx)
    assert_all_text(frame)
    # Column A is empty and has no header: not kept.
    assert rows(frame) == {
        4: {
            "Email": "jane@example.com",
            "Amount": "42",
            "Ordered": "2024-01-05",
            "Shipped": "2024-01-05T13:45:00",
            "Paid": "TRUE",
            "Zip": "007",
            "Double": "84",
            "Id": "10000000000000000",
            "Plan": "NA",
        },
        5: dict.fromkeys(frame.columns, ""),
        6: {
            "Email": "joe@example.com",
            "Amount": "0.1",
            "Ordered": "2024-02-29",
            "Shipped": "",
            "Paid": "FALSE",
            "Zip": "01234",
            "Double": "#DIV/0!",
            "Id": "12345",
            "Plan": "",
        },
    }


def test_xlsx_long_integer_keeps_every_digit(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["Email", "Customer Id", "Small"])
    sheet.append(["jane@example.com", 1, 0.25])
    path = tmp_path / "ids.xlsx"
    workbook.save(path)
    # Some exporters store all the digits of an integer; a float would round it.
    _patch_xlsx(
        path, {r'<c r="B2" t="n"><v>1</v></c>': '<c r="B2" t="n"><v>12345678901234567</v></c>'}
    )
    assert rows(read_table(path)) == {
        2: {"Email": "jane@example.com", "Customer Id": "12345678901234567", "Small": "0.25"}
    }


def test_xlsx_times_durations_and_fractions(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["Starts", "Length", "Tiny", "Negative", "Stamp"])
    sheet.append(
        [
            dt.time(9, 30),
            dt.timedelta(hours=25, minutes=5),
            0.00001,
            -2.5,
            dt.datetime(2024, 1, 5, 13, 45, 0, 500000),
        ]
    )
    path = tmp_path / "times.xlsx"
    workbook.save(path)
    assert rows(read_table(path)) == {
        2: {
            "Starts": "09:30:00",
            "Length": "25:05:00",
            "Tiny": "0.00001",
            "Negative": "-2.5",
            "Stamp": "2024-01-05T13:45:00.500",
        }
    }


def test_xlsx_column_of_mixed_cells_reads_each_as_shown(tmp_path: Path) -> None:
    # A column is converted a kind at a time (all texts, then all numbers, ...): each
    # cell must still land in its own row, as Excel shows it.
    values: list[Any] = [
        "007", 42.0, dt.datetime(2024, 1, 5, 13, 45), True, None, 0.1, dt.date(2024, 2, 29),
        "NA", -0.0, dt.time(9, 30), 1e-7, False, dt.datetime(2024, 1, 5), 123456789.123, " x ",
    ]  # fmt: skip
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["Value", "Email"])
    for value in values:
        sheet.append([value, "jane@example.com"])
    path = tmp_path / "mixed.xlsx"
    workbook.save(path)
    assert [row["Value"] for row in rows(read_table(path)).values()] == [
        "007", "42", "2024-01-05T13:45:00", "TRUE", "", "0.1", "2024-02-29", "NA", "0",
        "09:30:00", "0.0000001", "FALSE", "2024-01-05", "123456789.123", " x ",
    ]  # fmt: skip


def test_workbook_columns_convert_as_each_cell_would() -> None:
    # The reference is `cell_text`, one cell at a time; the reader converts whole columns.
    import random

    from bento_ui._workbook_child import cell_text, column_texts

    rng = random.Random(11)
    makers = [
        lambda: rng.choice(["", "007", "NA", " x ", "Jörg"]),
        lambda: float(rng.randrange(-(10**6), 10**6)),
        lambda: rng.uniform(-1e6, 1e6),
        lambda: rng.choice([1e-7, 1e22, 1e300, -1e-300, 2.0**62, 2.0**63, -0.0, 0.5]),
        lambda: rng.random() < 0.5,
        lambda: rng.randrange(-(10**20), 10**20),
        lambda: dt.datetime(2024, 1, 1) + dt.timedelta(seconds=rng.randrange(10**8)),
        lambda: dt.datetime(2024, 1, 1, 0, 0, 0, rng.choice([0, 500, 500_000, 999_600])),
        lambda: dt.date(2024, 1, 1) + dt.timedelta(days=rng.randrange(1000)),
        lambda: dt.time(rng.randrange(24), rng.randrange(60)),
        lambda: dt.timedelta(seconds=rng.randrange(-(10**6), 10**6)),
    ]
    for kinds in ([0], [1], [2], [6], [3, 0], list(range(len(makers)))):
        column = [makers[rng.choice(kinds)]() for _ in range(500)]
        texts, _ = column_texts(column)
        assert texts.to_pylist() == [cell_text(value) for value in column], kinds


def test_sheet_by_name_index_and_default(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    first = workbook.active
    assert first is not None
    first.title = "Lookup"
    first.sheet_state = "hidden"
    first.append(["Code"])
    visible = workbook.create_sheet("Attendees")
    visible.append(["Email"])
    visible.append(["jane@example.com"])
    other = workbook.create_sheet("Buyers")
    other.append(["Email", "Amount"])
    other.append(["joe@example.com", 10])
    workbook.active = 1
    path = tmp_path / "book.xlsx"
    workbook.save(path)

    assert list_sheets(path) == ["Lookup", "Attendees", "Buyers"]
    # The hidden sheet is not the default: the first visible one is.
    assert rows(read_table(path)) == {2: {"Email": "jane@example.com"}}
    assert rows(read_table(path, sheet="Buyers")) == {
        2: {"Email": "joe@example.com", "Amount": "10"}
    }
    assert rows(read_table(path, sheet=" buyers ")) == rows(read_table(path, sheet=2))
    assert list(read_table(path, sheet=0).columns) == ["Code"]

    with pytest.raises(ReadError, match=r"no sheet 'Orders'.*'Lookup', 'Attendees', 'Buyers'"):
        read_table(path, sheet="Orders")
    with pytest.raises(ReadError, match=r"no sheet 3 .*'Buyers'"):
        read_table(path, sheet=3)


def test_xls_written_by_xlwt(tmp_path: Path) -> None:
    book = xlwt.Workbook()
    sheet = book.add_sheet("Contacts")
    date_style = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    stamp_style = xlwt.easyxf(num_format_str="YYYY-MM-DD hh:mm")
    for column, text in enumerate(["Email", "Joined", "Last Seen", "Visits", "Score", "Zip"]):
        sheet.write(0, column, text)
    row: list[Any] = [
        "jane@example.com",
        dt.datetime(2024, 1, 5),
        dt.datetime(2024, 1, 5, 13, 45),
        42,
        0.1,
        "007",
    ]
    for column, value in enumerate(row):
        style = {1: date_style, 2: stamp_style}.get(column, xlwt.Style.default_style)
        sheet.write(1, column, value, style)
    path = tmp_path / "contacts.xls"
    book.save(str(path))
    assert detect_format(path.read_bytes(), "contacts.xls") == "xls"
    assert list_sheets(path) == ["Contacts"]
    assert rows(read_table(path)) == {
        2: {
            "Email": "jane@example.com",
            "Joined": "2024-01-05",
            "Last Seen": "2024-01-05T13:45:00",
            "Visits": "42",
            "Score": "0.1",
            "Zip": "007",
        }
    }


def test_ods_written_by_pandas(tmp_path: Path) -> None:
    data = pd.DataFrame(
        {
            "Email": ["jane@example.com", "joe@example.com"],
            "Amount": [42.0, 0.1],
            "When": [dt.datetime(2024, 1, 5), dt.datetime(2024, 1, 5, 13, 45)],
            "Zip": ["007", "NA"],
            "Ok": [True, False],
        }
    )
    path = tmp_path / "list.ods"
    with pd.ExcelWriter(path, engine="odf") as writer:
        data.to_excel(writer, sheet_name="Attendees", index=False)
        data.head(1).to_excel(writer, sheet_name="Second", index=False)
    assert detect_format(path.read_bytes(), None) == "ods"
    assert list_sheets(path) == ["Attendees", "Second"]
    frame = read_table(path)
    assert_all_text(frame)
    assert rows(frame) == {
        2: {
            "Email": "jane@example.com",
            "Amount": "42",
            "When": "2024-01-05",
            "Zip": "007",
            "Ok": "TRUE",
        },
        3: {
            "Email": "joe@example.com",
            "Amount": "0.1",
            "When": "2024-01-05T13:45:00",
            "Zip": "NA",
            "Ok": "FALSE",
        },
    }
    assert len(read_table(path, sheet="Second")) == 1


def test_magic_bytes_win_over_the_extension(orders_xlsx: Path) -> None:
    workbook_bytes = orders_xlsx.read_bytes()
    assert detect_format(workbook_bytes, "orders.csv") == "xlsx"
    assert read_table(Upload(workbook_bytes, "orders.csv")).loc[4, "Amount"] == "42"
    assert list_sheets(workbook_bytes, name="orders.csv") == ["Orders", "Notes"]
    csv_bytes = b"Email,Event\njane@example.com,signup\n"
    assert detect_format(csv_bytes, "orders.xlsx") == "csv"
    assert list_sheets(csv_bytes, name="orders.xlsx") == []
    assert rows(read_table(csv_bytes, name="orders.xlsx")) == {
        2: {"Email": "jane@example.com", "Event": "signup"}
    }


def test_header_only_workbook_is_an_empty_table(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["Email", "Event"])
    path = tmp_path / "template.xlsx"
    workbook.save(path)
    frame = read_table(path)
    assert list(frame.columns) == ["Email", "Event"] and len(frame) == 0


# --- JSON lines ----------------------------------------------------------------------------


def test_jsonl_flattens_fields_and_keeps_other_values_as_json_text() -> None:
    data = (
        b'{"type": "$purchase", "email": "jane@example.com", "fields": {"plan": "pro", '
        b'"seats": 3, "vip": true, "tags": ["a", "b"]}, "details": {"value": {"amount": 1000}}}\n'
        b"\n"
        b'{"email": "joe@example.com", "date": null, "score": 1.5, "id": "007"}\n'
    )
    frame = read_table(data, name="events.jsonl")
    assert_all_text(frame)
    assert list(frame.columns) == [
        "type",
        "email",
        "fields.plan",
        "fields.seats",
        "fields.vip",
        "fields.tags",
        "details",
        "date",
        "score",
        "id",
    ]
    assert rows(frame) == {
        1: {
            "type": "$purchase",
            "email": "jane@example.com",
            "fields.plan": "pro",
            "fields.seats": "3",
            "fields.vip": "true",
            "fields.tags": '["a","b"]',
            "details": '{"value":{"amount":1000}}',
            "date": "",
            "score": "",
            "id": "",
        },
        3: {
            "type": "",
            "email": "joe@example.com",
            "fields.plan": "",
            "fields.seats": "",
            "fields.vip": "",
            "fields.tags": "",
            "details": "",
            "date": "",
            "score": "1.5",
            "id": "007",
        },
    }
    assert list_sheets(data, name="events.ndjson") == []
    assert detect_format(data, "events.ndjson") == "jsonl"


def test_jsonl_bad_line_names_the_line() -> None:
    data = b'{"email": "a@example.com"}\n{"email": "b@example.com"}\n{"email": \n'
    with pytest.raises(ReadError, match=r"Line 3 of 'events.jsonl' is not valid JSON"):
        read_table(data, name="events.jsonl")
    with pytest.raises(ReadError, match=r"Line 2 .* is not a JSON object"):
        read_table(b'{"email": "a@example.com"}\n["b@example.com"]\n', name="events.jsonl")


def test_jsonl_numbers_are_read_as_written_and_one_too_large_is_refused() -> None:
    # Before: 1.5e3 was read as "1500.0", 4999.00 as "4999.0" and 1e400 as "Infinity".
    data = b'{"email": "a@example.com", "amount": 4999.00, "details": {"n": 1.5e3}}\n'
    frame = read_table(data, name="events.jsonl")
    assert rows(frame)[1]["amount"] == "4999.00"
    assert rows(frame)[1]["details"] == '{"n":1.5e3}'
    with pytest.raises(ReadError, match=r"Line 2 .* holds the number 1e400, too large .* quotes"):
        read_table(b'{"email": "a@example.com"}\n{"score": 1e400}\n', name="events.jsonl")


def test_json_array_gets_a_hint() -> None:
    with pytest.raises(ReadError, match=r"JSON array: write one object per line"):
        read_table(b'[\n{"email": "a@example.com"}\n]\n', name="events.json")


# --- files that cannot be read --------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"  \r\n\r\n", b"\xef\xbb\xbf"])
def test_empty_file(data: bytes) -> None:
    with pytest.raises(ReadError) as caught:
        read_table(data, name="empty.csv")
    assert str(caught.value) == (
        "The file is empty: export it again with a header row and at least one event."
    )


def test_only_blank_rows_means_no_header() -> None:
    with pytest.raises(ReadError, match=r"no header row: every row is blank.*first row"):
        read_table(b",,,\n\n;;\n", name="blank.csv")


def test_blank_sheet_means_no_header(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet["C5"] = "   "
    path = tmp_path / "blank.xlsx"
    workbook.save(path)
    with pytest.raises(ReadError, match=r"sheet 'Sheet' in 'blank.xlsx' is empty or has no header"):
        read_table(path)


def test_png_named_csv_is_not_a_spreadsheet() -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
    with pytest.raises(ReadError) as caught:
        read_table(png, name="photo.csv")
    assert str(caught.value) == (
        "'photo.csv' doesn't look like a CSV or spreadsheet: upload a CSV, TSV, XLSX, XLS, ODS "
        "or JSON lines file."
    )


def test_zip_without_a_workbook_says_unzip_it() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("export/attendees.csv", "Email\na@example.com\n")
    with pytest.raises(ReadError, match=r"zip archive, not a spreadsheet.*unzip it"):
        read_table(buffer.getvalue(), name="export.zip")


def test_web_page_saved_as_xls() -> None:
    page = b"<html><body><table><tr><td>Email</td></tr></table></body></html>"
    with pytest.raises(ReadError, match=r"web page .*save it as XLSX or CSV"):
        read_table(page, name="report.xls")


def test_truncated_xlsx_is_damaged(orders_xlsx: Path) -> None:
    cut = orders_xlsx.read_bytes()[:1500]
    with pytest.raises(ReadError) as caught:
        read_table(cut, name="orders.xlsx")
    assert str(caught.value) == (
        "The workbook is damaged or incomplete: open it in Excel and save it again."
    )
    with pytest.raises(ReadError, match=r"damaged or incomplete"):
        list_sheets(cut, name="orders.xlsx")


def test_corrupt_xls_is_damaged() -> None:
    data = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600
    with pytest.raises(ReadError, match=r"damaged or incomplete"):
        read_table(data, name="old.xls")


def test_password_protected_workbook() -> None:
    # Excel saves a workbook with a password as an OLE2 compound file (the same magic as
    # .xls) whose directory holds a stream named "EncryptedPackage" in UTF-16-LE.
    data = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
        + b"\x00" * 504
        + "EncryptedInfo".encode("utf-16-le")
        + b"\x00" * 50
        + "EncryptedPackage".encode("utf-16-le")
        + b"\x00" * 100
    )
    for call in (
        lambda: read_table(data, name="secret.xlsx"),
        lambda: list_sheets(Upload(data, "secret.xlsx")),
    ):
        with pytest.raises(ReadError) as caught:
            call()
        assert str(caught.value) == (
            "'secret.xlsx' is protected with a password: open it, remove the password "
            "(File > Info > Protect Workbook), save and upload again."
        )
