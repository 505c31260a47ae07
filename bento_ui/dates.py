"""Read a column of dates the way the person meant them, and write them as Bento wants.

The format is decided per column, not per cell: a column holding `26.11.2026` is
day-first throughout, and a column where every value is ambiguous (`05/01/2024`) is
flagged unless the person says which order they use; it is never guessed. Excel serial
numbers (`45296`, `45296.5`) are understood. A time without a zone is taken in the zone
the person chooses (UTC by default). Everything comes out as UTC ISO 8601 with `Z`.
"""

from __future__ import annotations

import difflib
import functools
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from bento_ui import _arrow_text as arrow_text
from bento_ui._regex import SPACE
from bento_ui.errors import TimezoneError

DateOrder = Literal["day-first", "month-first"]

# The patterns avoid what RE2 cannot do (`\s`, back-references), so that pandas runs
# them in pyarrow rather than in Python's re one value at a time (see bento_ui._regex).
# Digits are [0-9]: Python's \d also takes Arabic-Indic and other digits, RE2's does not.
_TIME = (
    r"(?:[ T]+(?P<hh>[0-9]{1,2}):(?P<mi>[0-9]{2})(?::(?P<ss>[0-9]{2}))?"
    + SPACE
    + r"*(?P<ampm>[AaPp][Mm])?)?"
)
# Day, month and year with the same separator twice: `5.1.2024`, `05/01/24`, `5-1-2024`.
_NUMERIC_MATCH = (
    r"^(?:[0-9]{1,2}\.[0-9]{1,2}\.|[0-9]{1,2}/[0-9]{1,2}/|[0-9]{1,2}-[0-9]{1,2}-)(?:[0-9]{4}|[0-9]{2})"
    + _TIME
    + "$"
)
# Its parts, read only from values that matched _NUMERIC_MATCH.
_NUMERIC = r"^(?P<a>[0-9]{1,2})[./-](?P<b>[0-9]{1,2})[./-](?P<y>[0-9]{4}|[0-9]{2})" + _TIME + "$"
_ISO = r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[T ][0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?)?"
_ISO_ZONE = (
    r"[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?"
    + SPACE
    + r"*(?:Z|z|UTC|[+-][0-9]{2}(?::?[0-9]{2})?)$"
)
_YMD_SLASH = r"^[0-9]{4}/[0-9]{1,2}/[0-9]{1,2}"
# Whole days since 1899-12-30 between 1955 and 2119: how Excel stores a date.
_SERIAL = r"^[0-9]{5}(?:\.[0-9]+)?$"
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")

EXAMPLE = "use 2024-01-05, 2024-01-05 13:45 or 2024-01-05T13:45:00Z"
# Longer than any way of writing a date ("Wednesday, 05 January 2024 13:45:00.123456
# +05:30" is 49): such a cell is reported without being parsed, which could take minutes.
MAX_DATE_LENGTH = 100


@dataclass
class ParsedDates:
    """`iso`: the UTC text to send ("" where blank or unreadable); `error`: why not."""

    iso: pd.Series
    error: pd.Series
    order: DateOrder | None  # the order this column was read in, when it mattered
    ambiguous: bool  # every numeric value could be read either way


@functools.lru_cache(maxsize=1)
def _zone_names() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones() | {"UTC"}))


@functools.lru_cache(maxsize=64)
def check_timezone(name: str) -> str:
    """`name` when it is an IANA time zone (`UTC`, `Europe/Berlin`); else TimezoneError
    naming the nearest zones. Only names from the zone list are taken: a path such as
    `../../etc/passwd` or an offset such as `+` never reaches the zone loader."""
    names = _zone_names()
    if name in names:
        return name
    if not name.strip():
        raise TimezoneError("The time zone is empty: give a zone such as UTC or Europe/Berlin.")
    folded = [zone for zone in names if zone.casefold() == name.strip().casefold()]
    if folded:
        return folded[0]
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(close)}?" if close else "use a name such as Europe/Berlin"
    raise TimezoneError(
        f"The time zone {name[:60]!r} is not a known zone: {hint} (write the zone as "
        "Region/City, or UTC)."
    )


