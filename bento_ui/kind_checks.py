"""The checks of Bento's own kinds of event: a `$purchase` needs an order key, an amount
in minor units and an ISO 4217 currency (see `money`); `$tag` and `$remove_tag` need a tag;
`$update_fields` needs fields. Each distinct type, currency or amount is looked at once.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from bento_ui import _arrow_text as arrow_text
from bento_ui import events as ev
from bento_ui import money
from bento_ui.detail_checks import Details, codes_and_values, detail_values
from bento_ui.problems import ERROR, WARNING, Problems
from bento_ui.tags import json_tags, tags_per_row


def check_kinds(
    out: pd.DataFrame,
    stripped: pd.DataFrame,
    details: Details,
    problems: Problems,
    amounts: money.Unit,
    decimal_mark: str | None,
    *,
    type_codes: tuple[np.ndarray, list[str]] | None = None,
) -> money.MarkSigns | None:
    """The checks of Bento's kinds of event; what the amounts showed of their mark.
    `type_codes`: each row's type as a code into a list of the types, when the type's
    own check worked them out already."""
    types = out[ev.TYPE]
    kinds = _Kinds(types, type_codes)
    index = types.index
    found: dict[str, pd.Series] = {}
    blank: dict[str, np.ndarray] = {}

    def detail(column: str) -> pd.Series:
        """Each detail read once, however many checks ask for it."""
        if column not in found:
            found[column] = detail_values(stripped, details, column)
            blank[column] = _blank(found[column])
        return found[column]

    def need(kind_rows: np.ndarray, column: str, missing: str) -> pd.Series:
        values = detail(column)
        problems.add(pd.Series(kind_rows & blank[column], index), column, values, ERROR, missing)
        return values

    purchase = kinds.rows(ev.PURCHASE)
    amount_marks = None
    if purchase.any():
        need(
            purchase,
            ev.PURCHASE_KEY,
            "a $purchase needs details.unique.key (an order id): Bento uses it to drop "
            "repeats; map the order id column to details.unique.key",
        )
        amount = need(
            purchase,
            ev.PURCHASE_AMOUNT,
            "a $purchase needs details.value.amount, the amount (4999 cents, or 49.99 in "
            "currency units)",
        )
        currency = need(
            purchase,
            ev.PURCHASE_CURRENCY,
            "a $purchase needs details.value.currency, a 3-letter code like USD",
        )
        priced = purchase & ~blank[ev.PURCHASE_CURRENCY]
        currency = _check_currency(pd.Series(priced, index), currency, stripped, out, problems)
        amount_marks = _check_amount(
            pd.Series(purchase & ~blank[ev.PURCHASE_AMOUNT], index),
            amount, currency, stripped, out, problems, amounts, decimal_mark,
        )  # fmt: skip
    others = ~purchase
    if others.any():  # Bento refuses a details.value without both (a 400 for the batch)
        detail(ev.PURCHASE_AMOUNT)
        detail(ev.PURCHASE_CURRENCY)
        for column, other, name in (
            (ev.PURCHASE_CURRENCY, ev.PURCHASE_AMOUNT, "currency, a 3-letter code like USD"),
            (ev.PURCHASE_AMOUNT, ev.PURCHASE_CURRENCY, "amount"),
        ):
            problems.add(
                pd.Series(others & ~blank[other] & blank[column], index), column, found[column],
                ERROR,
                f"details.value needs both amount and currency, or neither: add its {name}, "
                "or leave details.value out",
            )  # fmt: skip
    tagging = kinds.rows(ev.TAG, ev.REMOVE_TAG)
    if tagging.any():
        if ev.TAGS in stripped:
            _check_tags(pd.Series(tagging, index), stripped, details, problems)
        else:
            need(
                tagging, ev.TAG_NAME, "a $tag or $remove_tag needs details.tag, the name of the tag"
            )
    update = kinds.rows(ev.UPDATE_FIELDS)
    if update.any():
        # A cell's length says whether it is filled (a pass over its offsets, no copy).
        no_fields = update.copy()
        for column in (c for c in stripped.columns if ev.is_fields_column(c)):
            no_fields &= _blank(stripped[column])
        problems.add(
            pd.Series(no_fields, index),
            ev.TYPE,
            types,
            WARNING,
            "$update_fields without any fields.* value changes nothing: add the fields",
        )
    return amount_marks


class _Kinds:
    """The rows of each event type, found once per distinct type (a table has a few)."""

    def __init__(self, types: pd.Series, codes: tuple[np.ndarray, list[str]] | None) -> None:
        self.codes, self.distinct = codes if codes is not None else codes_and_values(types)

    def rows(self, *kinds: str) -> np.ndarray:
        flags = np.array([kind in kinds for kind in self.distinct] + [False], dtype=bool)
        # A table look-up per row (a missing type's code is out of range: not picked).
        codes = self.codes
        if len(codes) and (codes.min() < 0 or codes.max() >= len(self.distinct)):
            codes = np.where((codes >= 0) & (codes < len(self.distinct)), codes, -1)
        found: np.ndarray = flags[codes]
        return found


def _blank(values: pd.Series) -> np.ndarray:
    """`values == ""` as a NumPy array, in one pyarrow pass."""
    blank: np.ndarray = ~arrow_text.filled(values)
    return blank


def _check_tags(
    tagging: pd.Series, stripped: pd.DataFrame, details: Details, problems: Problems
) -> None:
    """$tag rows with a tags column: they need a tag in one place, not in two."""
    codes, lists = tags_per_row(stripped[ev.TAGS])
    has_tags = pd.Series(
        np.array([bool(t) for t in lists], dtype=bool)[codes] if lists else False,
        index=stripped.index,
    )
    tag = detail_values(stripped, details, ev.TAG_NAME)
    problems.add(
        tagging & ~has_tags & (tag == ""),
        ev.TAGS,
        stripped[ev.TAGS],
        ERROR,
        "a $tag or $remove_tag needs a tag: write one in the tags column (vip, newsletter)",
    )
    problems.add(
        tagging & has_tags & (tag != ""),
        ev.TAGS,
        stripped[ev.TAGS],
        ERROR,
        "this row has a tags column and details.tag: keep the tags in one of them",
    )


def check_tags_cells(clean: pd.Series, problems: Problems) -> None:
    """A tags cell that looks like JSON must be a list of texts: anything else would be
    sent as tags made of its pieces."""
    looks_json = clean.str.startswith("[") | clean.str.startswith("{")
    if not looks_json.any():
        return
    bad = looks_json.copy()
    bad[looks_json] = np.array(
        [json_tags(v) is None for v in clean[looks_json].tolist()], dtype=bool
    )
    problems.add(
        bad,
        ev.TAGS,
        clean,
        ERROR,
        'tags must be a list of names (vip, newsletter, or ["vip", "newsletter"]): map the '
        "column to a field or a detail to send it as it is",
    )


def _from_column(stripped: pd.DataFrame, column: str) -> pd.Series:
    """Rows whose value of `column` is in its own column (not in the details JSON)."""
    if column in stripped:
        return pd.Series(arrow_text.filled(stripped[column]), index=stripped.index)
    return pd.Series(False, index=stripped.index)


def _check_currency(
    rows: pd.Series,
    currency: pd.Series,
    stripped: pd.DataFrame,
    out: pd.DataFrame,
    problems: Problems,
) -> pd.Series:
    """The currencies of `rows`, a lower-case code in the currency column upper-cased
    (with a warning); errors for the rest that are not an ISO 4217 code. Each distinct
    currency (a table has a handful) is looked at once; the rows only where one is wrong."""
    where = rows.to_numpy()
    if not where.any():
        return currency
    positions = np.flatnonzero(where)
    codes, distinct = codes_and_values(currency[where])
    upper = [value.upper() for value in distinct]
    pairs = zip(upper, distinct, strict=True)
    fixable = np.array([u != v and re.fullmatch("[A-Z]{3}", u) is not None for u, v in pairs], bool)
    known = np.array([value in money.EXPONENTS for value in distinct], dtype=bool)
    known_upper = np.array([value in money.EXPONENTS for value in upper], dtype=bool)
    if known.all():  # the common case: every currency is a code as Bento wants it
        return currency
    own = _from_column(stripped, ev.PURCHASE_CURRENCY).to_numpy()[where]
    lower = fixable[codes] & own
    if lower.any():
        at = positions[lower]
        fixed = np.array(upper, dtype=object)[codes[lower]]
        problems.add(
            _at(at, rows.index),
            ev.PURCHASE_CURRENCY,
            currency,
            WARNING,
            pd.Series(
                "currency '" + currency.iloc[at].to_numpy(dtype=object) + "' was upper-cased to "
                + fixed + ", as Bento wants it",
                index=rows.index[at],
            ),
        )  # fmt: skip
        rewrite = _at(at, out.index).to_numpy()
        replaced = _replaced(out[ev.PURCHASE_CURRENCY], rewrite, pa.array(fixed, pa.large_string()))
        if replaced is None:
            out.loc[rewrite, ev.PURCHASE_CURRENCY] = fixed
        else:
            out[ev.PURCHASE_CURRENCY] = replaced
        mask = _at(at, currency.index).to_numpy()
        replaced = _replaced(currency, mask, pa.array(fixed, pa.large_string()))
        if replaced is None:
            currency = currency.copy()
            currency.iloc[at] = fixed
        else:
            currency = replaced
    bad = ~np.where(lower, known_upper[codes], known[codes])
    if bad.any():
        at = positions[bad]
        shown = currency.iloc[at].str.slice(0, 40)
        capitals = shown.str.fullmatch(r"[A-Z]{3}").fillna(False).astype(bool)
        problems.add(
            _at(at, rows.index),
            ev.PURCHASE_CURRENCY,
            currency,
            ERROR,
            "currency '"
            + shown
            + capitals.map(
                {
                    True: "' is not an ISO 4217 currency code: use one like USD, EUR or JPY",
                    False: "' is not a 3-letter currency code in capitals, like USD or EUR",
                }
            ),
        )
    return currency


def _replaced(
    column: pd.Series, rows: np.ndarray, values: pa.Array | pa.ChunkedArray
) -> pd.Series | None:
    """`column` with the cells where `rows` is true set to `values`, in pyarrow (pandas
    sets text cells through NumPy objects, ten times slower); None when the column is
    not held in pyarrow."""
    data = arrow_text.arrow(column)
    if data is None:
        return None
    new = arrow_text.replaced(arrow_text.flat(data), rows, values)
    return pd.Series(new, index=column.index, dtype=column.dtype, name=column.name)


def _at(positions: np.ndarray, index: pd.Index) -> pd.Series:
    """A mask of `index` true at `positions`."""
    mask = np.zeros(len(index), dtype=bool)
    mask[positions] = True
    return pd.Series(mask, index=index)


def _check_amount(
    rows: pd.Series,
    amount: pd.Series,
    currency: pd.Series,
    stripped: pd.DataFrame,
    out: pd.DataFrame,
    problems: Problems,
    amounts: money.Unit,
    decimal_mark: str | None,
) -> money.MarkSigns | None:
    """Amounts of `rows` in minor units: the column's in the unit the person chose, into
    `out`; those in the details JSON are always minor units (cents), as APIs write them.
    Returns what the column's currency units showed of their decimal mark."""
    where_rows = rows.to_numpy()
    if not where_rows.any():
        return None
    own = _from_column(stripped, ev.PURCHASE_AMOUNT).to_numpy()
    marks = None
    if amounts == money.MAJOR and (where_rows & own).any():
        marks = money.mark_signs(amount[where_rows & own])
    for where, unit, in_column in (
        (where_rows & own, amounts, True),
        (where_rows & ~own, money.MINOR, False),
    ):
        if not where.any():
            continue
        positions = np.flatnonzero(where)
        mark = (decimal_mark or money.mark_of([marks])) if marks else None
        these = amount[where]
        result = money.to_minor(these, currency[where], unit=unit, mark=mark)
        wrong = ~_blank(result.error)
        if wrong.any():
            shown = these[wrong].str.slice(0, 40)
            message = "amount '" + shown + "' " + result.error[wrong]
            if not in_column:
                message = message + " (amounts in the details JSON are always minor units)"
            problems.add(
                _at(positions[wrong], rows.index), ev.PURCHASE_AMOUNT, amount, ERROR, message
            )
        if in_column:  # sent as checked: the digits in minor units (most are as written)
            sent = pa.array(out[ev.PURCHASE_AMOUNT].array).take(pa.array(positions))
            minor = pa.array(result.minor.array)
            changed = pc.fill_null(pc.not_equal(sent, minor), True)
            change = changed.to_numpy(zero_copy_only=False).astype(bool)
            if change.any():
                rewrite = _at(positions[change], out.index).to_numpy()
                replaced = _replaced(
                    out[ev.PURCHASE_AMOUNT], rewrite, minor.filter(pa.array(change))
                )
                if replaced is None:
                    out.loc[rewrite, ev.PURCHASE_AMOUNT] = result.minor.to_numpy()[change]
                else:
                    out[ev.PURCHASE_AMOUNT] = replaced
    return marks
