"""Spreadsheet templates people can download, fill in and upload again.

One sheet with a row for each common case: a custom event, a `$purchase` and a `$tag`.
The headers are event-table columns (`type`, `email`, `fields.first_name`,
`details.value.amount`, ...), so an upload of the template maps itself. The XLSX
version adds a second sheet that explains each column.
"""

from __future__ import annotations

import io

import pandas as pd

from bento_ui.export import safe_csv, safe_xlsx_rows

TEMPLATE_COLUMNS = [
    "type",
    "email",
    "date",
    "fields.first_name",
    "details.webinar",
    "details.unique.key",
    "details.value.amount",
    "details.value.currency",
    "details.tag",
]

TEMPLATE_ROWS = [
    # A custom event: any name you like; details carry what happened.
    ["webinar_attended", "jane@example.com", "2024-11-20 14:00", "Jane", "Spring launch",
     "", "", "", ""],
    # A purchase: an order id Bento uses to drop repeats, the amount in cents, a currency.
    ["$purchase", "bob@example.com", "2024-11-21 09:30", "Bob", "",
     "ORDER-1001", "4999", "USD", ""],
    # A tag: the tag's name.
    ["$tag", "carol@example.com", "", "Carol", "", "", "", "", "vip"],
]  # fmt: skip

COLUMN_HELP = [
    ("type", "The event name: your own (webinar_attended) or one of Bento's "
             "($purchase, $tag, $remove_tag, $subscribe, $unsubscribe, $update_fields)."),
    ("email", "The subscriber's email address. Required on every row."),
    ("date", "When it happened, like 2024-11-20 14:00. Leave empty for 'now'."),
    ("fields.<name>", "Written to the subscriber's profile (first_name, plan, ...). "
                      "One plain value per cell."),
    ("details.<path>", "Event data. Dots make nested data: details.value.amount becomes "
                       '{"value": {"amount": ...}}.'),
    ("details.unique.key", "$purchase only: the order id. Bento uses it to drop repeats."),
    ("details.value.amount", "$purchase only: the amount in cents, a whole number "
                             "(4999 for 49.99)."),
    ("details.value.currency", "$purchase only: a 3-letter currency code like USD or EUR."),
    ("details.tag", "$tag and $remove_tag only: the tag's name."),
]  # fmt: skip


def template_frame() -> pd.DataFrame:
    """The template as a table of text: one example row per kind of event."""
    return pd.DataFrame(TEMPLATE_ROWS, columns=TEMPLATE_COLUMNS, dtype="str")


def template_csv() -> bytes:
    """The template as UTF-8 CSV."""
    return safe_csv(template_frame()).encode("utf-8")


def template_xlsx() -> bytes:
    """The template as an Excel workbook: an `events` sheet and a `help` sheet."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    events = workbook.active
    events.title = "events"
    events.append(TEMPLATE_COLUMNS)
    for row in safe_xlsx_rows(TEMPLATE_ROWS):
        # Every cell is written as text so Excel keeps the values exactly as shown.
        events.append(list(row))
    for cell in events[1]:
        cell.font = Font(bold=True)
    for column in events.columns:
        width = max(len(str(cell.value or "")) for cell in column) + 2
        events.column_dimensions[column[0].column_letter].width = min(width, 40)
        for cell in column[1:]:
            cell.number_format = "@"

    guide = workbook.create_sheet("help")
    guide.append(["column", "what to put in it"])
    for cell in guide[1]:
        cell.font = Font(bold=True)
    for name, text in safe_xlsx_rows(COLUMN_HELP):
        guide.append([name, text])
    guide.column_dimensions["A"].width = 24
    guide.column_dimensions["B"].width = 100

    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
