"""Money: a $purchase amount is sent as the right number of minor units, or refused.

Library cases (validate with `amounts=`), the exact conversion for any amount (a
property), and the CLI's `--amounts` in-process against the emulator over a socket.
"""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bento_ui import build_events, money, validate
from bento_ui.cli import main
from bento_ui.emulator import Emulator
from bento_ui.ledger import Ledger
from bento_ui.money import EXPONENTS, MoneyError, Unit, format_major, minor_units
from bento_ui.payloads import encode_events

NOW = pd.Timestamp("2030-01-01T00:00:00Z")


def purchases(amounts: list[str], currencies: list[str]) -> pd.DataFrame:
    n = len(amounts)
    return pd.DataFrame(
        {
            "type": ["$purchase"] * n,
            "email": [f"buyer{i}@example.com" for i in range(n)],
            "details.unique.key": [f"ORDER-{i}" for i in range(n)],
            "details.value.amount": amounts,
            "details.value.currency": currencies,
        },
        index=pd.Index(range(2, n + 2), name="row"),
    )


def sent_values(result: object) -> list[dict[str, object]]:
    valid = result.valid  # type: ignore[attr-defined]
    events = build_events(valid)
    # The fast encoder sends the same amounts as the dict builder.
    assert [json.loads(t) for t in encode_events(valid).to_pylist()] == events
    return [e["details"]["value"] for e in events]


def messages(result: object, row: int) -> str:
    problems = result.problems  # type: ignore[attr-defined]
    return " | ".join(problems.loc[problems["row"] == row, "message"])


@pytest.mark.parametrize(
    ("amount", "currency", "cents"),
    [
        ("32.00", "USD", 3200),
        ("170.19", "USD", 17019),
        ("1500", "JPY", 1500),
        ("0.99", "GBP", 99),
        ("1,299.00", "USD", 129900),
        ("49,99", "EUR", 4999),
        ("1.299,00", "EUR", 129900),
        ("12.345", "KWD", 12345),
        ("5", "BHD", 5000),
        ("2.5", "EUR", 250),
        ("1\u00a0299,00", "EUR", 129900),  # a no-break space between thousands (French)
        ("1\u202f299,00", "EUR", 129900),  # a narrow one
        ("1 299.00", "USD", 129900),
        ("1'299.00", "CHF", 129900),
    ],
)
def test_currency_units_become_minor_units_of_the_rows_currency(
    amount: str, currency: str, cents: int
) -> None:
    result = validate(purchases([amount], [currency]), now=NOW, amounts="major")
    assert result.errors.empty, result.problems.to_dict("records")
    assert sent_values(result) == [{"amount": cents, "currency": currency}]


def test_more_decimals_than_the_currency_has_is_an_error_not_rounding() -> None:
    result = validate(
        purchases(["1.5", "12.345", "0.0001"], ["JPY", "USD", "KWD"]), now=NOW, amounts="major"
    )
    assert result.valid.empty
    assert "amount '1.5' has more decimals than JPY has (0)" in messages(result, 2)
    assert "amount '12.345' has more decimals than USD has (2)" in messages(result, 3)
    assert "never rounded" in messages(result, 4)


def test_an_unknown_currency_code_is_an_error() -> None:
    result = validate(purchases(["32.00"], ["XYZ"]), now=NOW, amounts="major")
    assert result.valid.empty
    assert "currency 'XYZ' is not an ISO 4217 currency code" in messages(result, 2)


def test_a_decimal_amount_in_minor_units_is_refused_never_truncated() -> None:
    # Before: 32.00 went out as 32 (0.32 USD) and 170.19 was "not a whole number of cents".
    result = validate(purchases(["32.00", "4999.00", "170.19"], ["USD"] * 3), now=NOW)
    assert result.valid.empty
    for row, amount in ((2, "32.00"), (3, "4999.00"), (4, "170.19")):
        text = messages(result, row)
        assert f"amount '{amount}' has decimals" in text
        assert "currency units" in text and "--amounts major" in text


@pytest.mark.parametrize(
    ("amount", "says"),
    [
        ("007", "starts with 0: write 7 without the leading zeros"),
        ("-0", "is -0: write 0"),
        ("9223372036854775808", "is too large"),
        ("99999999999999999999999", "is too large"),
        ("$32", "is not a number"),
    ],
)
def test_minor_units_that_are_not_a_plain_integer_get_a_clear_problem(
    amount: str, says: str
) -> None:
    result = validate(purchases([amount], ["USD"]), now=NOW)
    assert result.valid.empty
    assert says in messages(result, 2)


def test_the_largest_integer_bento_takes_is_sent() -> None:
    result = validate(purchases(["9223372036854775807"], ["USD"]), now=NOW)
    assert sent_values(result) == [{"amount": 2**63 - 1, "currency": "USD"}]


