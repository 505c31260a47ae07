"""Write the bad-input corpus in this folder: `python tests/data/bad/make_corpus.py`.

Every file is small and made here byte for byte, so how each one is broken is written
down in code. `cases.json` says what the CLI and the app must make of each one (see
README.md); tests/test_bad_input.py checks it. The workbooks are real files: openpyxl
writes them, msoffcrypto-tool encrypts `password.xlsx` the way Excel does (password
"bento"), and formula cells get the cached values Excel would store.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import random
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path

import openpyxl

HERE = Path(__file__).resolve().parent
PASSWORD = "bento"


def write_csv(name: str, rows: list[list[str]]) -> None:
    with (HERE / name).open("w", newline="", encoding="utf-8") as file:
        csv.writer(file, lineterminator="\n").writerows(rows)


def xlsx_bytes(rows: Sequence[Sequence[object]], merge: str | None = None) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Attendees"
    for row in rows:
        sheet.append(row)
    if merge:
        sheet.merge_cells(merge)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def with_cached_values(data: bytes, cached: dict[str, tuple[str, str]]) -> bytes:
    """The workbook with each formula cell's last value, {"D2": ("str", "ANA")}, as Excel
    saves it (openpyxl writes formulas without one)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                xml = content.decode("utf-8")
                for ref, (kind, value) in cached.items():
                    xml, found = re.subn(
                        rf'<c r="{ref}"( [^>]*)?><f>(.*?)</f><v ?/>(?:</v>)?</c>',
                        rf'<c r="{ref}" t="{kind}"><f>\2</f><v>{value}</v></c>',
                        xml,
                    )
                    assert found == 1, ref
                content = xml.encode("utf-8")
            target.writestr(item, content)
    return out.getvalue()