def parse_dates(
    values: pd.Series,
    *,
    timezone: str = "UTC",
    order: DateOrder | None = None,
) -> ParsedDates:
    """Parse a column of date text; blank cells stay blank and are not errors.

    Raises TimezoneError when `timezone` is not a known zone name.
    """
    timezone = check_timezone(timezone)
    text = values.astype("str")
    canonical = _canonical(text, with_seconds=timezone != "UTC")
    if canonical is None:
        return _parse_general(text, timezone, order)
    # Most exports write every date as `YYYY-MM-DD HH:MM:SS`: those are read by byte
    # arithmetic, the general parser reads only the other rows. The column-wide choices
    # (day-first or month-first) are made from the numeric dates, which are never
    # canonical, so they come out the same.
    where, iso, error = _canonical_iso(canonical, timezone)
    rest = np.ones(len(text), dtype=bool)
    rest[where] = False
    if not rest.any():
        return ParsedDates(
            iso=pd.Series(iso, index=text.index, dtype="str"),
            error=pd.Series(error, index=text.index, dtype="str"),
            order=None,  # no numeric dates: no order was needed
            ambiguous=False,
        )
    others = _parse_general(text[rest], timezone, order)
    # Each row takes its text from the part that read it: the canonical rows first.
    position = np.empty(len(text), dtype=np.int64)
    position[where] = np.arange(len(where))
    position[rest] = len(where) + np.arange(len(text) - len(where))
    take = pa.array(position)

    def merged(fast: pa.Array, other: pd.Series) -> pd.Series:
        other_data = arrow_text.flat(pa.array(other.array))
        fast = arrow_text.flat(fast)
        # Where one part is blank throughout (no error among the canonical dates; no
        # date read among the others), the other part's bytes are the answer's as they
        # are, in row order: only the offsets are new, without a take of every cell.
        if _all_blank(fast) and not other_data.null_count:
            return _spread(len(text), rest, other_data, text.index)
        if _all_blank(other_data) and not fast.null_count:
            return _spread(len(text), ~rest, fast, text.index)
        both = pa.concat_arrays([fast, other_data])
        return pd.Series(both.take(take), index=text.index, dtype="str")

    return ParsedDates(
        iso=merged(iso, others.iso),
        error=merged(error, others.error),
        order=others.order,
        ambiguous=others.ambiguous,
    )


def _spread(count: int, rows: np.ndarray, texts: pa.LargeStringArray, index: pd.Index) -> pd.Series:
    """`texts` (one per true row of `rows`, in order) at their rows, "" elsewhere."""
    lengths = np.zeros(count, dtype=np.int64)
    lengths[rows] = arrow_text.byte_lengths(texts)
    starts, data = arrow_text.offsets_and_bytes(texts)
    used = np.ascontiguousarray(data[starts[0] : starts[-1]])
    return pd.Series(arrow_text.texts_of(lengths, used), index=index, dtype="str")


def _all_blank(data: pa.Array | pa.ChunkedArray) -> bool:
    """Whether every cell is "" (none missing)."""
    return not data.null_count and not pc.sum(pc.binary_length(data)).as_py()


@dataclass
class _Canonical:
    """The rows written `YYYY-MM-DD HH:MM:SS` (or with `T`) that are real times."""

    where: np.ndarray  # their positions
    text: np.ndarray  # their 19 bytes each, one row per value
    seconds: np.ndarray | None  # seconds since 1970 (as written, in no zone yet), if asked


_CANONICAL_LENGTH = 19
_FIRST_YEAR, _LAST_YEAR = 1678, 2261  # the whole years nanoseconds hold


def _pair_table() -> np.ndarray:
    """Two bytes read as one little-endian number -> the two digits' value, or 128."""
    table = np.full(1 << 16, 128, dtype=np.uint8)
    tens, ones = np.divmod(np.arange(100), 10)
    table[(ones + 48) << 8 | (tens + 48)] = np.arange(100)
    return table


@functools.cache
def _day_table() -> np.ndarray:
    """Days since 1970-01-01 at [(year - 1678) * 416 + month * 32 + day], or -2**31 where
    there is no such day (February 30th, month 13)."""
    years = np.arange(_FIRST_YEAR, _LAST_YEAR + 1)
    first_days = (years - 1970).astype("datetime64[Y]").astype("datetime64[D]").astype(np.int64)
    leap = ((years % 4 == 0) & (years % 100 != 0)) | (years % 400 == 0)
    month_days = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
    table = np.full((len(years), 13, 32), np.iinfo(np.int32).min, dtype=np.int64)
    for month in range(1, 13):
        before = month_days[: month - 1].sum() + (leap & (month > 2))
        length = month_days[month - 1] + (leap & (month == 2))
        for day in range(1, 32):
            fits = day <= length
            table[fits, month, day] = first_days[fits] + before[fits] + day - 1
    return table.reshape(-1)


