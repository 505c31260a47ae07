"""Check an event table before anything is sent: problems are data, not exceptions.

`validate` returns the rows that can be sent (normalised: emails and types trimmed,
dates as UTC ISO 8601) and a problems table with one row per problem: the spreadsheet
`row`, the `column`, the `value`, the `severity` (`error` blocks the row, `warning` does
not) and a `message` that says how to fix it. The common checks run over whole columns;
only the few values that fail are looked at one by one, to explain them.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from bento_ui import _arrow_text as arrow_text
from bento_ui import emails, money
from bento_ui import events as ev
from bento_ui.dates import DateOrder, check_timezone, parse_dates, utc_now
from bento_ui.detail_checks import (
    check_details_json,
    check_details_overlap,
    check_details_paths,
    json_or_none,
    send_trimmed,
)
from bento_ui.kind_checks import check_kinds, check_tags_cells
from bento_ui.problems import ERROR, PROBLEM_COLUMNS, WARNING, Problems
from bento_ui.row_hashes import row_hashes
from bento_ui.tags import explode_tags

__all__ = ["ERROR", "PROBLEM_COLUMNS", "WARNING", "SeenRows", "Validation", "validate"]

# No name, field or detail Bento keeps is this long: such a cell is a broken export (a
# missing closing quote swallows the rest of the file into one cell), and one event this
# large makes Bento refuse its whole batch.
MAX_CELL_CHARS = 100_000


@dataclass
class Validation:
    """What `validate` found. Displays in a notebook as its summary and problems.

    `valid` holds one row per event to send; a row with a tags column can make several
    events, which share its row number (the index). The counts speak of source rows."""

    valid: pd.DataFrame
    problems: pd.DataFrame
    rows: int
    empty_rows: list[int] = field(default_factory=list)
    dates_ambiguous: bool = False  # a date column needs the person to choose the order
    date_order: DateOrder | None = None  # the order numeric dates were read in, if any
    # What the amount column's currency units showed of their decimal mark (None where
    # there were none): a file's chunks decide its mark together (`bento_ui.pipeline`).
    amount_marks: money.MarkSigns | None = None

    @property
    def error_rows(self) -> list[int]:
        return _rows_with(self.problems, ERROR)

    @property
    def warning_rows(self) -> list[int]:
        return _rows_with(self.problems, WARNING)

    @property
    def summary(self) -> dict[str, int]:
        return {
            "rows": self.rows,
            "valid": self.valid_rows,
            "with errors": len(self.error_rows),
            "with warnings": len(self.warning_rows),
            "empty skipped": len(self.empty_rows),
        }

    @property
    def valid_rows(self) -> int:
        """Source rows that can be sent (each may make several events: see `events`)."""
        return int(self.valid.index.nunique())

    @property
    def events(self) -> int:
        return len(self.valid)

    @property
    def events_per_row(self) -> pd.Series:
        """How many events each valid source row became (1 but for rows with tags)."""
        return self.valid.index.value_counts(sort=False).sort_index()

    @property
    def errors(self) -> pd.DataFrame:
        return self.problems[self.problems["severity"] == ERROR]

    def _repr_html_(self) -> str:
        counts = ", ".join(f"{v:,} {k}" for k, v in self.summary.items())
        return f"<p>{counts}</p>" + str(self.problems.head(50).to_html(index=False))

    def __repr__(self) -> str:
        counts = ", ".join(f"{v:,} {k}" for k, v in self.summary.items())
        return f"<Validation: {counts}>"


def _rows_in(index: pd.Index, rows: np.ndarray) -> np.ndarray:
    """`index.isin(rows)`; for row numbers in a row (a table's own index), by position."""
    if isinstance(index, pd.RangeIndex) and index.step == 1:
        found = np.zeros(len(index), dtype=bool)
        at = np.asarray(rows, dtype=np.int64) - index.start
        found[at[(at >= 0) & (at < len(index))]] = True
        return found
    return np.asarray(index.isin(rows), dtype=bool)


def _rows_with(problems: pd.DataFrame, severity: str) -> list[int]:
    rows = problems.loc[problems["severity"] == severity, "row"]
    return sorted(int(r) for r in rows.unique())


def validate(
    table: pd.DataFrame,
    *,
    timezone: str = "UTC",
    date_order: DateOrder | None = None,
    now: pd.Timestamp | None = None,
    seen: SeenRows | None = None,
    amounts: money.Unit = money.MINOR,
    decimal_mark: str | None = None,
) -> Validation:
    """Check every row of an event table (see `apply_mapping`) and keep the sendable ones.

    `amounts` says which unit the `details.value.amount` column of `$purchase` rows is
    in: `"minor"` (cents, as Bento wants them) or `"major"` (currency units: `32.00`
    becomes 3200 cents of USD); see `bento_ui.money`. `valid` holds them in cents.
    `decimal_mark` is their decimal mark when it was decided for more than this table
    (a whole file, by `bento_ui.pipeline`); else this table's amounts decide it.

    `seen` carries the rows of earlier chunks of the same file, so that a row repeating
    one of them is flagged too (see `bento_ui.pipeline`); it learns this table's rows.
    Raises TimezoneError when `timezone` is not a known zone name.
    """
    timezone = check_timezone(timezone)
    if amounts not in money.UNITS:
        raise ValueError(f"amounts must be one of {', '.join(money.UNITS)}, not {amounts!r}")
    if decimal_mark not in (None, ".", ","):
        raise ValueError(f"decimal_mark must be '.' or ',', not {decimal_mark!r}")
    # Whole-table steps go column by column in pyarrow (see `_arrow_text`): a sheet of
    # thousands of columns is checked as quickly as one of a dozen.
    text = table if (table.dtypes == "str").all() else table.astype("str")
    text = arrow_text.one_chunk(text)
    stripped = arrow_text.strip(text)
    empty = pd.Series(arrow_text.blank_rows(stripped), index=text.index)
    # The checks run over every row; the empty rows get no problems and are left out of
    # `valid` at the end (one filter of the table instead of three).
    problems = Problems(keep=~empty)
    cleaned = _remove_controls(text, stripped, problems)
    if cleaned is not text:
        text, stripped = cleaned, cleaned.apply(lambda col: col.str.strip())
    out = text.copy()

    # Emails and dates are the two biggest checks, and each reads only its own column:
    # on a big table each runs in a thread beside the others (pyarrow and NumPy let go
    # of the GIL), and their problems take their place in the order of the checks. Each
    # thread also makes its column's share of the keys that find repeated rows.
    email_problems = Problems(keep=problems.keep)
    date_problems = Problems(keep=problems.keep)
    dates = _Dates(date_order)

    def keys_of(column: pd.Series) -> np.ndarray | None:
        return None if seen is not None else arrow_text.row_keys(column.to_frame())

    def check_email() -> tuple[pd.Series, np.ndarray | None]:
        if ev.EMAIL in text:
            email = _check_email(text[ev.EMAIL], stripped[ev.EMAIL], email_problems)
        else:
            email = pd.Series("", index=text.index, dtype="str")
            email_problems.add(
                pd.Series(True, text.index),
                ev.EMAIL,
                text.index.to_series(),
                ERROR,
                "email is missing: add the subscriber's address",
            )
        return email, keys_of(email)

    def check_dates() -> np.ndarray | None:
        dates.check(text[ev.DATE], timezone, now, date_problems)
        assert dates.iso is not None
        return keys_of(dates.iso)

    checked_email = arrow_text.beside(check_email, len(text))
    checked_dates = arrow_text.beside(check_dates, len(text)) if ev.DATE in text else None
    # The type's check runs meanwhile (its problems still come before theirs).
    type_codes = None  # each row's type as a code into the distinct (trimmed) types
    if ev.TYPE in text:
        out[ev.TYPE], type_codes = _check_type(text[ev.TYPE], stripped[ev.TYPE], problems)
    else:  # a table built by hand without the column: every event needs a type
        out[ev.TYPE] = ""
        problems.add(
            pd.Series(True, text.index),
            ev.TYPE,
            out[ev.TYPE],
            ERROR,
            "type is missing: add an event name such as webinar_attended or $purchase, "
            "or choose one type for all rows",
        )
    checks_before = len(problems.parts)

    for column in (c for c in text.columns if ev.is_fields_column(c)):
        _check_flat(column, stripped[column], problems)
    if ev.TAGS in text:
        check_tags_cells(stripped[ev.TAGS], problems)
    _check_size(text, problems)
    details = check_details_json(stripped, problems)
    if ev.DETAILS in out:
        # Send the text that was checked: JSON allows no space like U+00A0 around it.
        out[ev.DETAILS] = stripped[ev.DETAILS]
    check_details_overlap(stripped, details, problems)
    # Issue 11: what is checked is what is sent. Fields and details go out trimmed, as
    # they were checked (with a warning), and their paths are checked on that text.
    send_trimmed(text, stripped, out, problems)
    check_details_paths(stripped, details, problems)
    amount_marks = None
    if ev.TYPE in out:
        amount_marks = check_kinds(
            out, stripped, details, problems, amounts, decimal_mark, type_codes=type_codes
        )
    keys = None  # of the final cells of each row, to find repeated rows (`row_keys`)
    if seen is None:  # (an earlier chunk's rows are known by their hashes: see SeenRows)
        # Every column of `out` but the email and the date is final (the thread keys those).
        final = [c for c in out.columns if c not in (ev.EMAIL, ev.DATE)]
        keys = arrow_text.row_keys(out[final])
    out[ev.EMAIL], email_keys = checked_email.result()
    keys = arrow_text.combined_keys(keys, email_keys)
    if checked_dates is not None:
        keys = arrow_text.combined_keys(keys, checked_dates.result())
        out[ev.DATE] = dates.iso
    problems.parts[checks_before:checks_before] = email_problems.parts + date_problems.parts

    found = problems.table()
    bad_rows = found.loc[found["severity"] == ERROR, "row"].unique()
    sendable = ~empty.to_numpy() & ~_rows_in(out.index, bad_rows)
    # The sendable rows are copied out (in threads) while repeats among them are looked for.
    copied = arrow_text.beside(lambda: arrow_text.rows(out, sendable), len(out))
    # Only rows that can be sent can be sent twice. Rows with errors are left out: an
    # unreadable date is blank in `out`, which would make different rows look the same.
    checked = len(problems.parts)
    if keys is not None:
        _flag_repeats(_repeat_candidates(out, sendable, keys), problems, None)
        valid = copied.result()
    else:
        valid = copied.result()
        _flag_duplicates(valid, problems, seen)
    if len(problems.parts) > checked:
        found = problems.table()
    valid = explode_tags(valid)  # after the checks: problems speak of source rows
    return Validation(
        valid=valid,
        problems=found,
        rows=len(table),
        empty_rows=[int(r) for r in empty[empty].index],
        dates_ambiguous=dates.ambiguous,
        date_order=dates.order,
        amount_marks=amount_marks,
    )


class _Dates:
    """The date column's check: its problems, and what it found (the text to send, the
    order it was read in, whether every date could be read either way)."""

    def __init__(self, order: DateOrder | None) -> None:
        self.iso: pd.Series | None = None
        self.order = order
        self.ambiguous = False

    def check(
        self, dates: pd.Series, timezone: str, now: pd.Timestamp | None, problems: Problems
    ) -> None:
        parsed = parse_dates(dates, timezone=timezone, order=self.order)
        self.ambiguous = parsed.ambiguous
        self.order = parsed.order
        # Messages are written only for the rows that need one.
        unread = parsed.error != ""
        if unread.any():
            problems.add(
                unread,
                ev.DATE,
                dates,
                ERROR,
                "date " + _quoted(dates[unread]) + " " + parsed.error[unread],
            )
        now_text = (now or utc_now()).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S")
        future = _after(parsed.iso, now_text)
        if future.any():
            problems.add(
                future,
                ev.DATE,
                dates,
                WARNING,
                "date " + _quoted(dates[future]) + " is in the future: Bento will "
                "record the event as happening then; check the date and time zone",
            )
        self.iso = parsed.iso


# Control characters (NUL, ESC, DEL, the C1 range) are never sent: a terminal or a
# spreadsheet would act on them. Tabs and line breaks are text inside a field or a
# detail, but not inside an event's type or a subscriber's email.
_CONTROL = "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"
_CONTROL_OR_BREAK = "[\x00-\x1f\x7f-\x9f]"


def _remove_controls(
    text: pd.DataFrame, stripped: pd.DataFrame, problems: Problems
) -> pd.DataFrame:
    """`text` without control characters, with an error for each in a type (the email's
    own check refuses them already) and a warning for each removed elsewhere; `text`
    itself when there are none (the common case, checked in one pass per column)."""
    cleaned: dict[str, pd.Series] = {}
    for column in text.columns:
        if column == ev.EMAIL:
            continue
        if column == ev.TYPE:
            if not _may_hold_controls(stripped[column], breaks=True):
                continue
            held = stripped[column].str.contains(_CONTROL_OR_BREAK, regex=True)
            if held.any():
                problems.add(
                    held, column, text[column], ERROR,
                    f"{column} holds a control character (such as NUL, ESC or a line break), "
                    f"which cannot be sent: write the {column} as plain text",
                )  # fmt: skip
            continue
        if not _may_hold_controls(text[column], breaks=False):
            continue
        held = text[column].str.contains(_CONTROL, regex=True)
        if held.any():
            problems.add(
                held, column, text[column], WARNING,
                f"{column} held control characters (such as NUL or ESC) that cannot be sent: "
                "they were removed",
            )  # fmt: skip
            cleaned[column] = text[column].str.replace(_CONTROL, "", regex=True)
    if not cleaned:
        return text
    return text.assign(**cleaned)


def _may_hold_controls(column: pd.Series, *, breaks: bool) -> bool:
    """A look at the column's bytes first: the pattern runs only where it may find one."""
    data = arrow_text.arrow(column)
    if data is None:
        return True
    return arrow_text.may_hold_controls(arrow_text.flat(data), breaks=breaks)


def _quoted(values: pd.Series) -> pd.Series:
    short = values.str.slice(0, 60)
    return "'" + short.where(values.str.len() <= 60, short + "...") + "'"


def _check_type(
    raw: pd.Series, clean: pd.Series, problems: Problems
) -> tuple[pd.Series, tuple[np.ndarray, list[str]] | None]:
    """The trimmed types, and (when worked out per distinct type) each row's code into
    the distinct trimmed types, which the checks of Bento's kinds use again."""
    checks = _type_checks(raw)
    if checks is not None:
        missing, trimmed, hinted, hinted_messages, codes = checks
        problems.add(
            missing, ev.TYPE, raw, ERROR,
            "type is missing: add an event name such as webinar_attended or $purchase, "
            "or choose one type for all rows",
        )  # fmt: skip
        problems.add(trimmed, ev.TYPE, raw, WARNING, "type had spaces around it: they were trimmed")
        if len(hinted_messages):
            problems.add(hinted, ev.TYPE, raw, WARNING, hinted_messages)
        return clean, codes
    problems.add(
        clean == "",
        ev.TYPE,
        raw,
        ERROR,
        "type is missing: add an event name such as webinar_attended or $purchase, "
        "or choose one type for all rows",
    )
    problems.add(
        (clean != raw) & (clean != ""),
        ev.TYPE,
        raw,
        WARNING,
        "type had spaces around it: they were trimmed",
    )
    hints = {t: hint for t in clean.unique() if t and (hint := _kind_hint(t))}
    if hints:
        hinted = clean.isin(list(hints))
        problems.add(hinted, ev.TYPE, raw, WARNING, clean[hinted].map(hints))
    return clean, None


def _after(iso: pd.Series, now_text: str) -> pd.Series:
    """The filled ISO times whose first 19 characters (to the second) come after
    `now_text`; in pyarrow, without a new column per step."""
    data = arrow_text.arrow(iso)
    if data is None:
        return (iso.str.slice(0, 19) > now_text) & (iso != "")
    # The whole text compares as its first 19 characters do, but for a text that starts
    # with `now_text` itself (the same second: not after it): no sliced copy of the column.
    later = pc.greater(arrow_text.flat(data), now_text)
    # "" is never after a time; a missing value is not either (as in pandas).
    found = pc.fill_null(later, False).to_numpy(zero_copy_only=False).astype(bool)
    some = np.flatnonzero(found)  # future dates are few
    if len(some):
        same = pc.starts_with(arrow_text.flat(data).take(pa.array(some)), now_text)
        found[some[pc.fill_null(same, False).to_numpy(zero_copy_only=False)]] = False
    return pd.Series(found, index=iso.index)


def _type_checks(
    raw: pd.Series,
) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series, tuple[np.ndarray, list[str]]] | None:
    """(missing, trimmed, hinted, hint, (codes, trimmed types)) of `_check_type`, worked
    out once per distinct type (an export has a handful); `hint` only for the rows that get
    one. None when the column is not held in pyarrow or has missing values (the pandas way
    compares those)."""
    data = arrow_text.arrow(raw)
    if data is None or data.null_count:
        return None
    encoded = pc.dictionary_encode(arrow_text.flat(data))
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    distinct = encoded.dictionary.to_pylist()
    cleaned = [value.strip() for value in distinct]  # str.strip trims what pyarrow trims
    missing = np.array([c == "" for c in cleaned], dtype=bool)
    trimmed = np.array([c != v and c != "" for c, v in zip(cleaned, distinct, strict=True)])
    hints = [(_kind_hint(c) or "") if c else "" for c in cleaned]
    hinted = np.array([h != "" for h in hints], dtype=bool)[codes]
    messages = np.array(hints, dtype=object)[codes[hinted]]
    return (
        pd.Series(missing[codes], index=raw.index),
        pd.Series(trimmed[codes], index=raw.index),
        pd.Series(hinted, index=raw.index),
        pd.Series(messages, index=raw.index[hinted], dtype="str"),
        (codes, cleaned),
    )