def main() -> None:
    # Nothing at all; a header and nothing under it; a header and blank rows.
    (HERE / "empty.csv").write_bytes(b"")
    (HERE / "header_only.csv").write_bytes(b"Email,Event,First Name\r\n")
    (HERE / "header_blank_rows.csv").write_bytes(b"Email,Event,First Name\r\n,,\r\n , ,\r\n\r\n")

    # Binary files with a .csv name: a gzipped export, and noise.
    export = b"Email,Event\njane@example.com,signup\n"
    (HERE / "binary.csv").write_bytes(gzip.compress(export, mtime=0))
    (HERE / "random_bytes.csv").write_bytes(random.Random(2024).randbytes(2048))

    # A workbook cut off half way (an interrupted download), and one with a password.
    good = xlsx_bytes([["Email", "Event"], ["jane@example.com", "signup"]])
    (HERE / "truncated.xlsx").write_bytes(good[: len(good) // 2])
    from msoffcrypto.format.ooxml import OOXMLFile

    encrypted = io.BytesIO()
    OOXMLFile(io.BytesIO(good)).encrypt(PASSWORD, encrypted)
    (HERE / "password.xlsx").write_bytes(encrypted.getvalue())

    # Two exports pasted together: UTF-8 rows, then Windows-1252 rows.
    (HERE / "mixed_encodings.csv").write_bytes(
        "Email,Event,First Name\n"
        "jose@example.com,signup,José\n"
        "zoe@example.com,signup,Zoë\n".encode()
        + "renee@example.com,signup,Renée\nmuller@example.com,signup,Müller\n".encode("cp1252")
    )

    # Rows with fewer and more cells than the header.
    (HERE / "ragged_rows.csv").write_bytes(
        b"Email,Event,First Name\n"
        b"ann@example.com,signup,Ann\n"
        b"bob@example.com\n"  # row 3: no type, no name
        b"\n"  # row 4: blank, skipped
        b"cy@example.com,signup,Cy,VIP,extra\n"  # row 5: two cells more than the header
        b"signup\n"  # row 6: the type in the email column
    )

    # Formulas (with the values Excel caches) and a merged Event cell over rows 2-4.
    formulas = xlsx_bytes(
        [
            ["Email", "Event", "First Name", "Shout"],
            ['=LOWER("ANA@EXAMPLE.COM")', "webinar_attended", "Ana", "=UPPER(C2)"],
            ["ben@example.com", None, "Ben", "=UPPER(C3)"],
            ["cat@example.com", None, "Cat", "=UPPER(C4)"],
            ["=VLOOKUP(C5,A:A,1,FALSE)", "webinar_attended", "Dan", "=UPPER(C5)"],
        ],
        merge="B2:B4",
    )
    (HERE / "formulas_merged.xlsx").write_bytes(
        with_cached_values(
            formulas,
            {
                "A2": ("str", "ana@example.com"),
                "D2": ("str", "ANA"),
                "D3": ("str", "BEN"),
                "D4": ("str", "CAT"),
                "A5": ("e", "#N/A"),
                "D5": ("str", "DAN"),
            },
        )
    )

    # The same header twice.
    write_csv(
        "duplicate_headers.csv",
        [
            ["Email", "Event", "Email", "Event"],
            ["ann@example.com", "signup", "ann.work@example.com", "webinar"],
        ],
    )

    # A title and a blank row above the column names.
    title = [
        ["Webinar attendees, exported 2024-01-05"],
        [],
        ["Email", "Event", "First Name"],
        ["ann@example.com", "signup", "Ann"],
    ]
    write_csv("header_not_first_row.csv", title)
    (HERE / "header_not_first_row.xlsx").write_bytes(xlsx_bytes(title))

    # Addresses with Unicode names and internationalised domains; the last four are wrong.
    write_csv(
        "unicode_emails.csv",
        [
            ["Email", "Event"],
            ["josé.garcía@exämple.de", "signup"],
            ["用户@例子.广告", "signup"],
            ["user@xn--bcher-kva.example", "signup"],
            ["name@bücher.ch", "signup"],
            ["δοκιμή@παράδειγμα.δοκιμή", "signup"],
            ["zoë+newsletter@sub.example.co.uk", "signup"],
            ["  padded@example.com ", "signup"],
            ["jane@exämple", "signup"],
            ["a..b@example.com", "signup"],
            ["ann@@example.com", "signup"],
            ["ann example@example.com", "signup"],
        ],
    )

    # Dates in every common form, in one column. 26.11.2023 makes the column day-first.
    dates = [
        "2024-01-05",
        "2024-01-05T13:45:00Z",
        "2024-01-05T13:45:00+02:00",
        "2024-01-05 13:45",
        "2024-01-05 13:45 UTC",
        "2024-01-05T13:45:00.123-05:00",
        "45296",
        "45296.5",
        "2024/01/05",
        "5 Jan 2024",
        "January 5, 2024",
        "Fri, 05 Jan 2024 13:45:00 +0100",
        "5 Jan 2024 10:00 +0200",
        "26.11.2023",
        "05.01.2024",
        "",
    ]
    write_csv(
        "dates.csv",
        [["Email", "Event", "Date"]]
        + [[f"user{i}@example.com", "signup", d] for i, d in enumerate(dates)],
    )
    write_csv(
        "dates_ambiguous.csv",
        [
            ["Email", "Event", "Date"],
            ["ann@example.com", "signup", "05/01/2024"],
            ["bob@example.com", "signup", "01/02/2024 13:45"],
            ["cy@example.com", "signup", "12/11/2023 1:05 PM"],
        ],
    )
    (HERE / "dates.xlsx").write_bytes(
        xlsx_bytes(
            [
                ["Email", "Event", "Date"],
                ["ann@example.com", "signup", dt.datetime(2024, 1, 5, 13, 45)],
                ["bob@example.com", "signup", dt.date(2024, 1, 5)],
                ["cy@example.com", "signup", 45296],
                ["dee@example.com", "signup", "2024-01-05T13:45:00+02:00"],
            ]
        )
    )

    # details: JSON that is invalid, not an object, or holds what JSON does not allow.
    write_csv(
        "details_json.csv",
        [
            ["Email", "Event", "details"],
            ["r2@example.com", "signup", '{"plan": "pro"'],
            ["r3@example.com", "signup", "[1, 2]"],
            ["r4@example.com", "signup", '"pro"'],
            ["r5@example.com", "signup", "42"],
            ["r6@example.com", "signup", "null"],
            ["r7@example.com", "signup", "true"],
            ["r8@example.com", "signup", '{"score": NaN}'],
            ["r9@example.com", "signup", "{plan: 'pro'}"],
            ["r10@example.com", "signup", "[" * 5000],
            ["r11@example.com", "signup", '{"plan": "pro", "seats": 3}'],
            ["r12@example.com", "signup", ""],
        ],
    )

    # fields: lists and objects where Bento wants flat values.
    write_csv(
        "fields_nested.csv",
        [
            ["Email", "Event", "Attributes"],
            ["r2@example.com", "signup", '["vip", "beta"]'],
            ["r3@example.com", "signup", '{"city": "Paris"}'],
            ["r4@example.com", "signup", " [] "],
            ["r5@example.com", "signup", "[not json"],
            ["r6@example.com", "signup", "vip, beta"],
        ],
    )


if __name__ == "__main__":
    main()