_PAIRS = _pair_table()
_PAIR_AT = (0, 2, 5, 8, 11, 14, 17)  # YY YY-MM-DD HH:MM:SS
_SEPARATORS = ((4, 45), (7, 45), (13, 58), (16, 58))  # "-" "-" ":" ":"


def _canonical(text: pd.Series, *, with_seconds: bool) -> _Canonical | None:
    """The canonical rows of `text`, or None when there are none. A value that looks
    canonical but is no real time (`2024-02-30`, `10:00:60`) or falls outside the years
    nanoseconds hold (1678-2261) is left to the general parser, which explains it."""
    data = arrow_text.arrow(text)
    if data is None or not len(text):
        return None
    array = arrow_text.flat(data)
    lengths = arrow_text.byte_lengths(array)
    fits = lengths == _CANONICAL_LENGTH
    if array.null_count:
        fits &= ~array.is_null().to_numpy(zero_copy_only=False)
    where = np.flatnonzero(fits)
    if not len(where):
        return None
    flat_bytes = _bytes_of(array, lengths, fits)
    grid = flat_bytes.reshape(-1, _CANONICAL_LENGTH)
    # Each pair of digits is read as one 16-bit number through a table: one look-up
    # both checks that they are digits and gives their value (128 where they are not).
    pairs = [
        _PAIRS[
            np.ndarray(
                (len(grid),), "<u2", flat_bytes, offset=at, strides=(_CANONICAL_LENGTH,)
            )
        ]
        for at in _PAIR_AT
    ]
    century, decade, month, day, hour, minute, second = pairs
    ok = (century | decade | month | day | hour | minute | second) < 128
    for at, byte in _SEPARATORS:
        ok &= grid[:, at] == byte
    ok &= (grid[:, 10] == 32) | (grid[:, 10] == 84)  # " " or "T"
    ok &= (hour <= 23) & (minute <= 59) & (second <= 59)
    year = century.astype(np.int32) * 100 + decade - _FIRST_YEAR
    ok &= (year >= 0) & (year <= _LAST_YEAR - _FIRST_YEAR) & (month <= 12) & (day <= 31)
    ok &= (month >= 1) & (day >= 1)
    # Every month has 28 days: the calendar is asked only about the 29th to the 31st.
    late = np.flatnonzero(ok & (day > 28))
    if len(late):
        at = year[late] * 416 + month[late].astype(np.int32) * 32 + day[late]
        ok[late] = _day_table()[at] >= -(1 << 30)
    if not ok.all():
        keep = np.flatnonzero(ok)
        if not len(keep):
            return None
        where, grid, year = where[keep], grid[keep], year[keep]
        month, day, hour, minute, second = (
            month[keep], day[keep], hour[keep], minute[keep], second[keep]
        )
    seconds = None
    if with_seconds:  # for a zone other than UTC: the text alone is UTC's answer
        days = _day_table()[year * 416 + month.astype(np.int32) * 32 + day]
        clock = hour.astype(np.int32) * 3600 + minute.astype(np.int32) * 60 + second
        seconds = days * 86400 + clock
    return _Canonical(where=where, text=grid, seconds=seconds)