def _trimmed(raw: pd.Series, clean: pd.Series) -> pd.Series:
    """`clean != raw`, without comparing when the trim changed nothing in the column."""
    if arrow_text.same_texts(raw, clean):
        return pd.Series(False, index=raw.index)
    raw_data, clean_data = arrow_text.arrow(raw), arrow_text.arrow(clean)
    if (
        raw_data is not None
        and clean_data is not None
        and not raw_data.null_count
        and not clean_data.null_count
        and raw.index.equals(clean.index)
    ):
        # A trim only ever shortens a text: the lengths (from the offsets) say it.
        shorter = arrow_text.byte_lengths(arrow_text.flat(raw_data)) != arrow_text.byte_lengths(
            arrow_text.flat(clean_data)
        )
        return pd.Series(shorter, index=raw.index)
    return clean != raw


def _kind_hint(event_type: str) -> str | None:
    """A hint when a type looks like one of Bento's own kinds, mistyped."""
    if event_type in ev.BENTO_KINDS:
        return None
    name = "$" + event_type.strip().lstrip("$").lower().replace(" ", "_").replace("-", "_")
    if name in ev.BENTO_KINDS:
        return (
            f"type '{event_type}' looks like Bento's {name}: write {name} exactly if you "
            "mean it, or keep it as a custom event"
        )
    if event_type.startswith("$"):
        close = difflib.get_close_matches(name, list(ev.BENTO_KINDS), n=1, cutoff=0.8)
        if close:
            return (
                f"type '{event_type}' looks like a misspelling of Bento's {close[0]}: "
                f"write {close[0]} if you mean it"
            )
    return None


