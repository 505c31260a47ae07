"""Money: a `$purchase` amount as Bento wants it, integer minor units (cents).

Exports write amounts in currency units (`32.00`, `1,299.00`, `49,99`); Bento wants
`details.value.amount` in the currency's minor units (3200). The person says which unit
a column is in (`MAJOR` or `MINOR`), and `to_minor` turns a whole column into minor
units by each row's currency exponent (ISO 4217: USD x100, JPY x1, KWD x1000), on the
digits as text: never through a float, so nothing is rounded. More decimals than the
currency has is an error, and so is a decimal amount said to be in minor units.

    to_minor(amounts, currencies, unit=MAJOR)   # -> MoneyColumn(minor, error)
    minor_units("49.99", "USD")                 # -> 4999, for one value (Compose)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

Unit = Literal["major", "minor"]
MAJOR: Unit = "major"  # currency units: 32.00 USD
MINOR: Unit = "minor"  # minor units (cents): 3200
UNITS = (MAJOR, MINOR)
MAX_MINOR = 2**63 - 1  # what a JSON integer reader (and Bento's database) takes

# ISO 4217 minor units of the active codes; every code not listed here has 2.
_EXPONENT_0 = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_EXPONENT_3 = "BHD IQD JOD KWD LYD OMR TND"
_EXPONENT_4 = "CLF UYW"
_EXPONENT_2 = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN "
    "BWP BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUC CUP CVE CZK DKK DOP DZD EGP ERN "
    "ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES "
    "KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK "
    "MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR "
    "SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD "
    "TWD TZS UAH USD USN UZS VED VES WST XCD XCG YER ZAR ZMW ZWG ZWL"
)
EXPONENTS: dict[str, int] = {
    code: exponent
    for codes, exponent in ((_EXPONENT_2, 2), (_EXPONENT_0, 0), (_EXPONENT_3, 3), (_EXPONENT_4, 4))
    for code in codes.split()
}

# Digit grouping as exports write it: 1,299.00 / 1.299,00 / 1 299,00 / 1'299.00.
# Digits are ASCII [0-9] throughout: Python's \d takes Arabic-Indic and other digits, which
# int() reads but no export means as an amount.
_GROUPING = " \u00a0\u202f'"
# The spaces are the characters themselves, not `\u` escapes: pandas runs a pattern
# with an escape in Python's re, one value at a time, and one without in pyarrow (RE2).
_DOT_DECIMAL = f"-?(?:[0-9]{{1,3}}(?:[,{_GROUPING}][0-9]{{3}})+|[0-9]+)(?:[.][0-9]+)?"
_COMMA_DECIMAL = f"-?(?:[0-9]{{1,3}}(?:[.{_GROUPING}][0-9]{{3}})+|[0-9]+)(?:,[0-9]+)?"
_WRITTEN = f"[0-9,.{_GROUPING}]"  # what an amount is written with


class MoneyError(ValueError):
    """An amount that cannot be turned into minor units; the message says what to do."""


@dataclass
class MoneyColumn:
    """`to_minor`'s answer: per row, the amount in minor units as digits ("" where it is
    not one) and, where it is not, why ("" where it is)."""

    minor: pd.Series
    error: pd.Series


def exponent_of(currency: str) -> int | None:
    """The ISO 4217 minor-unit count of a code (USD 2, JPY 0, KWD 3), None when unknown."""
    return EXPONENTS.get(currency.strip().upper())


def has_decimals(values: pd.Series) -> bool:
    """Whether a column holds amounts written with decimals (`32.00`, `49,99`): they are
    in currency units, not cents."""
    text = values.astype("str").str.strip()
    return bool(text.str.fullmatch(f"-?{_WRITTEN}*[0-9][.,][0-9]{{1,2}}").any())


def decimal_mark(values: pd.Series) -> str:
    """The decimal mark of a column of currency amounts: the later of `.` and `,` where a
    value has both (1.299,00), a comma followed by 1, 2 or 4+ digits (49,99, 1 299,00),
    else `.`."""
    return mark_of([mark_signs(values)])


class MarkSigns(NamedTuple):
    """What some currency amounts show of their decimal mark: the mark of the first one
    written with both `.` and `,` (1.299,00 -> ","), if any, and whether one is written
    with a comma followed by 1, 2 or 4+ digits (49,99, 1 299,00)."""

    both: str | None
    comma_decimal: bool


def mark_signs(values: pd.Series) -> MarkSigns:
    text = values.astype("str").str.strip()
    both = text[text.str.contains(",", regex=False) & text.str.contains(".", regex=False)]
    first = None
    if len(both):
        first = "," if both.iloc[0].rfind(",") > both.iloc[0].rfind(".") else "."
    # 49,99 and 1 299,00 (French): digits, grouped by spaces or not, then a comma
    # followed by anything but three digits (1,299 is one thousand two hundred ninety-nine).
    comma_decimal = text.str.fullmatch(
        f"-?(?:[0-9]+|[0-9]{{1,3}}(?:[{_GROUPING}][0-9]{{3}})+),(?:[0-9]{{1,2}}|[0-9]{{4,}})"
    )
    return MarkSigns(first, bool(comma_decimal.any()))


def mark_of(signs: Iterable[MarkSigns]) -> str:
    """The decimal mark the signs of a column's parts, in order, decide for the whole
    column (a file's chunks, see `bento_ui.pipeline`), as `decimal_mark` decides it."""
    signs = list(signs)
    for sign in signs:
        if sign.both:
            return sign.both
    return "," if any(sign.comma_decimal for sign in signs) else "."


# Cents as shops export them: no sign, no leading zero, at most 18 digits (so below 2**63).
_PLAIN_CENTS = r"^(?:0|[1-9][0-9]{0,17})$"


def to_minor(
    amounts: pd.Series, currencies: pd.Series, *, unit: Unit = MINOR, mark: str | None = None
) -> MoneyColumn:
    """Each amount in minor units of its row's currency (see the module's docstring).

    `amounts` and `currencies` are text, already trimmed; a row whose currency is not a
    known code gets no error here (the currency's own check says why) and no amount.
    `mark` is the decimal mark of currency units when it was decided for more than these
    amounts (a whole file); else `decimal_mark` decides it from them.
    """
    text = amounts.astype("str")
    if len(text) >= _DISTINCT_FROM:
        # A column of prices repeats a few amounts in a few currencies: each distinct
        # (amount, currency) pair is read once and its answer spread over its rows.
        # Pairs keep the order they first appear in, so `decimal_mark` decides the same.
        amount_codes, amount_values = pd.factorize(text, use_na_sentinel=False)
        currency_codes, currency_values = pd.factorize(
            currencies.astype("str"), use_na_sentinel=False
        )
        pair_codes, pairs = pd.factorize(
            amount_codes.astype(np.int64) * len(currency_values) + currency_codes
        )
        if len(pairs) * 2 <= len(text):
            if unit == MAJOR and mark is None:
                mark = decimal_mark(pd.Series(amount_values))
            distinct = _by_rows(
                pd.Series(amount_values.take(pairs // len(currency_values))),
                pd.Series(currency_values.take(pairs % len(currency_values))),
                unit,
                mark,
            )
            return MoneyColumn(
                minor=_spread(distinct.minor, pair_codes, text.index),
                error=_spread(distinct.error, pair_codes, text.index),
            )
    return _by_rows(text, currencies, unit, mark)


def _by_rows(text: pd.Series, currencies: pd.Series, unit: Unit, mark: str | None) -> MoneyColumn:
    """`to_minor` row by row (in whole-column passes)."""
    if unit != MINOR or len(text) == 0:
        return _to_minor(text, currencies, unit, mark)
    # Candidates first: plain cents are their own minor units, found in one pyarrow pass;
    # only the other amounts (a few, or none) take the general rules.
    plain = pc.fill_null(pc.match_substring_regex(pa.array(text.array), _PLAIN_CENTS), False)
    rest = ~plain.to_numpy(zero_copy_only=False).astype(bool)
    error = pd.Series("", index=text.index, dtype="str")
    if not rest.any():
        return MoneyColumn(minor=text, error=error)
    general = _to_minor(text[rest], currencies[rest], unit, mark)
    minor = text.copy()
    minor[rest] = general.minor.to_numpy()
    error[rest] = general.error.to_numpy()
    return MoneyColumn(minor=minor, error=error)


_DISTINCT_FROM = 64  # below that, the rows are read as they are


def _spread(values: pd.Series, codes: np.ndarray, index: pd.Index) -> pd.Series:
    """`values[codes]` with `index`: one distinct pair's answer on each of its rows."""
    return pd.Series(values.array.take(codes), index=index, dtype=values.dtype)


def _to_minor(text: pd.Series, currencies: pd.Series, unit: Unit, mark: str | None) -> MoneyColumn:
    """`to_minor` by the general rules, for any amount."""
    error = pd.Series("", index=text.index, dtype="str")
    if unit == MINOR:
        whole = text.str.fullmatch(r"-?[0-9]+").fillna(False).astype(bool)
        number = text.str.fullmatch(f"-?{_WRITTEN}*[0-9]").fillna(False).astype(bool)
        decimal = ~whole & number
        error[decimal] = (
            "has decimals, but the column is read as minor units (cents): if it is in "
            "currency units (32.00 for 32 dollars), say the column is in currency units "
            "(amounts='major'; --amounts major in the CLI)"
        )
        error[~whole & ~decimal] = _NOT_A_NUMBER
        digits = text.where(whole, "")
    else:
        mark = mark or decimal_mark(text)
        pattern = _COMMA_DECIMAL if mark == "," else _DOT_DECIMAL
        ok = text.str.fullmatch(pattern).fillna(False).astype(bool)
        error[~ok] = _NOT_A_NUMBER if mark == "." else _NOT_A_NUMBER_COMMA
        # As for cents: 007.50 and -0.00 are not how an amount is written (0.99 is).
        leading = ok & text.str.match(r"-?0[0-9]").fillna(False).astype(bool)
        if leading.any():
            error[leading] = _leading_zeros(text[leading])
        negative_zero = ok & text.str.fullmatch(f"-[0.,{_GROUPING}]+").fillna(False).astype(bool)
        error[negative_zero] = "is -0: write 0"
        ok = ok & ~leading & ~negative_zero
        grouping = _GROUPING + ("." if mark == "," else ",")
        plain = text.where(ok, "").str.translate(str.maketrans("", "", grouping))
        whole_part = plain.str.partition(mark)
        units, fraction = whole_part[0], whole_part[2]
        exponents = currencies.astype("str").str.upper().map(EXPONENTS)
        known = exponents.notna()
        places = exponents.fillna(0).astype(np.int64)
        too_many = ok & known & (fraction.str.len() > places)
        if too_many.any():
            error[too_many] = (
                "has more decimals than "
                + currencies[too_many].astype("str").str.upper()
                + " has ("
                + places[too_many].astype("str")
                + "): check the amount and its currency; amounts are never rounded"
            )
        # Pad the fraction to the currency's places and join: 32.5 USD -> "32" + "50".
        padded = _pad_right(fraction, places)
        digits = (units + padded).where(ok & known & ~too_many, "")
    sign = digits.str.startswith("-")
    magnitude = digits.str.lstrip("-")
    if unit == MINOR:
        leading = (magnitude.str.len() > 1) & magnitude.str.startswith("0")
        if leading.any():
            error[leading] = _leading_zeros(text[leading])
        negative_zero = sign & (magnitude.str.strip("0") == "") & (magnitude != "")
        error[negative_zero] = "is -0: write 0"
        digits = digits.where(~leading & ~negative_zero, "")
    else:
        # 0.99 GBP is 099 pence: the zeros in front are not part of the number.
        stripped = magnitude.str.lstrip("0")
        magnitude = stripped.where(stripped != "", "0").where(magnitude != "", "")
        digits = ((sign & (magnitude != "0")).map({True: "-", False: ""}) + magnitude).where(
            magnitude != "", ""
        )
        magnitude = digits.str.lstrip("-")
    too_big = (magnitude.str.len() > 19) | (
        (magnitude.str.len() == 19) & (magnitude > str(MAX_MINOR))
    )
    if too_big.any():
        error[too_big] = (
            f"is too large: Bento takes at most {MAX_MINOR:,} minor units; check the amount"
        )
        digits = digits.where(~too_big, "")
    return MoneyColumn(minor=digits, error=error)


def _leading_zeros(amounts: pd.Series) -> pd.Series:
    """The message for amounts written with zeros in front (007 -> write 7)."""
    plain = amounts.str.replace(r"^(-?)0+(?=[0-9])", r"\1", regex=True)
    return (
        "starts with 0: write " + plain + " without the leading zeros, or check that the "
        "column holds amounts"
    )


_NOT_A_NUMBER = "is not a number: write digits only, like 4999 or 49.99 (no currency sign)"
_NOT_A_NUMBER_COMMA = (
    "is not a number: write digits only, like 4999 or 49,99 (no currency sign); "
    "the column writes decimals with a comma"
)


def _pad_right(fraction: pd.Series, places: pd.Series) -> pd.Series:
    """`fraction` padded with zeros to `places` characters (it is never longer where used)."""
    out = fraction.copy()
    for count in places.unique().tolist():  # a handful of distinct exponents at most
        rows = places == count
        out[rows] = fraction[rows].str.ljust(int(count), "0")
    return out


def minor_units(amount: str, currency: str, *, unit: Unit = MAJOR) -> int:
    """One amount in minor units: `minor_units("49.99", "USD")` -> 4999.

    Raises MoneyError with a message that says what to do."""
    code = currency.strip().upper()
    if code not in EXPONENTS:
        raise MoneyError(f"'{currency}' is not an ISO 4217 currency code: use one like USD")
    result = to_minor(pd.Series([amount.strip()]), pd.Series([code]), unit=unit)
    if result.error.iloc[0]:
        raise MoneyError(f"amount '{amount.strip()}' {result.error.iloc[0]}")
    return int(result.minor.iloc[0])


def format_major(minor: int, currency: str) -> str:
    """Minor units as currency units, exactly: (4999, "USD") -> "49.99", (1500, "JPY") -> "1500"."""
    places = exponent_of(currency)
    if not places:
        return str(minor)
    digits = str(abs(minor)).rjust(places + 1, "0")
    return ("-" if minor < 0 else "") + digits[:-places] + "." + digits[-places:]
