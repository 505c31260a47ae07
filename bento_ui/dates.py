"""Read a column of dates the way the person meant them, and write them as Bento wants.

The format is decided per column, not per cell: a column holding `26.11.2026` is
day-first throughout, and a column where every value is ambiguous (`05/01/2024`) is
flagged unless the person says which order they use; it is never guessed. Excel serial
numbers (`45296`, `45296.5`) are understood. A time without a zone is taken in the zone
the person chooses (UTC by default). Everything comes out as UTC ISO 8601 with `Z`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import pandas as pd

DateOrder = Literal["day-first", "month-first"]

_TIME = r"(?:[ T]+(?P<hh>\d{1,2}):(?P<mi>\d{2})(?::(?P<ss>\d{2}))?\s*(?P<ampm>[AaPp][Mm])?)?"
_NUMERIC = r"^(?P<a>\d{1,2})(?P<sep>[./-])(?P<b>\d{1,2})(?P=sep)(?P<y>\d{4}|\d{2})" + _TIME + "$"
_ISO = r"^\d{4}-\d{1,2}-\d{1,2}(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?"
_ISO_ZONE = r"\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:Z|z|UTC|[+-]\d{2}(?::?\d{2})?)$"
_YMD_SLASH = r"^\d{4}/\d{1,2}/\d{1,2}"
# Whole days since 1899-12-30 between 1955 and 2119: how Excel stores a date.
_SERIAL = r"^\d{5}(?:\.\d+)?$"
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")

EXAMPLE = "use 2024-01-05, 2024-01-05 13:45 or 2024-01-05T13:45:00Z"


@dataclass
class ParsedDates:
    """`iso`: the UTC text to send ("" where blank or unreadable); `error`: why not."""

    iso: pd.Series
    error: pd.Series
    order: DateOrder | None  # the order this column was read in, when it mattered
    ambiguous: bool  # every numeric value could be read either way


def parse_dates(
    values: pd.Series,
    *,
    timezone: str = "UTC",
    order: DateOrder | None = None,
) -> ParsedDates:
    """Parse a column of date text; blank cells stay blank and are not errors."""
    text = values.astype("str").str.strip()
    stamps = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns, UTC]")
    naive = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    error = pd.Series("", index=text.index, dtype="str")
    blank = text == ""

    zoned = text.str.contains(_ISO_ZONE) & text.str.match(_ISO)
    if zoned.any():
        z = text[zoned].str.replace(r"\s*UTC$", "Z", regex=True).str.replace(",", ".")
        stamps[zoned] = pd.to_datetime(z, format="ISO8601", errors="coerce", utc=True)

    iso = text.str.match(_ISO) & ~zoned
    slash_ymd = text.str.match(_YMD_SLASH)
    iso_like = iso | slash_ymd
    if iso_like.any():
        t = text[iso_like].str.replace("/", "-").str.replace(",", ".")
        naive[iso_like] = pd.to_datetime(t, format="ISO8601", errors="coerce")

    serial = text.str.match(_SERIAL)
    if serial.any():
        days = pd.to_numeric(text[serial], errors="coerce")
        naive[serial] = _EXCEL_EPOCH + pd.to_timedelta(days, unit="D").dt.round("s")

    numeric = text.str.match(_NUMERIC)
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
            naive[numeric] = _from_parts(parts, used_order)

    rest = ~(blank | zoned | iso_like | serial | numeric)
    if rest.any():
        unique = pd.Series(text[rest].unique())
        parsed = pd.to_datetime(
            unique, format="mixed", errors="coerce", dayfirst=order == "day-first"
        )
        lookup = dict(zip(unique, parsed, strict=True))
        tz_aware = [v for v, p in lookup.items() if pd.notna(p) and p.tzinfo is not None]
        for v in tz_aware:
            stamps[text == v] = lookup[v].tz_convert(UTC)
        naive_vals = {v: p for v, p in lookup.items() if pd.notna(p) and p.tzinfo is None}
        mask = rest & text.isin(list(naive_vals))
        naive[mask] = text[mask].map(naive_vals)

    has_naive = naive.notna()
    if has_naive.any():
        localized = naive[has_naive].dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
        gap = localized.isna()
        if gap.any():
            error[gap[gap].index] = (
                f"does not exist or happens twice in {timezone} (the clocks change then): "
                "add the offset, like 2024-03-31T02:30:00+01:00"
            )
        stamps[has_naive] = localized.dt.tz_convert(UTC)

    unread = ~blank & stamps.isna() & (error == "")
    error[unread] = f"is not a date this tool can read: {EXAMPLE}"
    return ParsedDates(iso=_format(stamps), error=error, order=used_order, ambiguous=ambiguous)


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
    out = pd.Series("", index=stamps.index, dtype="str")
    ok = stamps.notna()
    if ok.any():
        s = stamps[ok]
        text = s.dt.strftime("%Y-%m-%dT%H:%M:%S")
        micro = s.dt.microsecond
        frac = micro.map(lambda m: f".{m:06d}".rstrip("0") if m else "")
        out[ok] = text + frac.astype("str") + "Z"
    return out


def utc_now() -> pd.Timestamp:
    return pd.Timestamp(datetime.now(UTC))
