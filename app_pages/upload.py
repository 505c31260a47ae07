"""Upload a spreadsheet: map its columns, see every problem, fix rows, send the valid ones.

Session keys (all `upload_`): `upload_file` (the uploader), `upload_sheet`,
`upload_loaded` (the sheet read last: source, table, sheet names), `upload_mappings`
(header tuple -> ColumnMapping, so a file with the same headers maps the same way),
`upload_mapping_for` / `upload_mapping_base` / `upload_mapping_version` and the editor
`upload_mapping_<n>` (its key is in `upload_mapping_key`), `upload_default_type`,
`upload_tz`, `upload_date_order`, `upload_memo` (the last validation), `upload_fixes`
(source -> the person's list of `bento_ui.fixes.Fix`, also kept on disk by the file's
SHA-256), `upload_edits` (source -> {row: {header: fixed value}}, the cells those fixes
change; the original sheet is never changed), the fix editor `upload_fix_<n>` (key in
`upload_fix_key`), `upload_fix_page`, `upload_fix_warnings`, the bulk fix's
`upload_bulk_*` and `upload_drop_row`, `upload_errors_only`, the problem filters
`upload_problem_column` / `upload_problem_kind`, `upload_problems_page`, `upload_choice`,
the header row picker's `upload_header_row` (+ `_for`, `_picked`, `upload_reheaded`),
the rest switch `upload_rest`, the saved mappings' `upload_remember`,
`upload_mapping_saved`, `upload_saved_last`, `upload_saved_amounts`,
and the send panel's `upload_*` keys (see ui/send.py).
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd
import streamlit as st

from bento_ui import (
    BentoUIError,
    apply_mapping,
    list_sheets,
    read_table,
    remembered,
    suggest_mapping,
    validate,
)
from bento_ui import events as ev
from bento_ui.errors import ReadError
from bento_ui.fixes import (
    DROP,
    FILL,
    LOWER,
    REPLACE,
    SET,
    TRIM,
    UNIT,
    Fix,
    edits_of,
    load_fixes,
    save_fixes,
    unit_of,
)
from bento_ui.ledger import file_hash
from bento_ui.line_items import continuations
from bento_ui.line_items import describe as describe_folded
from bento_ui.mapping import (
    DEFAULT_REST,
    IGNORE,
    ColumnMapping,
    check_mapping,
    header_row_hint,
    rest_of,
    with_rest,
)
from bento_ui.payloads import to_json
from bento_ui.resume import apply_edits
from bento_ui.sending import Origin
from bento_ui.spreadsheet import REPEATED_HEADERS, describe_repeated_headers, rehead
from bento_ui.templates import template_csv, template_frame, template_xlsx
from ui.checked import Checked
from ui.logic import (
    AMOUNT_UNITS,
    GOES_TO_HELP,
    GOES_TO_SHOWN,
    columns_with_problems_first,
    count,
    csv_bytes,
    download_name,
    editor_height,
    escape_markdown,
    failed_rows_file,
    filter_problems,
    first_rows,
    fix_frame,
    goes_to_kind,
    headers_key,
    mapping_editor_frame,
    mapping_from_editor,
    mark_bad_cells,
    marked,
    ready_rows_file,
    row_preview,
    rows_to_fix,
    rows_to_fix_file,
    suggest_amounts,
    time_zones,
    upload_options,
)
from ui.memo import once
from ui.send import job_for, send_panel
from ui.widgets import paged

FILE_TYPES = ["csv", "tsv", "txt", "xlsx", "xls", "ods", "jsonl", "ndjson"]
FIX_PAGE_SIZE = 50
PREVIEW_EVENTS = 3  # events shown as JSON before sending
DATE_ORDERS = {"day-first": "Day first (31/12/2024)", "month-first": "Month first (12/31/2024)"}


def templates(*, example: bool) -> None:
    """The templates to download; `example`: their rows shown as well (before a file is
    chosen). Drawing a table and a code block then also has the browser load the code it
    draws them with while the person picks a file: the first summary would otherwise
    wait about a second for it (the JSON preview's code block is 1.5 MB of script)."""
    st.caption(
        "One example row each for a custom event, a `$purchase` and a `$tag`. Fill it in, "
        "keep the headers, and upload it here."
    )
    if example:
        st.dataframe(template_frame(), hide_index=True, width="stretch")
    left, right, _ = st.columns([1, 1, 3])
    left.download_button("Template (CSV)", template_csv, file_name="bento-events-template.csv",
                         mime="text/csv", key="upload_template_csv", on_click="ignore")
    right.download_button(
        "Template (Excel)", template_xlsx, file_name="bento-events-template.xlsx",
        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        key="upload_template_xlsx", on_click="ignore",
    )
    if example:
        st.caption("Or copy the CSV text into a file of your own:")
        st.code(template_csv().decode("utf-8"), language="csv")


@dataclass(frozen=True)
class ChosenFile:
    """The uploaded file, kept in this session: a file uploader forgets its file when the
    person goes to another page, and cannot be given it back."""

    name: str
    data: bytes
    file_id: str
    uploaded_at: float  # time.time() when it arrived
    in_uploader: bool = True  # the uploader shows it (False once it was drawn empty)


def forget_file() -> None:
    st.session_state.pop("upload_chosen_file", None)


def chosen_file() -> ChosenFile | None:
    """The file in the uploader; or, when the uploader is empty because the person went to
    another page and came back, the file they uploaded before, said so, with Remove."""
    state = st.session_state
    drawn_before = "upload_file" in state  # False in the first run back from another page
    uploaded = st.file_uploader(
        "Your file", type=FILE_TYPES, key="upload_file",
        help="CSV, TSV, TXT, XLSX, XLS, ODS, JSONL or NDJSON. The first row holds the headers.",
    )
    kept: ChosenFile | None = state.get("upload_chosen_file")
    if uploaded is not None:
        if kept is None or kept.file_id != uploaded.file_id:
            kept = ChosenFile(uploaded.name, uploaded.getvalue(), uploaded.file_id, time.time())
        state["upload_chosen_file"] = kept = replace(kept, in_uploader=True)
        return kept
    if kept is None:
        return None
    if drawn_before and kept.in_uploader:  # the person removed it with the uploader's x
        forget_file()
        return None
    state["upload_chosen_file"] = kept = replace(kept, in_uploader=False)
    left, right = st.columns([4, 1], vertical_alignment="center")
    size = (f"{len(kept.data):,} bytes" if len(kept.data) < 1024
            else f"{len(kept.data) / 1024:,.0f} KB")
    left.info(f"Using **{escape_markdown(kept.name)}** ({size}, "
              f"uploaded {ago(kept.uploaded_at)}), with your choices below. To use another "
              "file, upload it above.", icon=":material/description:")
    right.button("Remove this file", key="upload_remove_file", on_click=forget_file)
    return kept


def ago(moment: float) -> str:
    minutes = int((time.time() - moment) // 60)
    if minutes < 1:
        return "less than a minute ago"
    if minutes < 120:
        return f"{minutes} minute{'s' if minutes != 1 else ''} ago"
    return f"{minutes // 60} hours ago"


def load(data: bytes, name: str, fingerprint: str) -> tuple[pd.DataFrame, str, list[str]]:
    """The chosen sheet of the uploaded file, read once and kept for the next reruns."""
    sheets_key = ("upload_sheets", fingerprint)
    if st.session_state.get("upload_sheets_for") != sheets_key:
        st.session_state["upload_sheet_names"] = list_sheets(io.BytesIO(data), name=name)
        st.session_state["upload_sheets_for"] = sheets_key
        st.session_state.pop("upload_sheet", None)
    sheets: list[str] = st.session_state["upload_sheet_names"]
    sheet = None
    if len(sheets) > 1:
        sheet = st.selectbox("Sheet", sheets, key="upload_sheet",
                             help="This workbook has several sheets: choose the one to send.")
    elif sheets:
        sheet = sheets[0]
    source = f"{fingerprint}:{sheet or ''}"
    loaded = st.session_state.get("upload_loaded")
    if loaded is None or loaded[0] != source:
        frame = read_table(io.BytesIO(data), sheet=sheet, name=name)
        st.session_state["upload_loaded"] = loaded = (source, frame)
    frame, source = header_row_section(loaded[1], source)
    return frame, source, sheets


# --- the header row picker: when a title sits above the column names ------------------
def header_row_section(frame: pd.DataFrame, source: str) -> tuple[pd.DataFrame, str]:
    """The first rows, and the row that holds the column names, when it looks like it
    is not the first: the sheet with that row as its header (same row numbers)."""
    state = st.session_state
    hint = header_row_hint(frame)
    if state.get("upload_header_row_for") != source:
        state["upload_header_row_for"] = source
        state.pop("upload_header_row", None)  # the row as read, until the person picks
    if hint is None and state.get("upload_header_row") is None:
        state["upload_header_row_picked"] = None
        return frame, source
    top = first_rows(frame)
    st.markdown("**Which row holds the column names?**")
    st.caption("The column names do not seem to be on the first row"
               + (f" (row {hint} looks like them)" if hint is not None else "")
               + ". Here are the first rows of your file, numbered as your spreadsheet "
               "numbers them: choose the row that holds the column names.")
    st.dataframe(top, width="stretch", height=editor_height(len(top)) - 3)
    rows = [int(r) for r in top.index]
    if state.get("upload_header_row") not in rows:
        state.pop("upload_header_row", None)
    row = st.selectbox("Row with the column names", rows, key="upload_header_row",
                       format_func=lambda r: f"Row {r}: " + ", ".join(
                           v for v in top.loc[r].tolist() if v.strip())[:80],
                       help="The rows above it are left out; row numbers stay your file's.")
    state["upload_header_row_picked"] = None if row is None or row == rows[0] else int(row)
    if row is None or row == rows[0]:
        return frame, source
    cached = state.get("upload_reheaded")
    key = (source, row)
    if cached is None or cached[0] != key:
        try:
            cached = (key, rehead(frame, int(row)))
        except ReadError as exc:
            st.error(escape_markdown(exc))
            st.stop()
        state["upload_reheaded"] = cached
    return cached[1], f"{source}:header{row}"
# --- end of the header row picker ------------------------------------------------------


def reset_mapping(headers: tuple[str, ...], mapping: ColumnMapping, sheet: pd.DataFrame) -> None:
    st.session_state["upload_mapping_base"] = mapping_editor_frame(mapping, sheet)
    version = st.session_state.get("upload_mapping_version", 0)
    st.session_state["upload_mapping_version"] = version + 1
    st.session_state["upload_default_type"] = mapping.default_type
    st.session_state.setdefault("upload_mappings", {})[headers] = mapping


def use_suggestion(headers: tuple[str, ...], sheet: pd.DataFrame) -> None:
    reset_mapping(headers, suggest_mapping(headers), sheet)
    st.session_state["upload_mapping_remembered"] = False
    st.session_state["upload_mapping_saved"] = None
    st.session_state["upload_rest"] = DEFAULT_REST


# --- the rest switch and the mappings saved across sessions -----------------------------
def use_rest(headers: tuple[str, ...], sheet: pd.DataFrame) -> None:
    """Every column the tool could not place kept as a field, or all ignored."""
    current = st.session_state.get("upload_mappings", {}).get(headers)
    if current is not None:
        reset_mapping(headers, with_rest(current, st.session_state["upload_rest"]), sheet)


def forget_saved(headers: tuple[str, ...], sheet: pd.DataFrame) -> None:
    remembered.forget(headers)
    st.session_state["upload_remember"] = False
    use_suggestion(headers, sheet)


def apply_saved(headers: tuple[str, ...]) -> ColumnMapping | None:
    """The mapping saved in an earlier session for these headers, its time zone, date
    order and money unit put back in their widgets; None when nothing was saved."""
    saved = remembered.recall(headers)
    state = st.session_state
    state["upload_mapping_saved"] = saved
    if saved is None:
        return None
    state["upload_saved_last"] = (headers, saved)  # unchanged: not written again
    state["upload_tz"] = saved.timezone
    state["upload_saved_amounts"] = saved.amounts
    if saved.date_order:
        state["upload_date_order"] = saved.date_order
    return saved.mapping


def save_choices(headers: tuple[str, ...], mapping: ColumnMapping, tz: str, order: str | None,
                 amounts: str) -> None:
    """Remember the choices for the next file with these headers (in any session),
    unless the person said not to; written only when they changed."""
    state = st.session_state
    if not state.get("upload_remember", True):
        return
    choice = remembered.Remembered(mapping, tz, order, amounts)
    last = state.get("upload_saved_last")
    if last is not None and last[0] == headers and remembered.same_choice(last[1], choice):
        return
    if remembered.remember(headers, choice):
        state["upload_saved_last"] = (headers, choice)


def saved_note(headers: tuple[str, ...], sheet: pd.DataFrame) -> None:
    saved: remembered.Remembered | None = st.session_state.get("upload_mapping_saved")
    left, right = st.columns([4, 1], vertical_alignment="center")
    if saved is not None:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(saved.saved_at))
        left.info(f"Applied the mapping you saved on {when} for a file with these columns "
                  f"(with time zone {saved.timezone}"
                  + (f", dates {saved.date_order}" if saved.date_order else "")
                  + f", amounts in {'currency units' if saved.amounts == 'major' else 'cents'}"
                  "). Change any choice below.", icon=":material/bookmark:")
        right.button("Forget it", key="upload_forget_saved", on_click=forget_saved,
                     args=(headers, sheet), help="Delete the saved mapping and start from "
                     "the suggestion; nothing is saved for these columns until you tick "
                     "'Remember' again.")
    st.session_state.setdefault("upload_remember", True)
    st.checkbox("Remember these choices for files with the same columns (saved on this "
                "computer, in bento-ui's data folder)", key="upload_remember")
# --- end of the rest switch and the saved mappings --------------------------------------


def mapping_section(sheet: pd.DataFrame, source: str) -> ColumnMapping:
    headers = headers_key(sheet.columns)
    memory: dict[tuple[str, ...], ColumnMapping] = st.session_state.setdefault(
        "upload_mappings", {})
    if st.session_state.get("upload_mapping_for") != source:
        # A new file starts with its own choices: nothing carried over by accident.
        for key in ("upload_choice", "upload_date_order", "upload_problems_page",
                    "upload_fix_page", "upload_saved_amounts"):
            st.session_state.pop(key, None)
        in_session = memory.get(headers)
        saved = None if in_session is not None else apply_saved(headers)
        if in_session is not None:
            st.session_state["upload_mapping_saved"] = None
        start = in_session or saved or suggest_mapping(headers)
        reset_mapping(headers, start, sheet)
        st.session_state["upload_mapping_for"] = source
        st.session_state["upload_mapping_remembered"] = in_session is not None
        st.session_state["upload_rest"] = rest_of(start) or DEFAULT_REST

    st.subheader("1. Where each column goes")
    saved_note(headers, sheet)
    from_disk = st.session_state.get("upload_mapping_saved") is not None  # said above
    if st.session_state.get("upload_mapping_remembered") and not from_disk:
        st.info("These are the choices you made for a file with the same columns earlier in "
                "this session. Change any of them below.", icon=":material/history:")
    elif not from_disk:
        st.caption("Suggested from the headers. Click a 'goes to' cell to choose where its "
                   "column goes, and type a 'name' for a field or a detail.")
    key = f"upload_mapping_{st.session_state['upload_mapping_version']}"
    st.session_state["upload_mapping_key"] = key
    if key not in st.session_state and headers in memory:
        # Drawn afresh: first time, or back from another page (Streamlit then forgot the
        # editor's edits): it starts from the mapping in use, with every change kept.
        st.session_state["upload_mapping_base"] = mapping_editor_frame(memory[headers], sheet)
    base = st.session_state["upload_mapping_base"]
    edited = st.data_editor(
        base, key=key, num_rows="fixed", hide_index=True,
        width="stretch", disabled=["column", "example", "note"], height=editor_height(len(base)),
        column_order=["column", "example", "note", "goes to", "name"],  # name last, as before
        column_config={
            # Widths that fit 1024 px with the sidebar open (670 px), with room for the
            # name of a detail path such as cart.items.product_name. Every column has a
            # width: one left to itself made the others stretch, the name cut at 108 px.
            "column": st.column_config.TextColumn("column in your file", width=165),
            "example": st.column_config.TextColumn("example value", width=120),
            "note": st.column_config.TextColumn(
                "note", width=100, help="'not recognised': the tool could not tell where this "
                "column goes, so it went with the rest (below). Choose its place yourself."),
            "goes to": st.column_config.SelectboxColumn("goes to", options=list(GOES_TO_SHOWN),
                                                        required=True, help=GOES_TO_HELP,
                                                        width=85),
            "name": st.column_config.TextColumn(
                "name", width=200, help="For a field: its name (first_name). For a detail: "
                "its path; dots nest (value.amount becomes {\"value\": {\"amount\": ...}})."),
        },
    )
    has_type_column = (edited["goes to"].map(goes_to_kind) == "type").any()
    type_col, reset_col = st.columns([3, 1], vertical_alignment="bottom")
    default_type = type_col.text_input(
        "Event type for rows whose type cell is empty" if has_type_column
        else "Event type for every row",
        key="upload_default_type", placeholder="webinar_attended",
        help="Your own name (webinar_attended) or one of Bento's: "
        + ", ".join(ev.BENTO_KINDS) + ". A type in the file wins.",
    )
    reset_col.button("Reset mapping", key="upload_mapping_reset",  # fits at 1024 px
                     on_click=use_suggestion, args=(headers, sheet),
                     help="Goes back to the suggested mapping: your changes are lost.")
    mapping = mapping_from_editor(edited, default_type)
    if mapping.unplaced:
        unplaced = len(mapping.unplaced)
        st.radio(
            f"The {count(unplaced, 'column')} the tool could not place (marked 'not "
            "recognised')", ["fields", "ignore"], key="upload_rest", horizontal=True,
            format_func={"fields": "Keep the rest as fields",
                         "ignore": "Ignore the rest"}.get,
            on_change=use_rest, args=(headers, sheet),
            help="Fields are written to each subscriber's profile in Bento; ignored "
            "columns are not sent. A column you place yourself keeps your choice.")
    memory[headers] = mapping
    return mapping


def amounts_section(sheet: pd.DataFrame, mapping: ColumnMapping, source: str) -> str:
    """The unit of the $purchase amount column: suggested from its values, the person's
    choice kept (`upload_amounts`, suggested again for another file or column)."""
    header = mapping.target_of(ev.PURCHASE_AMOUNT)
    if header is None:
        return "minor"
    suggestion = once("upload_amounts_suggested", (source, header),
                      lambda: suggest_amounts(sheet[header]))  # a pass over the column
    if st.session_state.get("upload_amounts_for") != (source, header):
        st.session_state["upload_amounts_for"] = (source, header)
        st.session_state["upload_amounts"] = (st.session_state.get("upload_saved_amounts")
                                              or suggestion)
    unit: str = st.radio(
        f"The amounts in '{header}' are in", list(AMOUNT_UNITS), key="upload_amounts",
        format_func=AMOUNT_UNITS.get, horizontal=True,
        help="Bento wants cents (minor units). Currency units are turned into them by each "
        "row's currency: 32.00 USD is 3200, 1500 JPY is 1500, 1.500 KWD is 1500.",
    )
    if suggestion == "major":
        st.caption(f"'{escape_markdown(header)}' holds amounts with decimals (like 32.00), so "
                   "they are read as currency units and sent as cents (3200).")
    return unit


def check_and_validate(
    sheet: pd.DataFrame, mapping: ColumnMapping, source: str, tz: str, order: str | None,
    amounts: str = "minor", *, first_check: Callable[[], object] = lambda: None,
) -> tuple[Any, pd.DataFrame]:
    """(Validation, sheet with fixes) for the current choices; recomputed only on change.
    Before the first check of this file, `first_check()` draws what the page shows
    meanwhile (later checks keep the last answer on screen until the new one comes)."""
    edits = st.session_state.setdefault("upload_edits", {}).get(source, {})
    memo_key = (source, mapping.to_json(), json.dumps(edits, sort_keys=True), tz, order,
                amounts)
    memo = st.session_state.get("upload_memo")
    if memo is not None and memo[0] == memo_key:
        return memo[1], memo[2]
    if memo is None or memo[0][0] != source:
        first_check()
    fixed = apply_edits(sheet, edits)
    table = apply_mapping(fixed, mapping)
    found = validate(table, timezone=tz, date_order=order,  # type: ignore[arg-type]
                     amounts=amounts)  # type: ignore[arg-type]
    validation = Checked.of(found, mapping)  # its counts computed once, not on each rerun
    st.session_state["upload_memo"] = (memo_key, validation, fixed)
    return validation, fixed


SUMMARY_LABELS = {"rows": "Rows", "valid": "Ready to send", "with errors": "With errors",
                  "with warnings": "With warnings", "empty skipped": "Empty, skipped"}


def summary(validation: Any | None) -> None:
    """The counts of what was found; "…" in each while the rows are checked (None)."""
    st.subheader("2. What was found")
    counts = validation.summary if validation is not None else dict.fromkeys(SUMMARY_LABELS)
    for column, (key, value) in zip(st.columns(5), counts.items(), strict=True):
        column.metric(SUMMARY_LABELS[key], "…" if value is None else f"{value:,}")
    if validation is None:
        st.caption("Checking every row…")


def problems_section(validation: Any, mapping: ColumnMapping, file_name: str) -> pd.DataFrame:
    """The problems in the person's terms (their headers), filtered by column and kind;
    returns the filtered problems, which the fix grid follows too."""
    problems = validation.person_problems
    if problems.empty:
        st.success("No problems: every row can be sent.")
        return problems
    # Wide enough at 1024 px for each label to show whole.
    toggle_col, column_col, kind_col = st.columns([2, 3, 3], vertical_alignment="bottom")
    with toggle_col:
        errors_only = st.toggle("Errors only", key="upload_errors_only",
                                help="Rows with errors are not sent; warnings do not block a "
                                "row.")
    columns = list(dict.fromkeys(problems["column"]))
    column = column_col.selectbox("Problems in column", columns, index=None,
                                  key="upload_problem_column", placeholder="every column")
    kinds = list(dict.fromkeys(filter_problems(problems, column=column)["kind"]))
    kind = kind_col.selectbox("Kind of problem", kinds, index=None, key="upload_problem_kind",
                              placeholder="every kind")
    view = filter_problems(problems, column=column, kind=kind, errors_only=errors_only)
    st.dataframe(
        paged(view.drop(columns="kind"), "upload_problems_page", noun="problems"),
        hide_index=True, width="stretch",
        column_config={
            "row": st.column_config.NumberColumn("row", help="Row number in your spreadsheet",
                                                 format="%d"),
            "column": st.column_config.TextColumn("column", help="The column in your file"),
            # Wide, but not wider than what is left at 1024 px: no sideways scroll.
            "message": st.column_config.TextColumn("message", width=360),
        },
    )
    st.download_button("Download the problems (CSV)",
                       lambda: csv_bytes(problems.drop(columns="kind")),
                       file_name=download_name(file_name, "problems"), mime="text/csv",
                       key="upload_problems_csv", on_click="ignore")
    return view


# ---- fixes: a list of operations over the original sheet, kept on disk by the file's
# SHA-256 (bento_ui.fixes), so they survive a browser refresh.

def sheet_of(source: str) -> str:
    return source.split(":", 1)[1] if ":" in source else ""


def current_fixes(sheet: pd.DataFrame, source: str, sha: str) -> list[Fix]:
    """The fixes of this sheet: from this session, else from the user data folder."""
    all_fixes: dict[str, list[Fix]] = st.session_state.setdefault("upload_fixes", {})
    if source not in all_fixes:
        all_fixes[source] = load_fixes(sha, sheet_of(source))
        st.session_state.setdefault("upload_edits", {})[source] = edits_of(
            sheet, all_fixes[source])
    return all_fixes[source]


def commit_fixes(sheet: pd.DataFrame, source: str, sha: str, fixes: list[Fix]) -> None:
    st.session_state["upload_fixes"][source] = fixes
    st.session_state.setdefault("upload_edits", {})[source] = edits_of(sheet, fixes)
    save_fixes(sha, sheet_of(source), fixes)
    st.session_state["upload_fix_version"] = st.session_state.get("upload_fix_version", 0) + 1


def add_fix(sheet: pd.DataFrame, source: str, sha: str, fix: Fix) -> None:
    if fix.op == UNIT:  # the money-unit choice of the page follows
        st.session_state["upload_amounts"] = fix.value
    commit_fixes(sheet, source, sha, [*current_fixes(sheet, source, sha), fix])


def bulk_fix(sheet: pd.DataFrame, source: str, sha: str) -> None:
    state = st.session_state
    action, column = state.get("upload_bulk_action"), state.get("upload_bulk_column")
    if not action or not column:
        return
    if action.startswith("unit:"):
        fix = Fix(UNIT, column, value=action[5:], find=state.get("upload_amounts", "minor"))
    else:
        fix = Fix(action, column, find=state.get("upload_bulk_find", ""),
                  value=state.get("upload_bulk_value", ""))
    add_fix(sheet, source, sha, fix)


def drop_row(sheet: pd.DataFrame, source: str, sha: str) -> None:
    row = st.session_state.get("upload_drop_row")
    if row is not None and int(row) in sheet.index:
        add_fix(sheet, source, sha, Fix(DROP, row=int(row)))


def undo_fix(sheet: pd.DataFrame, source: str, sha: str, everything: bool = False) -> None:
    fixes = current_fixes(sheet, source, sha)
    if not fixes:
        return
    last = fixes[-1]
    if everything:
        units = [f for f in fixes if f.op == UNIT]
        if units:
            st.session_state["upload_amounts"] = units[0].find or "minor"
    elif last.op == UNIT:
        st.session_state["upload_amounts"] = last.find or "minor"
    commit_fixes(sheet, source, sha, [] if everything else fixes[:-1])


BULK_ACTIONS = {TRIM: "Trim spaces", LOWER: "Lower-case", REPLACE: "Find and replace",
                FILL: "Fill empty cells with"}
UNIT_ACTIONS = {"unit:major": "Amounts are in currency units (49.99)",
                "unit:minor": "Amounts are in cents (4999)"}


def bulk_section(sheet: pd.DataFrame, mapping: ColumnMapping, problems: pd.DataFrame,
                 source: str, sha: str) -> None:
    """Fix a whole column at once, drop a row, undo."""
    columns = columns_with_problems_first(
        [h for h, t in mapping.columns.items() if t != IGNORE], problems)
    amount = mapping.target_of(ev.PURCHASE_AMOUNT)
    with st.container(border=True):
        st.markdown("**Fix a whole column at once**")
        col, act, find, value, go = st.columns([3, 4, 3, 3, 3], vertical_alignment="bottom")
        column = col.selectbox("Column to fix", columns, key="upload_bulk_column")
        actions = {**BULK_ACTIONS, **(UNIT_ACTIONS if column == amount else {})}
        action = act.selectbox("What to do", list(actions), format_func=actions.get,
                               key="upload_bulk_action")
        if action == REPLACE:
            find.text_input("Find", key="upload_bulk_find")
        if action in (REPLACE, FILL):
            value.text_input("Replace with" if action == REPLACE else "Value",
                             key="upload_bulk_value")
        go.button("Apply", key="upload_bulk_apply", on_click=bulk_fix,
                  args=(sheet, source, sha), type="primary")
        row_col, drop_col, undo_col = st.columns([2, 2, 3], vertical_alignment="bottom")
        row_col.number_input("Row to drop", min_value=1, step=1, value=None, key="upload_drop_row",
                             placeholder="e.g. 5")
        drop_col.button("Drop this row", key="upload_drop", on_click=drop_row,
                        args=(sheet, source, sha),
                        help="The row is not sent. Your file is not changed.")
        undo_col.button("Undo the last fix", key="upload_undo_last", on_click=undo_fix,
                        args=(sheet, source, sha),
                        disabled=not current_fixes(sheet, source, sha))


def fix_section(validation: Any, sheet: pd.DataFrame, fixed: pd.DataFrame,
                mapping: ColumnMapping, source: str, sha: str, problems: pd.DataFrame,
                file_name: str) -> None:
    """`problems`: the person's problems as filtered above (the grid shows their rows)."""
    fixes = current_fixes(sheet, source, sha)
    changed = st.session_state.pop("upload_fix_changed", None)
    if changed:
        still = sorted(set(changed) & set(validation.error_rows))
        if still:
            st.warning(f"Saved. Row {', '.join(map(str, still))} still has errors: see below.")
        else:
            st.success(f"Saved. Row {', '.join(map(str, changed))} has no errors now.")
    bulk_section(sheet, mapping, problems, source, sha)
    include_warnings = st.toggle("Also show rows that only have warnings",
                                 key="upload_fix_warnings")
    filtered = set(problems["row"])
    rows = [r for r in rows_to_fix(validation, include_warnings=include_warnings)
            if r in filtered]
    if not rows:
        st.caption("No rows to fix.")
    else:
        st.caption("Type over a cell to fix it; the row is checked again at once. The red "
                   "marks say what is wrong with the cell on their right. Your file is not "
                   "changed: your fixes are kept on this computer for this file.")
        page_rows = paged(pd.DataFrame(index=pd.Index(rows)), "upload_fix_page",
                          size=FIX_PAGE_SIZE, noun="rows to fix").index.tolist()
        columns = columns_with_problems_first(
            [h for h, t in mapping.columns.items() if t != IGNORE], problems)
        shown = fix_frame(fixed, page_rows, validation.problems, columns)
        shown, severities = mark_bad_cells(shown, validation.person_problems)
        config: dict[str, Any] = {
            "_index": st.column_config.NumberColumn("row", disabled=True),
            "problems": st.column_config.TextColumn("problems", width="medium"),
            **{name: st.column_config.TextColumn(name, width="medium", help="The problem "
                                                 "in the cell on its right")
               for name in severities},
        }
        key = f"upload_fix_{st.session_state.setdefault('upload_fix_version', 0)}"
        st.session_state["upload_fix_key"] = key
        st.data_editor(marked(shown, severities), key=key, num_rows="fixed",
                       disabled=["problems", *severities], width="stretch",
                       column_config=config)
        state = st.session_state.get(key) or {}
        if state.get("edited_rows"):
            new = cell_fixes(shown, state["edited_rows"], fixed)
            if new:
                commit_fixes(sheet, source, sha, [*fixes, *new])
                st.session_state["upload_fix_changed"] = sorted({int(f.row or 0) for f in new})
                st.rerun()
    downloads(validation, fixed, problems=validation.person_problems,
              file_name=file_name, folded=continuations(fixed, mapping.columns))
    if fixes:
        left, right = st.columns([3, 1], vertical_alignment="center")
        with left.expander(f"Your fixes ({len(fixes):,}), applied in this order"):
            st.markdown("\n".join(f"{n}. {escape_markdown(f.describe())}"
                                   for n, f in enumerate(fixes, 1)))
        right.button("Undo all fixes", key="upload_undo_fixes", on_click=undo_fix,
                     args=(sheet, source, sha, True))


def cell_fixes(shown: pd.DataFrame, edited_rows: dict[Any, dict[str, Any]],
               fixed: pd.DataFrame) -> list[Fix]:
    """The cells typed in the grid that differ from the sheet as fixed so far."""
    new = []
    for position, changes in edited_rows.items():
        if not 0 <= int(position) < len(shown):
            continue
        row = int(shown.index[int(position)])
        for column, value in changes.items():
            text = "" if value is None else str(value)
            if column in fixed.columns and text != str(fixed.at[row, column]):
                new.append(Fix(SET, str(column), row=row, value=text))
    return new


def downloads(validation: Any, fixed: pd.DataFrame, *, problems: pd.DataFrame,
              file_name: str, folded: dict[int, int]) -> None:
    """Files in the person's own layout: the rows to fix, the rows ready to send (an
    order with the rows of its line items, `folded`)."""
    left, right = st.columns(2)
    if validation.error_rows:
        left.download_button(
            "Download the rows to fix (CSV)", lambda: csv_bytes(
                rows_to_fix_file(fixed, problems, folded)),
            file_name=download_name(file_name, "rows-to-fix"), mime="text/csv",
            key="upload_rows_to_fix_csv", on_click="ignore",
            help="Your columns, your fixes so far, and a problems column. Fix them in your "
            "spreadsheet and upload the file again.")
    if validation.valid_rows:
        right.download_button(
            "Download the ready rows (CSV)", lambda: csv_bytes(
                ready_rows_file(fixed, validation, folded)),
            file_name=download_name(file_name, "ready"), mime="text/csv",
            key="upload_ready_csv", on_click="ignore",
            help="The rows that would be sent, in your columns, with your fixes.")


def preview_section(validation: Any, sheet: pd.DataFrame) -> None:
    """The first events exactly as they are sent (the send builds them the same way from
    the same table), and the events of any spreadsheet row the person asks for."""
    valid = validation.valid
    with st.expander("What Bento will receive: the events as JSON", expanded=True):
        row = st.number_input(
            "Show the events of spreadsheet row", min_value=1, step=1, value=None,
            key="upload_preview_row", placeholder=f"a row number, like {int(sheet.index[0])}",
            help="The row number as your spreadsheet shows it: the headers are row 1.")
        if row is not None:
            events, why = row_preview(validation, int(row), [int(r) for r in sheet.index])
            if why:
                st.info(escape_markdown(why))
            else:
                st.caption(f"Row {int(row):,} becomes {count(len(events), 'event')}:")
                st.code(to_json(events), language="json", wrap_lines=True)
        if not valid.empty:
            first = valid.iloc[:PREVIEW_EVENTS]
            rows = [int(r) for r in dict.fromkeys(first.index)]
            what = ("The event" if len(first) == 1 and len(valid) == 1
                    else f"The first {count(len(first), 'event')}")
            where = f"row{'s' if len(rows) > 1 else ''} {', '.join(f'{r:,}' for r in rows)}"
            st.caption(f"{what} to be sent ({where}), exactly as Bento receives "
                       f"{'it' if len(first) == 1 else 'them'}:")
            st.code(to_json(validation.first_events(PREVIEW_EVENTS)), language="json",
                    wrap_lines=True)


st.title("Upload a spreadsheet")
st.caption(
    "Send many events from a CSV, Excel, OpenDocument or JSON lines file: say where each "
    "column goes, see every problem, fix what you can, then send the rows that are ready."
)

chosen = chosen_file()
with st.expander("Templates: start from an example file", expanded=chosen is None):
    templates(example=chosen is None)
if chosen is None:
    st.info("Upload a file to start. Not sure how to lay it out? Download a template above.",
            icon=":material/upload_file:")
    st.stop()

# The file stays in memory: it is never written to disk, and never run.
data = chosen.data
known = st.session_state.get("upload_fingerprint")
if known is None or known[0] != chosen.file_id:  # hash each upload once, not each rerun
    digest = file_hash(data)  # SHA-256: the send ledger keeps it, so a resume can check it
    known = (chosen.file_id, digest[:16], digest)
    st.session_state["upload_fingerprint"] = known
fingerprint = known[1]
try:
    sheet, source, sheet_names = load(data, chosen.name, fingerprint)
except BentoUIError as exc:
    st.error(escape_markdown(exc))
    st.stop()
if sheet.empty:
    st.warning("This sheet has headers but no rows. Choose another sheet or file.")
    st.stop()
st.caption(f"**{escape_markdown(chosen.name)}**: {len(sheet):,} rows, "
           f"{len(sheet.columns)} columns.")
repeated = describe_repeated_headers(sheet.attrs.get(REPEATED_HEADERS, {}))
if repeated:
    st.info(escape_markdown(repeated), icon=":material/content_copy:")

mapping = mapping_section(sheet, source)
mapping_problems = check_mapping(sheet.columns, mapping)
for message in mapping_problems:
    st.error(escape_markdown(message))
if mapping_problems:
    try:  # apply_mapping adds a hint, such as the row that looks like the column names
        apply_mapping(sheet, mapping)
    except BentoUIError as exc:
        joined = " ".join(mapping_problems)
        hint = str(exc)[len(joined):].strip() if str(exc).startswith(joined) else ""
        if hint:
            if "looks like the column names" in hint:  # the picker above can do it
                hint += " Or choose that row under 'Which row holds the column names?' above."
            st.warning(escape_markdown(hint), icon=":material/lightbulb:")
    st.info("Fix the choices above to see what is in the rows.")
    st.stop()

dates_box = st.container()
has_date = mapping.target_of(ev.DATE) is not None
tz = "UTC"
if has_date:
    with dates_box:
        tz = st.selectbox("Time zone of dates written without one", time_zones(), key="upload_tz",
                          help="Dates like 2024-11-20 14:00 are read in this zone and sent "
                          "to Bento in UTC.")
order = st.session_state.get("upload_date_order") if has_date else None
fixes = current_fixes(sheet, source, known[2])
amount_header = mapping.target_of(ev.PURCHASE_AMOUNT)
fixed_unit = unit_of(fixes, amount_header) if amount_header else None
if fixed_unit and st.session_state.get("upload_amounts_for") != (source, amount_header):
    st.session_state["upload_amounts_for"] = (source, amount_header)  # kept from before
    st.session_state["upload_amounts"] = fixed_unit
amounts = amounts_section(sheet, mapping, source)
save_choices(headers_key(sheet.columns), mapping, tz, order, amounts)
# The summary's place, drawn with "…" while a file is checked the first time. It tells
# the person the rows are being checked, and the browser loads st.metric's code meanwhile:
# it loads it the first time a metric is drawn, and that held the counts back 0.3-0.7 s
# after they came (100k rows, bench.app).
summary_box = st.empty()


def draw_summary(validation: Any | None = None) -> None:
    with summary_box.container():
        summary(validation)


try:
    validation, fixed = check_and_validate(sheet, mapping, source, tz, order, amounts,
                                           first_check=draw_summary)
except BentoUIError as exc:
    summary_box.empty()
    st.error(escape_markdown(exc))
    st.stop()
except Exception:  # app.py says something went wrong: no "…" left to say it is still going
    summary_box.empty()
    raise
if has_date and (validation.dates_ambiguous or order):
    with dates_box:
        st.radio(
            "Dates like 05/01/2024 could be read two ways. How does your file write them?",
            list(DATE_ORDERS), format_func=DATE_ORDERS.get, index=None, key="upload_date_order",
            horizontal=True,
        )

draw_summary(validation)
# Shopify writes an order of several products on several rows: folded into one event.
if folded_note := describe_folded(continuations(fixed, mapping.columns),
                                      mapping.columns):
    st.info(escape_markdown(folded_note), icon=":material/shopping_cart:")
if validation.events != validation.valid_rows:
    st.caption(f"The {validation.valid_rows:,} rows ready to send make {validation.events:,} "
               "events: each tag in the tags column is a $tag event of its own.")
shown_problems = problems_section(validation, mapping, chosen.name)

step = 3  # with nothing to fix, sending is the third step, not the fourth
if not validation.problems.empty or fixes:
    st.subheader(f"{step}. Fix rows in place")
    fix_section(validation, sheet, fixed, mapping, source, known[2], shown_problems,
                chosen.name)
    step += 1

st.subheader(f"{step}. Send")
valid = validation.valid
preview_section(validation, sheet)
errors = len(validation.error_rows)
if job_for("upload", source) is None and errors:
    choice = st.radio(
        f"{errors:,} row{'s' if errors != 1 else ''} with errors will never be sent. "
        "What would you like to do?",
        ["send_valid", "fix_first"], index=None, key="upload_choice",
        format_func=lambda c: f"Send only the {validation.valid_rows:,} valid rows now"
        if c == "send_valid" else "Fix the rows first",
    )
    if choice != "send_valid":
        if choice == "fix_first":
            st.info("Fix the rows above, or fix your file and upload it again.")
        st.stop()
if valid.empty:
    st.warning("No row can be sent yet: fix the rows with errors first.")
    st.stop()
sheet_name = (st.session_state.get("upload_sheet") if len(sheet_names) > 1
              else sheet_names[0] if sheet_names else None)
origin = Origin(
    name=chosen.name, file_hash=known[2],
    options=upload_options(mapping, sheet=sheet_name, timezone=tz, date_order=order,
                           edits=st.session_state.get("upload_edits", {}).get(source),
                           amounts=amounts,  # type: ignore[arg-type]
                           header_row=st.session_state.get("upload_header_row_picked")),
)
send_panel("upload", valid, source=source, rows_label="spreadsheet rows", origin=origin)
sent = job_for("upload", source)
if sent is not None and sent.done and not (refused := sent.report().failures_table).empty:
    st.download_button(
        "Download the refused rows in your layout (CSV)",
        lambda: csv_bytes(failed_rows_file(
            fixed, refused, continuations(fixed, mapping.columns))),
        file_name=download_name(chosen.name, "refused"), mime="text/csv",
        key="upload_refused_rows_csv", on_click="ignore",
        help="Your columns, with Bento's reasons in a problems column: fix them and upload "
        "the file again.")