def _bytes_of(array: pa.LargeStringArray, lengths: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """The bytes of the cells where `keep` is true, one after the other. Blank cells hold
    no bytes: only the few other cells left out (a date written another way) are cut
    out of the column's bytes, without a copy of the column cell by cell."""
    starts, data = arrow_text.offsets_and_bytes(array)
    cut = np.flatnonzero(~keep & (lengths > 0))
    if not len(cut):
        used: np.ndarray = data[starts[0] : starts[-1]]
        return used
    if len(cut) > 5_000:  # past that, a take of the kept cells is quicker than the pieces
        taken = arrow_text.flat(array.take(pa.array(np.flatnonzero(keep))))
        taken_starts, taken_data = arrow_text.offsets_and_bytes(taken)
        kept: np.ndarray = taken_data[taken_starts[0] : taken_starts[-1]]
        return kept
    bounds = np.empty(2 * len(cut) + 2, dtype=np.int64)
    bounds[0], bounds[-1] = starts[0], starts[-1]
    bounds[1:-1:2] = starts[cut]  # a piece ends where a cut cell starts,
    bounds[2:-1:2] = starts[cut + 1]  # and the next one starts where it ends
    pieces = [data[a:b] for a, b in zip(bounds[::2].tolist(), bounds[1::2].tolist(), strict=True)]
    joined: np.ndarray = np.concatenate(pieces)
    return joined


def _canonical_iso(canonical: _Canonical, timezone: str) -> tuple[np.ndarray, pa.Array, pa.Array]:
    """(positions, UTC text, error) of the canonical rows."""
    count = len(canonical.where)
    if timezone == "UTC":
        # The text is already the answer: `T` between date and time, and `Z` after.
        out = np.empty((count, _CANONICAL_LENGTH + 1), dtype=np.uint8)
        out[:, :_CANONICAL_LENGTH] = canonical.text
        out[:, 10] = ord("T")
        out[:, _CANONICAL_LENGTH] = ord("Z")
        # Text of fixed width: the bytes as they are, offsets every 20 (no cast, no copy).
        iso = arrow_text.texts_of(np.full(count, _CANONICAL_LENGTH + 1, dtype=np.int64), out)
        return canonical.where, iso, arrow_text.empty_texts(count)
    assert canonical.seconds is not None  # asked for every zone but UTC
    naive = pd.Series(canonical.seconds.astype("datetime64[s]").astype("datetime64[ns]"))
    localized = _localize(naive, timezone)
    gap = localized.isna().to_numpy()
    error = arrow_text.empty_texts(count)
    if gap.any():
        error = pa.array(np.where(gap, _gap_message(timezone), ""), pa.large_string())
    iso = arrow_text.flat(pa.array(_format(localized.dt.tz_convert(UTC)).array))
    return canonical.where, iso, error


def _gap_message(timezone: str) -> str:
    return (
        f"does not exist or happens twice in {timezone} (the clocks change then): "
        "add the offset, like 2024-03-31T02:30:00+01:00"
    )


def _parse_general(text: pd.Series, timezone: str, order: DateOrder | None) -> ParsedDates:
    """Any way of writing a date this tool reads (see the module's docstring)."""
    text = text.str.strip()
    too_long = text.str.len() > MAX_DATE_LENGTH
    if too_long.any():
        text = text.where(~too_long, "")  # left blank here, reported at the end
    stamps = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns, UTC]")
    naive = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    error = pd.Series("", index=text.index, dtype="str")
    blank = text == ""

    # Values are written into `stamps`/`naive` with positional (numpy) right-hand sides:
    # they come from `text[mask]`, in the same order, so there is nothing to align.
    # 2024/01/05 is ISO with slashes: make it ISO, so a zone after it is read as one.
    slashed = text.str.match(_YMD_SLASH).fillna(False).astype(bool)
    if slashed.any():
        text = text.where(~slashed, text.str.replace("/", "-"))
    iso_match = text.str.match(_ISO)
    zoned = text.str.contains(_ISO_ZONE) & iso_match
    if zoned.any():
        z = text[zoned].str.replace(SPACE + "*UTC$", "Z", regex=True).str.replace(",", ".")
        stamps[zoned] = _in_ns(pd.to_datetime(z, format="ISO8601", errors="coerce", utc=True))

    iso = iso_match & ~zoned
    # The other forms cannot match _ISO: look for them only among the values that did not
    # (none, in a column of ISO dates), and spread the answers back over the column.
    others = ~iso_match & ~blank
    other_text = text[others]

    def among_others(pattern: str) -> pd.Series:
        found = pd.Series(False, index=text.index)
        if len(other_text):
            found[others] = other_text.str.match(pattern).fillna(False).to_numpy(dtype=bool)
        return found

    iso_like = iso
    if iso_like.any():
        t = text[iso_like].str.replace(",", ".")
        try:
            parsed_iso = pd.to_datetime(t, format="ISO8601", errors="coerce")
        except ValueError:  # a zone the patterns above did not see: value by value
            parsed_iso = pd.to_datetime(
                pd.Series([_naive_or_nat(v) for v in t], index=t.index), errors="coerce"
            )
        naive[iso_like] = _in_ns(parsed_iso)

    serial = among_others(_SERIAL)
    if serial.any():
        days = pd.to_numeric(text[serial], errors="coerce")
        naive[serial] = (_EXCEL_EPOCH + pd.to_timedelta(days, unit="D").dt.round("s")).array

    numeric = among_others(_NUMERIC_MATCH)
    used_order: DateOrder | None = None
    ambiguous = False
    if numeric.any():
        parts = text[numeric].str.extract(_NUMERIC)
        a, b = parts["a"].astype(int), parts["b"].astype(int)
        day_first_seen, month_first_seen = bool((a > 12).any()), bool((b > 12).any())
        if order is not None:
            used_order = order
        elif day_first_seen and not month_first_seen:
            used_order = "day-first"
        elif month_first_seen and not day_first_seen:
            used_order = "month-first"
        elif day_first_seen and month_first_seen:
            error[numeric] = (
                "this column mixes day-first and month-first dates (some have a day over "
                f"12 first, others second): write them all one way, or {EXAMPLE}"
            )
        else:
            ambiguous = True
            error[numeric] = (
                "could be day-first or month-first (every date in this column could be "
                f"read both ways): choose the date order, or {EXAMPLE}"
            )
        if used_order is not None:
            naive[numeric] = _in_ns(_from_parts(parts, used_order))

    rest = ~(blank | zoned | iso_like | serial | numeric)
    if rest.any():
        aware_utc, naive_values = _parse_others(text[rest], dayfirst=order == "day-first")
        if aware_utc:
            mask = rest & text.isin(list(aware_utc))
            stamps[mask] = _in_ns(pd.to_datetime(text[mask].map(aware_utc), utc=True))
        if naive_values:
            mask = rest & text.isin(list(naive_values))
            naive[mask] = _in_ns(text[mask].map(naive_values))

    if timezone != "UTC":
        naive = naive.mask(_near_the_ends(naive))
    has_naive = naive.notna()
    if has_naive.any():
        localized = _localize(naive[has_naive], timezone)
        gap = localized.isna()
        if gap.any():
            error[gap[gap].index] = _gap_message(timezone)
        stamps[has_naive] = localized.dt.tz_convert(UTC).array

    unread = ~blank & stamps.isna() & (error == "")
    if unread.any():
        error[unread] = f"is not a date this tool can read: {EXAMPLE}"
    if too_long.any():
        error[too_long] = f"is too long to be a date: {EXAMPLE}"
    return ParsedDates(iso=_format(stamps), error=error, order=used_order, ambiguous=ambiguous)


