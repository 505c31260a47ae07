import pandas as pd
import pytest

from bento_ui import build_events, validate
from bento_ui.validation import PROBLEM_COLUMNS

NOW = pd.Timestamp("2026-11-26T12:00:00Z")


def table(rows: list[dict[str, str]], start: int = 2) -> pd.DataFrame:
    frame = pd.DataFrame(rows, dtype="str").fillna("")
    for column in ("type", "email", "date"):
        if column not in frame:
            frame[column] = ""
    frame.index = pd.RangeIndex(start, start + len(frame), name="row")
    return frame


def problems_of(result, row: int) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    p = result.problems[result.problems["row"] == row]
    return list(zip(p["column"], p["severity"], p["message"], strict=True))


def test_a_clean_table_has_no_problems() -> None:
    result = validate(table([{"type": "signup", "email": "jane@example.com"}]), now=NOW)
    assert result.problems.empty
    assert list(result.problems.columns) == PROBLEM_COLUMNS
    assert result.summary == {
        "rows": 1,
        "valid": 1,
        "with errors": 0,
        "with warnings": 0,
        "empty skipped": 0,
    }


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("jane@", "email 'jane@' has no domain: use name@example.com"),
        ("jane.example.com", "has no @"),
        ("a..b@example.com", "two dots in a row"),
        ("jane@example", "domain without a dot"),
        ("jane@example.c", "not a top-level domain"),
        ("", "email is missing"),
    ],
)
def test_bad_emails_are_errors_that_say_how_to_fix_them(email: str, message: str) -> None:
    result = validate(table([{"type": "signup", "email": email}], start=7), now=NOW)
    [(column, severity, text)] = problems_of(result, 7)
    assert (column, severity) == ("email", "error")
    assert message in text
    assert result.valid.empty


@pytest.mark.parametrize(
    "email", ["jörg@bücher.de", "user+tag@mail.example.co.uk", "a@xn--bcher-kva.de"]
)
def test_unicode_plus_and_idn_addresses_are_valid(email: str) -> None:
    assert validate(table([{"type": "t", "email": email}]), now=NOW).problems.empty