def _check_email(raw: pd.Series, clean: pd.Series, problems: Problems) -> pd.Series:
    ok, beyond_ascii, beyond_latin = emails.check_emails_and_letters(clean)
    bad = ~ok
    if bad.any():
        reasons = {v: emails.explain(v) for v in clean[bad].unique()}
        problems.add(bad, ev.EMAIL, raw, ERROR, clean[bad].map(reasons))
    problems.add(
        ok & _trimmed(raw, clean), ev.EMAIL, raw, WARNING,
        "email had spaces around it: they were trimmed",
    )  # fmt: skip
    unusual = ok & beyond_ascii
    if unusual.any():  # look-alike letters: only addresses beyond ASCII can have them
        message = emails.lookalikes(clean[unusual], beyond_latin[unusual.to_numpy()])
        flagged = unusual.copy()
        flagged[unusual] = (message != "").to_numpy()
        problems.add(flagged, ev.EMAIL, raw, WARNING, message)
    return clean


def _check_size(text: pd.DataFrame, problems: Problems) -> None:
    for column in text.columns:
        if column in (ev.EMAIL, ev.DATE):
            continue  # their own checks say why a value that long is wrong
        if not arrow_text.any_longer(text[column], MAX_CELL_CHARS):
            continue
        too_big = text[column].str.len() > MAX_CELL_CHARS
        problems.add(
            too_big,
            column,
            text[column],
            ERROR,
            f"{column} is longer than {MAX_CELL_CHARS:,} characters, more than Bento takes: "
            "check that the file is not broken (a quote never closed), or shorten the value",
        )