def test_a_lower_case_currency_is_upper_cased_with_a_warning() -> None:
    result = validate(purchases(["4999", "32.00"], ["usd", "eur"]), now=NOW, amounts="major")
    assert result.errors.empty
    assert "currency 'usd' was upper-cased to USD" in messages(result, 2)
    assert sent_values(result) == [
        {"amount": 499900, "currency": "USD"},
        {"amount": 3200, "currency": "EUR"},
    ]


def test_amounts_in_the_details_json_are_minor_units() -> None:
    table = purchases(["", ""], ["", ""]).drop(
        columns=["details.value.amount", "details.value.currency"]
    )
    table["details"] = [
        '{"value": {"amount": 32.0, "currency": "USD"}}',
        '{"value": {"amount": 4999, "currency": "USD"}}',
    ]
    result = validate(table, now=NOW, amounts="major")
    assert "amounts in the details JSON are always minor units" in messages(result, 2)
    assert sent_values(result) == [{"amount": 4999, "currency": "USD"}]


@pytest.mark.parametrize(
    ("amount", "says"),
    [
        # Before: 007 went out as 700 cents, 00.99 as 99, -0 and -0.00 as 0, silently.
        ("007", "starts with 0: write 7 without the leading zeros"),
        ("00.99", "starts with 0: write 0.99 without the leading zeros"),
        ("-007.50", "starts with 0: write -7.50 without the leading zeros"),
        ("-0", "is -0: write 0"),
        ("-0.00", "is -0: write 0"),
        ("92233720368547758.08", "is too large"),
    ],
)
def test_currency_units_written_oddly_are_refused_not_rewritten(amount: str, says: str) -> None:
    result = validate(purchases([amount], ["USD"]), now=NOW, amounts="major")
    assert result.valid.empty
    assert f"amount '{amount}' {says}" in messages(result, 2)


def test_plain_currency_units_with_zeros_in_them_still_go_through() -> None:
    result = validate(purchases(["0.99", "0", "10.00", "-5.00"], ["USD"] * 4), now=NOW,
                      amounts="major")  # fmt: skip
    assert result.errors.empty
    assert [v["amount"] for v in sent_values(result)] == [99, 0, 1000, -500]


@pytest.mark.parametrize(
    ("written", "says"),
    [
        # Before: a JSON 4999.00 was checked as "4999.0" and -0 went out as 0 cents.
        ("4999.00", "amount '4999.00' has decimals"),
        ("-0", "amount '-0' is -0: write 0"),
        ("1e3", "amount '1e3' is not a number"),
    ],
)
def test_an_amount_in_the_details_json_is_checked_as_written(written: str, says: str) -> None:
    table = purchases([""], [""]).drop(columns=["details.value.amount", "details.value.currency"])
    table["details"] = [f'{{"value": {{"amount": {written}, "currency": "USD"}}}}']
    result = validate(table, now=NOW)
    assert result.valid.empty
    assert says in messages(result, 2)


def test_an_unknown_amounts_choice_is_refused() -> None:
    with pytest.raises(ValueError, match="amounts must be one of major, minor"):
        validate(purchases(["1"], ["USD"]), amounts="cents")  # type: ignore[arg-type]


def test_one_amount_for_compose_both_ways() -> None:
    assert minor_units("49.99", "USD") == 4999
    assert minor_units("4999", "usd", unit="minor") == 4999
    assert format_major(4999, "USD") == "49.99"
    assert format_major(1500, "JPY") == "1500"
    assert format_major(1, "KWD") == "0.001"
    with pytest.raises(MoneyError, match="has more decimals than USD"):
        minor_units("49.999", "USD")
    with pytest.raises(MoneyError, match="not an ISO 4217"):
        minor_units("1", "ABC")


@pytest.mark.parametrize("unit", ["major", "minor"])
@pytest.mark.parametrize("amount", ["\u0664\u0669\u0669\u0669", "\uff14\uff19\uff19", "4\u0669"])
def test_digits_other_than_ascii_are_not_a_number(amount: str, unit: Unit) -> None:
    """Arabic-Indic or full-width digits are not read as an amount (int() would)."""
    with pytest.raises(MoneyError, match="is not a number: write digits only"):
        minor_units(amount, "USD", unit=unit)