def _localize(naive: pd.Series, timezone: str) -> pd.Series:
    """Times without a zone in `timezone`; NaT where it does not exist or happens twice."""
    localized: pd.Series = naive.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
    return localized


def _near_the_ends(naive: pd.Series) -> pd.Series:
    """Times so near the ends of what nanoseconds hold (1677-09-21, 2262-04-11) that a
    zone's offset could carry them past: unreadable in any zone but UTC, not a crash."""
    margin = pd.Timedelta(days=1)
    return (naive < pd.Timestamp.min + margin) | (naive > pd.Timestamp.max - margin)


def _in_ns(values: Any) -> Any:
    """Datetimes of any unit as nanoseconds, positionally, NaT where they fall outside what
    nanoseconds hold (1677-09-21 to 2262-04-11): a year typed as 0224 or 2924 is
    unreadable, not a crash. pandas reads text as microseconds, which hold any year."""
    stamps = pd.Series(values)
    if stamps.dt.unit != "ns":
        first, last = pd.Timestamp.min, pd.Timestamp.max
        if stamps.dt.tz is not None:
            first, last = first.tz_localize(UTC), last.tz_localize(UTC)
        stamps = stamps.where((stamps >= first) & (stamps <= last)).dt.as_unit("ns")
    return stamps.array


def _parse_others(
    text: pd.Series, *, dayfirst: bool
) -> tuple[dict[str, pd.Timestamp], dict[str, pd.Timestamp]]:
    """The values no pattern recognised (`Jan 5, 2024`, RFC 2822, ...), each distinct value
    parsed once: ({value: zoned time}, {value: time without zone})."""
    unique = pd.Series(text.unique())
    # The general parser reads Arabic-Indic and other digits too, but not in the column's
    # date order (05/01/٢٠٢٤ as May in a day-first column): such values are not read.
    other_digits = unique.map(lambda v: any(c.isdigit() and not c.isascii() for c in v))
    unique = unique[~other_digits.astype(bool)]
    try:
        parsed = pd.to_datetime(unique, format="mixed", errors="coerce", dayfirst=dayfirst)
    except ValueError:  # zones in some values and not in others, or different zones
        parsed = pd.Series(
            [pd.to_datetime(v, errors="coerce", dayfirst=dayfirst) for v in unique],
            dtype=object,
        )
    lookup = dict(zip(unique, parsed, strict=True))
    aware = {
        v: p.tz_convert(UTC) for v, p in lookup.items() if pd.notna(p) and p.tzinfo is not None
    }
    plain = {v: p for v, p in lookup.items() if pd.notna(p) and p.tzinfo is None}
    return aware, plain