@pytest.mark.parametrize(
    ("email", "named"),
    [
        ("jane\u200b@example.com", "U+200B ZERO WIDTH SPACE"),
        ("jo\u200dhn@example.com", "U+200D ZERO WIDTH JOINER"),
        ("\u202ejane@example.com", "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ("jane@exa\u2066mple.com", "U+2066 LEFT-TO-RIGHT ISOLATE"),
        ("\ufeffjane@example.com", "U+FEFF ZERO WIDTH NO-BREAK SPACE"),  # a byte order mark
        ("ja\xadne@example.com", "U+00AD SOFT HYPHEN"),
        ("ja\x80ne@example.com", "U+0080 (a control character)"),
    ],
)
def test_invisible_and_direction_characters_in_emails_are_errors_that_name_them(
    email: str, named: str
) -> None:
    result = validate(table([{"type": "signup", "email": email}]), now=NOW)
    [(column, severity, text)] = problems_of(result, 2)
    assert (column, severity) == ("email", "error")
    assert f"contains {named}, an invisible character" in text
    assert "delete it, or type the address again" in text
    assert result.valid.empty


@pytest.mark.parametrize(
    ("email", "part", "odd"),
    [
        ("p\u0430ypal@example.com", "p\u0430ypal", "'\u0430' (U+0430 CYRILLIC SMALL LETTER A)"),
        ("jane@p\u0430ypal.com", "p\u0430ypal", "'\u0430' (U+0430 CYRILLIC SMALL LETTER A)"),
        ("\u03bfscar@example.com", "\u03bfscar", "'\u03bf' (U+03BF GREEK SMALL LETTER OMICRON)"),
    ],
)
def test_a_latin_address_with_a_letter_of_another_alphabet_is_a_warning_naming_it(
    email: str, part: str, odd: str
) -> None:
    result = validate(table([{"type": "signup", "email": email}]), now=NOW)
    [(column, severity, text)] = problems_of(result, 2)
    assert (column, severity) == ("email", "warning")
    assert f"mixes alphabets in '{part}': {odd} looks like a Latin letter" in text
    assert list(result.valid["email"]) == [email]  # a warning: sent if the person wants


def test_a_full_width_letter_in_an_email_is_a_warning_with_the_plain_spelling() -> None:
    result = validate(table([{"type": "t", "email": "\uff50aypal@example.com"}]), now=NOW)
    [(column, severity, text)] = problems_of(result, 2)
    assert (column, severity) == ("email", "warning")
    assert "(U+FF50 FULLWIDTH LATIN SMALL LETTER P)" in text
    assert "write it as 'paypal'" in text


@pytest.mark.parametrize(
    "email", ["山田@例え.jp", "иван@почта.рф", "andré@café.fr", "jörg@bücher.de"]
)
def test_addresses_written_in_one_alphabet_have_no_warning(email: str) -> None:
    assert validate(table([{"type": "t", "email": email}]), now=NOW).problems.empty


def test_surrounding_whitespace_is_trimmed_with_a_warning() -> None:
    result = validate(table([{"type": " signup ", "email": "  jane@example.com "}]), now=NOW)
    assert [s for _, s, _ in problems_of(result, 2)] == ["warning", "warning"]
    assert result.valid.loc[2, "email"] == "jane@example.com"
    assert result.valid.loc[2, "type"] == "signup"


def test_empty_rows_are_skipped_and_counted_and_row_numbers_stay() -> None:
    rows = [
        {"type": "t", "email": "a@x.com"},
        {"type": " ", "email": ""},
        {"type": "t", "email": "bad"},
    ]
    result = validate(table(rows), now=NOW)
    assert result.empty_rows == [3]
    assert result.error_rows == [4]
    assert result.summary["empty skipped"] == 1
    assert result.summary["valid"] == 1


def test_missing_type_is_an_error_and_mistyped_kinds_are_warnings() -> None:
    rows = [
        {"type": "", "email": "a@x.com"},
        {"type": "purchase", "email": "b@x.com"},
        {"type": "$purchse", "email": "c@x.com"},
        {"type": "$Tag", "email": "d@x.com"},
        {"type": "purchase_completed", "email": "e@x.com"},
    ]
    result = validate(table(rows), now=NOW)
    assert problems_of(result, 2)[0][:2] == ("type", "error")
    assert "looks like Bento's $purchase" in problems_of(result, 3)[0][2]
    assert "misspelling of Bento's $purchase" in problems_of(result, 4)[0][2]
    assert "looks like Bento's $tag" in problems_of(result, 5)[0][2]
    assert problems_of(result, 6) == []


def test_purchase_needs_key_integer_cents_and_currency() -> None:
    rows = [
        {
            "type": "$purchase",
            "email": "a@x.com",
            "details.unique.key": "A1",
            "details.value.amount": "4999",
            "details.value.currency": "USD",
        },
        {
            "type": "$purchase",
            "email": "b@x.com",
            "details.unique.key": "",
            "details.value.amount": "49.99",
            "details.value.currency": "usd",
        },
    ]
    result = validate(table(rows), now=NOW)
    assert problems_of(result, 2) == []
    messages = " | ".join(m for _, _, m in problems_of(result, 3))
    assert "needs details.unique.key" in messages
    assert "amount '49.99' has decimals, but the column is read as minor units" in messages
    assert "currency 'usd' was upper-cased to USD" in messages
    assert build_events(result.valid)[0]["details"] == {
        "unique": {"key": "A1"},
        "value": {"amount": 4999, "currency": "USD"},
    }


def test_purchase_details_can_come_from_the_json_column() -> None:
    details = '{"unique": {"key": "A2"}, "value": {"amount": 1500, "currency": "EUR"}}'
    result = validate(
        table([{"type": "$purchase", "email": "a@x.com", "details": details}]), now=NOW
    )
    assert result.problems.empty
    assert build_events(result.valid)[0]["details"]["value"]["amount"] == 1500


def test_tag_needs_a_tag() -> None:
    rows = [
        {"type": "$tag", "email": "a@x.com", "details.tag": ""},
        {"type": "$remove_tag", "email": "a@x.com", "details.tag": "vip"},
    ]
    result = validate(table(rows), now=NOW)
    assert problems_of(result, 2)[0][:2] == ("details.tag", "error")
    assert problems_of(result, 3) == []


def test_details_json_must_be_a_valid_object() -> None:
    rows = [
        {"type": "t", "email": "a@x.com", "details": "{not json"},
        {"type": "t", "email": "a@x.com", "details": "[1, 2]"},
        {"type": "t", "email": "a@x.com", "details": '{"plan": {"tier": "pro"}}'},
    ]
    result = validate(table(rows), now=NOW)
    assert "details is not valid JSON" in problems_of(result, 2)[0][2]
    assert "details must be a JSON object, not a list" in problems_of(result, 3)[0][2]
    assert problems_of(result, 4) == []


def test_fields_must_be_flat() -> None:
    rows = [
        {"type": "t", "email": "a@x.com", "fields.tags": '["a", "b"]'},
        {"type": "t", "email": "b@x.com", "fields.tags": "[VIP]"},
    ]
    result = validate(table(rows), now=NOW)
    assert "fields must be flat" in problems_of(result, 2)[0][2]
    assert problems_of(result, 3) == []  # text that merely starts with [ is fine


@pytest.mark.parametrize("in_json", ['{"plan": "free"}', '{"plan": null}'])
def test_a_detail_set_in_two_places_is_an_error(in_json: str) -> None:
    """A null in the JSON is written too: the column would silently win over it."""
    rows = [{"type": "t", "email": "a@x.com", "details.plan": "pro", "details": in_json}]
    result = validate(table(rows), now=NOW)
    assert "set both here and in the details JSON" in problems_of(result, 2)[0][2]
    assert result.valid.empty


def test_dates_become_utc_iso_and_bad_ones_are_errors() -> None:
    rows = [
        {"type": "t", "email": "a@x.com", "date": "2024-01-05 13:45"},
        {"type": "t", "email": "b@x.com", "date": "yesterday-ish"},
        {"type": "t", "email": "c@x.com", "date": "2030-01-01"},
    ]
    result = validate(table(rows), timezone="America/New_York", now=NOW)
    assert result.valid.loc[2, "date"] == "2024-01-05T18:45:00Z"
    assert problems_of(result, 3)[0][:2] == ("date", "error")
    assert problems_of(result, 4)[0][1] == "warning"
    assert "in the future" in problems_of(result, 4)[0][2]


def test_ambiguous_date_columns_are_flagged_until_the_order_is_chosen() -> None:
    rows = [{"type": "t", "email": "a@x.com", "date": "05/01/2024"}]
    result = validate(table(rows), now=NOW)
    assert result.dates_ambiguous
    assert "could be day-first or month-first" in problems_of(result, 2)[0][2]
    chosen = validate(table(rows), date_order="day-first", now=NOW)
    assert chosen.valid.loc[2, "date"] == "2024-01-05T00:00:00Z"


def test_exact_duplicate_rows_are_warned_about_with_the_first_row() -> None:
    rows = [
        {"type": "t", "email": "a@x.com"},
        {"type": "t", "email": "b@x.com"},
        {"type": "t", "email": "a@x.com"},
    ]
    result = validate(table(rows), now=NOW)
    [(_, severity, message)] = problems_of(result, 4)
    assert severity == "warning"
    assert "the same event as row 2" in message
    assert len(result.valid) == 3  # a warning never blocks a row


@pytest.mark.parametrize("threads_from", [1, 10**9], ids=["in threads", "in one thread"])
def test_rows_are_the_same_event_when_what_is_sent_is_the_same(
    threads_from: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Repeats are judged on what would be sent (trimmed email and type, the date as UTC),
    among the rows that can be sent: a row with an error repeats nothing and is repeated
    by nothing."""
    from bento_ui import _arrow_text

    monkeypatch.setattr(_arrow_text, "PARALLEL_FROM", threads_from)
    rows = [
        {"type": "t", "email": "a@x.com", "date": "2024-01-05 10:00:00"},  # 2
        {"type": " t", "email": " a@x.com ", "date": "2024-01-05T10:00:00Z"},  # 3: as 2
        {"type": "t", "email": "b@x.com", "date": "2024-02-30"},  # 4: an error
        {"type": "t", "email": "b@x.com", "date": "2024-02-30"},  # 5: the same error
        {"type": "t", "email": "b@x.com", "date": ""},  # 6: sendable, no date
        {"type": "t", "email": "b@x.com", "date": ""},  # 7: as 6
        {"type": "t", "email": "a@x.com", "date": "2024-01-05 10:00:01"},  # 8: a second later
    ]
    result = validate(table(rows), now=NOW)
    repeats = result.problems[result.problems["column"] == "(row)"]
    assert list(zip(repeats["row"], repeats["message"].str.slice(0, 23), strict=True)) == [
        (3, "the same event as row 2"),
        (7, "the same event as row 6"),
    ]
    assert result.error_rows == [4, 5]


def test_long_values_are_shortened_in_the_problems_table() -> None:
    result = validate(table([{"type": "t", "email": "x" * 10_000}]), now=NOW)
    assert len(result.problems.loc[0, "value"]) < 300


def test_a_details_number_too_large_for_json_is_an_error() -> None:
    rows = [{"type": "t", "email": "a@x.com", "details": '{"big": 1e999}'}]
    [(column, severity, text)] = problems_of(validate(table(rows), now=NOW), 2)
    assert (column, severity) == ("details", "error")
    assert "holds the number 1e999, too large for a JSON number" in text


def test_a_value_without_amount_or_currency_is_refused_for_every_type() -> None:
    # Bento answers 400 for the whole batch when details.value lacks one of them.
    result = validate(table([
        {"type": "signup", "email": "a@example.com", "details.value.currency": "USD"},
        {"type": "signup", "email": "b@example.com", "details.value.amount": "100"},
        {"type": "signup", "email": "c@example.com", "details.value.amount": "100",
         "details.value.currency": "USD"},
    ]))  # fmt: skip
    assert result.error_rows == [2, 3]
    assert "needs both amount and currency" in result.problems["message"].iloc[0]


@pytest.mark.parametrize("number", ["1e400", "-1e400", "[1, 2e999]"])
def test_a_details_number_too_large_for_a_float_is_refused_wherever_it_sits(number: str) -> None:
    rows = [{"type": "t", "email": "a@x.com", "details": f'{{"score": {number}}}'}]
    [(column, severity, text)] = problems_of(validate(table(rows), now=NOW), 2)
    assert (column, severity) == ("details", "error")
    assert "too large for a JSON number: write it as text in quotes" in text


def test_a_dotted_details_cell_is_sent_as_its_text_even_when_it_looks_like_a_number() -> None:
    rows = [{"type": "t", "email": "a@x.com", "details.score": "1e400", "details.n": "1.5e3"}]
    result = validate(table(rows), now=NOW)
    assert result.problems.empty
    assert build_events(result.valid)[0]["details"] == {"score": "1e400", "n": "1.5e3"}


def test_fields_and_details_are_sent_trimmed_as_they_were_checked() -> None:
    # Before: checked trimmed but sent as " pro " and "  "; now what is checked is sent.
    rows = [{"type": "t", "email": "a@x.com", "fields.plan": " pro ", "fields.note": "  ",
             "details.source": "ads\n", "details.page": "/home"}]  # fmt: skip
    result = validate(table(rows), now=NOW)
    found = problems_of(result, 2)
    for column in ("fields.plan", "details.source"):
        assert (column, "warning", f"{column} had spaces around it: they were trimmed") in found
    assert any(c == "fields.note" and "only spaces" in m for c, _, m in found)
    [event] = build_events(result.valid)
    assert event["fields"] == {"plan": "pro"}
    assert event["details"] == {"source": "ads", "page": "/home"}


def test_a_dotted_detail_of_only_spaces_does_not_clash_with_a_shorter_path() -> None:
    rows = [{"type": "t", "email": "a@x.com", "details.a": "x", "details.a.b": "   "}]
    result = validate(table(rows), now=NOW)
    assert result.errors.empty
    assert build_events(result.valid)[0]["details"] == {"a": "x"}


@pytest.mark.parametrize("threads_from", [1, 10**9], ids=["in threads", "in one thread"])
def test_a_rows_problems_come_in_the_order_of_its_columns_checks(
    threads_from: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Type, email, date, then fields and details: a big table checks emails and dates in
    a thread beside the rest, and their problems still come where a person expects them."""
    from bento_ui import _arrow_text

    monkeypatch.setattr(_arrow_text, "PARALLEL_FROM", threads_from)
    bad = {"type": "$purchse", "email": "x@", "date": "2024-02-30", "fields.plan": "a\x00b",
           "details.value.amount": "", "details.value.currency": "USD"}
    result = validate(table([bad, {**bad, "email": "ok@example.com"}]), now=NOW)
    first = result.problems[result.problems["row"] == 2]
    assert list(first["column"]) == ["fields.plan", "type", "email", "date",
                                     "details.value.amount"]
