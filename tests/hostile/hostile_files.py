"""Hostile files, made at test time: small on disk, each claiming far more than it holds."""

from __future__ import annotations

import io
import zipfile

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
    'package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.'
    'openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType='
    '"application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.'
    'openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/'
    'worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
    'spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType='
    '"application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>'
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats'
    '.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
    'openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/'
    'workbook.xml"/></Relationships>'
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/'
    'spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats'
    '.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
    'openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/'
    'sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/'
    'officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
    "</Relationships>"
)
ROWS = [[("A1", "email"), ("B1", "type")], [("A2", "jane@example.com"), ("B2", "signup")]]
# 64 MB of one letter deflates to about 64 KB: a thousand times smaller.
BOMB_BYTES = 64 * 2**20


def sheet_xml(rows: list[list[tuple[str, str]]], dimension: str | None = None) -> str:
    head = f'<dimension ref="{dimension}"/>' if dimension else ""
    body = "".join(
        f'<row r="{"".join(c for c in cells[0][0] if c.isdigit())}">'
        + "".join(f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>' for ref, text in cells)
        + "</row>"
        for cells in rows
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.'
        f'org/spreadsheetml/2006/main">{head}<sheetData>{body}</sheetData></worksheet>'
    )


def xlsx(sheet: str | bytes, shared_strings: str | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _RELS)
        archive.writestr("xl/workbook.xml", _WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        archive.writestr("xl/worksheets/sheet1.xml", sheet)
        if shared_strings is not None:
            archive.writestr("xl/sharedStrings.xml", shared_strings)
    return out.getvalue()


def far_cell_xlsx() -> bytes:
    """Two rows of data and one cell at XFD1048576, the last cell Excel has."""
    return xlsx(sheet_xml([*ROWS, [("XFD1048576", "x")]]))


def huge_dimension_xlsx() -> bytes:
    return xlsx(sheet_xml(ROWS, dimension="A1:XFD1048576"))


def huge_shared_strings_xlsx() -> bytes:
    """A shared-strings table that claims 96 billion entries and holds one."""
    return xlsx(
        sheet_xml(ROWS),
        '<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/'
        'spreadsheetml/2006/main" count="96000000000" uniqueCount="96000000000"><si><t>a</t>'
        "</si></sst>",
    )


def giant_cell_xlsx() -> bytes:
    """One cell of 64 MB that packs to about 64 KB."""
    cell = "A" * BOMB_BYTES
    return xlsx(sheet_xml([[("A1", "email")], [("A2", cell)]]))


def zip_bomb_xlsx() -> bytes:
    """A sheet padded with 64 MB of blanks inside its XML."""
    xml = sheet_xml(ROWS)
    padded = xml.replace("<sheetData>", " " * BOMB_BYTES + "<sheetData>", 1)
    return xlsx(padded)


def mimetype_bomb_ods() -> bytes:
    """An ODS whose `mimetype` entry unpacks to 64 MB."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "mimetype", b"application/vnd.oasis.opendocument.spreadsheet" + b" " * BOMB_BYTES
        )
        archive.writestr("content.xml", "<office:document-content/>")
    return out.getvalue()