@settings(max_examples=150, deadline=None)
@given(
    currency=st.sampled_from(sorted(EXPONENTS)),
    units=st.integers(0, 10**12),
    fraction=st.integers(0, 9999),
    negative=st.booleans(),
    grouped=st.booleans(),
)
def test_major_to_minor_is_exact_for_any_amount_and_currency(
    currency: str, units: int, fraction: int, negative: bool, grouped: bool
) -> None:
    places = EXPONENTS[currency]
    fraction %= 10**places
    whole = f"{units:,}" if grouped else str(units)
    text = whole + (f".{fraction:0{places}d}" if places else "")
    if negative and (units or fraction):  # -0.00 is refused (see above)
        text = "-" + text
    expected = int(Decimal(text.replace(",", "")).scaleb(places))
    assert minor_units(text, currency) == expected
    assert format_major(expected, currency) == text.replace(",", "")


@pytest.mark.parametrize("unit", ["major", "minor"])
def test_a_column_of_repeated_amounts_reads_each_row_as_it_would_alone(unit: Unit) -> None:
    """A long column is read once per distinct (amount, currency): every row still gets
    exactly the answer, or the problem, it gets on its own."""
    amounts = ["4999", "49.99", "007", "-0", "1,299.00", "", "49,99", "abc", "12.345", "100"]
    currencies = ["USD", "JPY", "usd", "KWD", "EUR", "XYZ", ""]
    rows = [(amounts[i % 10], currencies[(i // 10) % 7]) for i in range(300)]
    column = money.to_minor(
        pd.Series([a for a, _ in rows], dtype="str"),
        pd.Series([c for _, c in rows], dtype="str"),
        unit=unit,
        mark=".",
    )
    for i, (amount, currency) in enumerate(rows):
        alone = money.to_minor(
            pd.Series([amount], dtype="str"), pd.Series([currency], dtype="str"),
            unit=unit, mark=".",
        )  # fmt: skip
        assert (column.minor.iloc[i], column.error.iloc[i]) == (
            alone.minor.iloc[0],
            alone.error.iloc[0],
        ), (amount, currency)


# --- the CLI ---------------------------------------------------------------------------


def shop_export(path: Path, totals: list[str], currency: str = "USD") -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["Email", "Order ID", "Amount", "Currency"])
        for i, total in enumerate(totals):
            writer.writerow([f"buyer{i}@example.com", f"#{1001 + i}", total, currency])
    return path


@pytest.fixture
def bento(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    c = emulator.credentials
    monkeypatch.setenv("BENTO_API_URL", c.base_url)
    monkeypatch.setenv("BENTO_SITE_UUID", c.site_uuid)
    monkeypatch.setenv("BENTO_PUBLISHABLE_KEY", c.publishable_key)
    monkeypatch.setenv("BENTO_SECRET_KEY", c.secret_key)
    return emulator


def test_cli_refuses_currency_units_by_default_and_says_what_to_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = shop_export(tmp_path / "orders.csv", ["32.00", "170.19"])
    code = main(["validate", str(path), "--type", "$purchase"])
    out = capsys.readouterr().out
    assert code == 1
    assert "amount '32.00' has decimals" in out
    assert "--amounts major" in out


def test_cli_sends_currency_units_as_cents_and_a_resume_rebuilds_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bento: Emulator
) -> None:
    path = shop_export(tmp_path / "orders.csv", ["32.00", "1,299.00", "0.99"])
    code = main(["send", str(path), "--type", "$purchase", "--amounts", "major"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert [e["details"]["value"]["amount"] for e in bento.events()] == [3200, 129900, 99]
    with Ledger() as ledger:
        [run] = ledger.runs()
    assert run.options["amounts"] == "major"
    from bento_ui.resume import rebuild_table

    rebuilt = rebuild_table(run)
    assert [e["details"]["value"]["amount"] for e in build_events(rebuilt)] == [3200, 129900, 99]


def test_cli_amounts_minor_sends_cents_unchanged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bento: Emulator
) -> None:
    path = shop_export(tmp_path / "orders.csv", ["1500"], currency="jpy")
    code = main(["send", str(path), "--type", "$purchase", "--amounts", "minor"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "upper-cased to JPY" in out
    assert [e["details"]["value"] for e in bento.events()] == [{"amount": 1500, "currency": "JPY"}]


def test_cli_amounts_takes_only_the_two_units(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = shop_export(tmp_path / "orders.csv", ["1"])
    with pytest.raises(SystemExit) as stopped:
        main(["validate", str(path), "--amounts", "cents"])
    assert stopped.value.code == 2
    assert "invalid choice: 'cents'" in capsys.readouterr().err


def test_cli_in_chunks_reads_amounts_in_the_chosen_unit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BENTO_UI_STREAM_BYTES", "1")  # read this small file in chunks
    path = shop_export(tmp_path / "orders.csv", ["32.00", "12.345"])
    code = main(["validate", str(path), "--type", "$purchase", "--amounts", "major"])
    out = capsys.readouterr().out
    assert "reading it in chunks" in out
    assert code == 1
    assert "amount '12.345' has more decimals than USD has (2)" in out
    assert "1 valid, 1 with errors" in out