def _check_flat(column: str, clean: pd.Series, problems: Problems) -> None:
    looks_nested = arrow_text.starting_with(clean, "{[")
    if not looks_nested.any():
        return
    nested = looks_nested.copy()
    nested[looks_nested] = np.array(
        [isinstance(json_or_none(v), dict | list) for v in clean[looks_nested].tolist()], bool
    )
    problems.add(
        pd.Series(nested, index=clean.index),
        column,
        clean,
        ERROR,
        f"{column} holds a list or an object, but fields must be flat (text, number, "
        "true/false): put it under details, or join the values into one text",
    )


class SeenRows:
    """The rows validated so far, as 64-bit hashes of every cell (`row_hashes`) with the
    row each was first seen in: finds a row that repeats one of an earlier chunk
    (`bento_ui.pipeline`). 12 bytes a row (60 MB for 5 million rows), kept as a few
    sorted arrays merged like a binary counter, so adding a chunk and looking one up
    stay fast as the file grows. A bit per hash in 8 MB of bits (a Bloom filter of one
    hash) says which hashes cannot have been seen: only the others are searched for
    (7% of them at 5 million rows, 1.5% at one million)."""

    def __init__(self) -> None:
        self._levels: list[tuple[np.ndarray, np.ndarray]] = []  # (sorted hashes, rows)
        self._bits = np.zeros(_FILTER_BITS // 64, dtype=np.uint64)
        # Set by `bento_ui.pipeline`: `validate` hands it the rows to look for repeats
        # in instead of looking itself, and the pipeline has `repeat_problems` find them
        # in a thread of its own while the next chunk is checked (see `with_repeats`).
        self.later: Callable[[pd.DataFrame], None] | None = None

    def __len__(self) -> int:
        return sum(len(keys) for keys, _ in self._levels)

    def first_rows(self, hashes: np.ndarray) -> np.ndarray:
        """For each hash, the row it was first seen in, or -1. Sorted hashes are looked
        up fastest (each search starts where the one before ended)."""
        found = np.full(len(hashes), -1, dtype=np.int64)
        word, bit = _filter_bits(hashes)
        maybe = np.flatnonzero(self._bits[word] & bit)
        if not len(maybe):
            return found
        hashes = hashes[maybe]
        for keys, rows in self._levels:
            at = np.minimum(np.searchsorted(keys, hashes), len(keys) - 1)
            hit = keys[at] == hashes
            found[maybe[hit]] = rows[at[hit]]
        return found

    def add(self, hashes: np.ndarray, rows: np.ndarray, *, is_sorted: bool = False) -> None:
        """Remember rows whose hashes were not seen before (all different)."""
        if not len(hashes):
            return
        if is_sorted:
            self._levels.append((hashes, rows.astype(np.int32)))
        else:
            order = np.argsort(hashes)
            self._levels.append((hashes[order], rows[order].astype(np.int32)))
        # Sorted hashes have their bits in order: each word's bits are set at once.
        word, bit = _filter_bits(self._levels[-1][0])
        starts = np.flatnonzero(np.diff(word, prepend=-1))
        self._bits[word[starts]] |= np.bitwise_or.reduceat(bit, starts)
        while len(self._levels) > 1 and len(self._levels[-2][0]) <= 2 * len(self._levels[-1][0]):
            # One array at a time, the parts let go as soon as they are joined: the merge
            # of the two largest levels is the peak of a streamed file's memory.
            (keys_a, rows_a), (keys_b, rows_b) = self._levels.pop(-2), self._levels.pop()
            keys = np.concatenate([keys_a, keys_b])
            del keys_a, keys_b
            order = np.argsort(keys, kind="stable")  # two sorted runs: merged, not sorted
            keys = keys[order]
            rows = np.concatenate([rows_a, rows_b])
            del rows_a, rows_b
            self._levels.append((keys, rows[order]))


_FILTER_BITS = 1 << 26


def _filter_bits(hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each hash's bit of the filter is: (word, the bit in it), from its top bits
    (so that sorted hashes have their words in order)."""
    at = hashes >> np.uint64(64 - _FILTER_BITS.bit_length() + 1)
    return (at >> np.uint64(6)).astype(np.intp), np.left_shift(np.uint64(1), at & np.uint64(63))


def repeat_problems(out: pd.DataFrame, seen: SeenRows) -> pd.DataFrame:
    """The warnings for the rows of `out` (the valid rows `validate` handed to
    `seen.later`) that repeat an earlier row of `out` or of `seen`, as a problems table;
    `seen` learns the rows. Tables must come in the order they were validated."""
    problems = Problems()
    _flag_repeats(out, problems, seen)
    return problems.table()


def with_repeats(result: Validation, repeats: pd.DataFrame) -> None:
    """`result` with the warnings of `repeat_problems` among its problems, as `validate`
    would have given them: a row's repeat warning comes after its other problems."""
    if not len(repeats):
        return
    merged = Problems()
    merged.parts = [result.problems, repeats] if len(result.problems) else [repeats]
    result.problems = merged.table()


def _flag_duplicates(out: pd.DataFrame, problems: Problems, seen: SeenRows | None = None) -> None:
    if out.empty:
        return
    if seen is not None and seen.later is not None:
        seen.later(out)
        return
    _flag_repeats(out, problems, seen)


def _repeat_candidates(out: pd.DataFrame, sendable: np.ndarray, keys: np.ndarray) -> pd.DataFrame:
    """The sendable rows of `out` whose `row_keys` (`keys`, one per row of `out`) another
    sendable row has too: the only ones that may repeat another."""
    maybe = sendable.copy()
    maybe[sendable] = pd.Series(keys[sendable]).duplicated(keep=False).to_numpy()
    return arrow_text.rows(out, maybe)


def _flag_repeats(out: pd.DataFrame, problems: Problems, seen: SeenRows | None) -> None:
    if out.empty:
        return
    if seen is None:
        # Rows that repeat one another have the same key: only they are looked at.
        keys = arrow_text.row_keys(out)
        if keys is not None:
            out = arrow_text.rows(out, pd.Series(keys).duplicated(keep=False).to_numpy())
            if out.empty:
                return
    if seen is None and ev.EMAIL in out:
        # The same event has the same email: hash whole rows only where emails repeat,
        # which is a few rows of most exports (hashing every row costs five times more).
        out = out[out[ev.EMAIL].duplicated(keep=False).to_numpy()]
        if out.empty:
            return
    if seen is not None:
        repeated, same_as = _repeats_of_seen(out, seen)
    else:
        hashes = pd.util.hash_pandas_object(out, index=False)
        repeated = hashes.duplicated(keep="first")
        first_row = hashes.drop_duplicates(keep="first")
        first_of = pd.Series(first_row.index, index=first_row.to_numpy())
        same_as = hashes.map(first_of)
    if not repeated.any():
        return
    # Messages for the repeated rows only (a chunk's mask covers all of its rows).
    twice = repeated.to_numpy()
    rows = out.index[twice]
    problems.add(
        repeated,
        "(row)",
        pd.Series(rows.astype("str"), index=rows),
        WARNING,
        "the same event as row "
        + pd.Series(same_as.to_numpy()[twice], index=rows).astype("str")
        + ": it would be sent twice; drop this row if that is a mistake",
    )


def _repeats_of_seen(out: pd.DataFrame, seen: SeenRows) -> tuple[pd.Series, pd.Series]:
    """(rows that repeat an earlier one of this table or of `seen`, the row each repeats),
    and `seen` learns the rest. Every row is hashed, from its bytes (`row_hashes`): an
    earlier chunk's rows are known by their hash alone."""
    hashes = row_hashes(out)
    rows = out.index.to_numpy()
    order = np.argsort(hashes)  # equal hashes together, in any order: see `first`
    ordered = hashes[order]
    starts = np.ones(len(ordered), dtype=bool)  # where a run of equal hashes starts
    starts[1:] = ordered[1:] != ordered[:-1]
    at = np.flatnonzero(starts)
    first = np.minimum.reduceat(order, at)  # the first row of each run (its position)
    keys = ordered[at]
    earlier = seen.first_rows(keys)  # sorted: the fastest look-up
    new = earlier < 0
    seen.add(keys[new], rows[first[new]], is_sorted=True)
    # For each row: the row it repeats (of an earlier table, else the first of its run
    # here, unless it is that first), or -1.
    run = np.empty(len(out), dtype=np.int64)
    run[order] = np.cumsum(starts) - 1
    same_as = earlier[run]
    within = (same_as < 0) & (first[run] != np.arange(len(out)))
    same_as[within] = rows[first[run[within]]]
    return pd.Series(same_as >= 0, index=out.index), pd.Series(same_as, index=out.index)
