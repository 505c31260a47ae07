import pandas as pd
import pytest

from bento_ui.dates import parse_dates


def iso(values: list[str], **options: str) -> list[str]:
    return list(parse_dates(pd.Series(values, dtype="str"), **options).iso)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-05", "2024-01-05T00:00:00Z"),
        ("2024-01-05 13:45", "2024-01-05T13:45:00Z"),
        ("2024-01-05T13:45:00Z", "2024-01-05T13:45:00Z"),
        ("2024-01-05T13:45:00+02:00", "2024-01-05T11:45:00Z"),
        ("2024-01-05T13:45:00.250Z", "2024-01-05T13:45:00.25Z"),
        ("2024/01/05", "2024-01-05T00:00:00Z"),
        ("45296", "2024-01-05T00:00:00Z"),  # an Excel serial date
        ("45296.5", "2024-01-05T12:00:00Z"),
        ("Jan 5, 2024", "2024-01-05T00:00:00Z"),
        ("", ""),
    ],
)
def test_common_forms(text: str, expected: str) -> None:
    assert iso([text]) == [expected]


def test_the_order_is_decided_per_column() -> None:
    # 26.11.2026 proves the column is day-first, so 05.01.2024 is 5 January.
    assert iso(["26.11.2026", "05.01.2024"]) == ["2026-11-26T00:00:00Z", "2024-01-05T00:00:00Z"]
    assert iso(["12/31/2024 1:30 PM", "01/05/2024"]) == [
        "2024-12-31T13:30:00Z",
        "2024-01-05T00:00:00Z",
    ]


def test_an_ambiguous_column_is_never_guessed() -> None:
    parsed = parse_dates(pd.Series(["05/01/2024", "06/02/2024"]))
    assert parsed.ambiguous
    assert list(parsed.iso) == ["", ""]
    assert all("could be day-first or month-first" in e for e in parsed.error)
    assert iso(["05/01/2024"], order="month-first") == ["2024-05-01T00:00:00Z"]


def test_a_column_mixing_orders_is_an_error() -> None:
    parsed = parse_dates(pd.Series(["13/01/2024", "01/13/2024"]))
    assert all("mixes day-first and month-first" in e for e in parsed.error)


def test_times_without_zone_are_in_the_chosen_zone() -> None:
    assert iso(["2024-07-01 09:00"], timezone="Europe/Berlin") == ["2024-07-01T07:00:00Z"]
    assert iso(["2024-07-01T09:00:00Z"], timezone="Europe/Berlin") == ["2024-07-01T09:00:00Z"]


def test_a_time_skipped_by_daylight_saving_is_an_error() -> None:
    parsed = parse_dates(pd.Series(["2024-03-31 02:30"]), timezone="Europe/Berlin")
    assert parsed.iso[0] == ""
    assert "clocks change" in parsed.error[0]


def test_slashed_iso_dates_with_a_zone_are_read_not_crashed_on() -> None:
    assert iso(["2024/01/05 13:45Z", "2024-01-05"]) == [
        "2024-01-05T13:45:00Z",
        "2024-01-05T00:00:00Z",
    ]


def test_a_date_at_the_end_of_the_range_in_a_zone_is_unreadable_not_a_crash() -> None:
    parsed = parse_dates(
        pd.Series(["1677-09-21 00:12:44", "2024-07-01 09:00"], dtype="str"),
        timezone="Europe/Berlin",
    )
    assert list(parsed.iso) == ["", "2024-07-01T07:00:00Z"]
    assert "is not a date this tool can read" in parsed.error[0]