def _naive_or_nat(value: str) -> pd.Timestamp | None:
    """One ISO value without a zone, or None (a value with a zone is not naive)."""
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, OverflowError):
        return None
    return None if pd.isna(stamp) or stamp.tzinfo is not None else stamp


def _from_parts(parts: pd.DataFrame, order: DateOrder) -> pd.Series:
    a, b = parts["a"].astype(int), parts["b"].astype(int)
    year = parts["y"].astype(int)
    year = year.where(year >= 100, year + 2000)
    hour = parts["hh"].fillna("0").replace("", "0").astype(int)
    pm = parts["ampm"].fillna("").str.lower()
    hour = hour.where(~((pm == "pm") & (hour < 12)), hour + 12)
    hour = hour.where(~((pm == "am") & (hour == 12)), 0)
    frame = pd.DataFrame(
        {
            "year": year,
            "month": b if order == "day-first" else a,
            "day": a if order == "day-first" else b,
            "hour": hour,
            "minute": parts["mi"].fillna("0").replace("", "0").astype(int),
            "second": parts["ss"].fillna("0").replace("", "0").astype(int),
        }
    )
    return pd.to_datetime(frame, errors="coerce")


def _format(stamps: pd.Series) -> pd.Series:
    """UTC text with `Z`; fractions of a second kept only where there are some."""
    values = stamps.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    ok = ~np.isnat(values)
    if not ok.any():
        return pd.Series("", index=stamps.index, dtype="str")
    # Whole seconds for every value at once, then the few with a fraction one by one.
    text = _iso_seconds(values[ok])
    micro = values[ok].astype(np.int64) % 1_000_000_000 // 1000
    fractions = np.flatnonzero(micro)
    if fractions.size:
        listed = text.to_pylist()
        for i in fractions:
            listed[i] = listed[i][:-1] + f".{micro[i]:06d}".rstrip("0") + "Z"
        text = pa.array(listed, pa.large_string())
    # Blank where there is no date: take "" (appended last) for those positions.
    where = np.full(len(values), len(text), dtype=np.int64)
    where[ok] = np.arange(len(text))
    full = pa.concat_arrays([text.cast(pa.large_string()), pa.array([""], pa.large_string())])
    return pd.Series(full.take(pa.array(where)), index=stamps.index, dtype="str")


_DIGITS2 = np.frombuffer("".join(f"{i:02d}" for i in range(100)).encode(), np.uint8).reshape(100, 2)
_DIGITS4 = np.frombuffer("".join(f"{i:04d}" for i in range(10000)).encode(), np.uint8).reshape(
    10000, 4
)
_ISO_TEMPLATE = np.frombuffer(b"0000-00-00T00:00:00Z", np.uint8)


def _iso_seconds(values: np.ndarray) -> pa.Array:
    """`YYYY-MM-DDTHH:MM:SSZ` for datetime64 values (no NaT) between years 0 and 9999.

    A thousand times faster than formatting each value: the calendar date comes from the
    day number by Howard Hinnant's civil-from-days arithmetic, the digits from lookup
    tables into one byte matrix that becomes the text column without a copy.
    """
    seconds = values.astype("datetime64[s]").astype(np.int64)
    days, secs = np.divmod(seconds, 86400)
    secs = secs.astype(np.int32)
    z = days + 719468
    era = z // 146097
    doe = (z - era * 146097).astype(np.int32)  # day of the 400-year era
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153  # month counted from March
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + (era * 400).astype(np.int32) + (month <= 2)
    out = np.empty((len(values), len(_ISO_TEMPLATE)), dtype=np.uint8)
    out[:] = _ISO_TEMPLATE
    out[:, 0:4] = _DIGITS4[year]
    out[:, 5:7] = _DIGITS2[month]
    out[:, 8:10] = _DIGITS2[day]
    out[:, 11:13] = _DIGITS2[secs // 3600]
    out[:, 14:16] = _DIGITS2[secs // 60 % 60]
    out[:, 17:19] = _DIGITS2[secs % 60]
    fixed = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(len(_ISO_TEMPLATE)), len(values), [None, pa.py_buffer(out)]
    )
    return fixed.cast(pa.string())


def utc_now() -> pd.Timestamp:
    return pd.Timestamp(datetime.now(UTC))
