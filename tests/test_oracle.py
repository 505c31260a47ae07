"""The fast path gives exactly what a plain row-by-row reading of the rules gives.

`tests/oracle.py` holds the reference; these tests run the real path (read_table, the
mapping, `validate`, `build_events` and `encode_events`, or `pipeline.prepare_in_chunks`
in small chunks) on a generated file with every problem kind, on a file of edge cases
(tests/data/oracle_edge_cases.csv, also as a workbook) and on small tables the mapping
never builds, and compare problems and payloads one for one. Where today's code is
wrong, or issue 11 changes a rule, the case is marked xfail(strict=True): it flips when
the code is fixed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import oracle
import pandas as pd
import pytest

from bench import data as bench_data
from bento_ui import _arrow_text as arrow_text
from bento_ui import pipeline
from bento_ui.mapping import ColumnMapping, apply_mapping, suggest_mapping
from bento_ui.payloads import build_events, encode_events
from bento_ui.spreadsheet import read_table
from bento_ui.validation import validate

NOW = pd.Timestamp("2026-12-01T00:00:00Z")
EDGE_CASES = Path(__file__).parent / "data" / "oracle_edge_cases.csv"
EDGE_MAPPING = ColumnMapping(
    {
        "Email": "email",
        "Event": "type",
        "Date": "date",
        "Name": "fields.name",
        "Plan": "fields.plan",
        "Order": "details.unique.key",
        "Amount": "details.value.amount",
        "Currency": "details.value.currency",
        "Tag": "details.tag",
        "Details": "details",
        "Meta": "fields.meta",
        "Source": "details.meta.source",
        "Tags": "tags",
    }
)
EDGE_OPTIONS: dict[str, Any] = {"amounts": "major"}  # the edge file's amounts are in dollars


def _bench_mapping(headers: list[str]) -> ColumnMapping:
    """The CLI's mapping of the bench file (bench/variants.py)."""
    suggested = suggest_mapping(headers)
    return ColumnMapping(
        {**suggested.columns, **bench_data.MAPPING_OVERRIDES}, suggested.default_type
    )


@pytest.fixture(scope="module")
def generated(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, pd.DataFrame, oracle.Expected]:
    """2,000 rows, half of them bad, every kind of bad the generator knows: the file, its
    event table and what the reference expects of it."""
    path = tmp_path_factory.mktemp("oracle") / "events.csv"
    bench_data.write(path, 2000, "csv", seed=11, bad=0.5)
    sheet = read_table(path)
    table = apply_mapping(sheet, _bench_mapping(list(sheet.columns)))
    return path, table, oracle.check(table, now=NOW)


# --- what the library gives -------------------------------------------------------------


def _problems(problems: pd.DataFrame) -> list[oracle.Problem]:
    return sorted(
        (int(r), str(c), str(s), str(m))
        for r, c, s, m in zip(
            problems["row"], problems["column"], problems["severity"], problems["message"],
            strict=True,
        )
    )  # fmt: skip


def _library(table: pd.DataFrame, **options: Any) -> oracle.Expected:
    result = validate(table, now=NOW, **options)
    return oracle.Expected(
        problems=_problems(result.problems),
        rows=[int(r) for r in result.valid.index],
        events=build_events(result.valid),
        texts=encode_events(result.valid).to_pylist(),
        empty=result.empty_rows,
    )


def _chunked(
    path: Path, mapping: ColumnMapping, chunk_rows: int, **options: Any
) -> oracle.Expected:
    prepared = pipeline.prepare_in_chunks(path, mapping, chunk_rows=chunk_rows, now=NOW, **options)
    got = oracle.Expected(problems=_problems(prepared.problems), empty=prepared.empty_rows)
    for chunk in prepared.chunks():  # the second pass, as sending reads it
        got.rows += [int(r) for r in chunk.valid.index]
        got.events += chunk.events
        got.texts += chunk.texts.to_pylist()
    return got


# --- comparing --------------------------------------------------------------------------


def _as_written(text: str) -> Any:
    """The JSON with every number kept as the text it was written as."""
    return json.loads(
        text, parse_int=oracle.Number, parse_float=oracle.Number, parse_constant=oracle.Number
    )


def _numbers(value: Any) -> Any:
    """A parsed value where a number is told from a text by a marker."""
    if isinstance(value, oracle.Number):
        return ("number", str(value))
    if isinstance(value, dict):
        return {k: _numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    return value


def _differences(expected: list[Any], got: list[Any]) -> str:
    missing = [x for x in expected if x not in got]
    extra = [x for x in got if x not in expected]
    lines = [f"expected, not given: {x!r}" for x in missing[:10]]
    lines += [f"given, not expected: {x!r}" for x in extra[:10]]
    if not lines and expected != got:
        lines.append("the same items in another order or count")
    return "\n".join(lines)


def assert_same(expected: oracle.Expected, got: oracle.Expected) -> None:
    assert got.empty == expected.empty
    assert got.problems == expected.problems, _differences(expected.problems, got.problems)
    events = list(zip(expected.rows, expected.events, strict=True))
    assert list(zip(got.rows, got.events, strict=True)) == events, _differences(
        events, list(zip(got.rows, got.events, strict=True))
    )
    parsed = [json.loads(t) for t in got.texts]
    assert parsed == expected.events, _differences(expected.events, parsed)
    # Numbers as written (1.5e3 stays 1.5e3), keys in Bento's order at the top.
    written = [_numbers(_as_written(t)) for t in got.texts]
    wanted = [_numbers(_as_written(t)) for t in expected.texts]
    assert written == wanted, _differences(wanted, written)
    assert [list(json.loads(t)) for t in got.texts] == [list(e) for e in expected.events]


# --- the tests --------------------------------------------------------------------------


Generated = tuple[Path, pd.DataFrame, oracle.Expected]


def test_the_generated_file_has_every_problem_kind(generated: Generated) -> None:
    """The yardstick measures something: each check of the generator's list is hit."""
    _, _, expected = generated
    messages = " | ".join(m for *_, m in expected.problems)
    for words in (
        "has no domain", "type is missing", "is not a date", "needs details.unique.key",
        "has decimals", "currency code", "needs details.tag", "fields must be flat",
        "is not valid JSON", "must be a JSON object", "set both here", "the same event as row",
        "spaces around it", "is in the future", "looks like",
    ):  # fmt: skip
        assert words in messages, words
    assert len(expected.events) > 1000


def test_the_generated_file_matches_the_reference(generated: Generated) -> None:
    _, table, expected = generated
    assert_same(expected, _library(table))


def test_the_generated_file_in_chunks_matches_the_reference(generated: Generated) -> None:
    """Chunks of 1,000 rows: duplicates copy rows up to 2,000 rows back, across chunks."""
    path, _, expected = generated
    crossing = [
        m for r, c, _, m in expected.problems
        if c == "(row)" and (r - 2) // 1000 != (int(m.split()[5].rstrip(":")) - 2) // 1000
    ]  # fmt: skip
    assert crossing, "no duplicate crosses a chunk boundary"
    assert_same(expected, _chunked(path, _bench_mapping(pipeline.read_header(path)), 1000))


@pytest.mark.parametrize("which", ["generated", "edge cases"])
def test_a_table_checked_in_threads_gets_the_very_same_answer(
    which: str, generated: Generated, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A big table has its emails and dates checked in a thread beside the other checks,
    and its columns worked on two at a time: the problems come out in the same order,
    and the rows to send are the same."""
    table, options = (generated[1], {}) if which == "generated" else (_edge_table(), EDGE_OPTIONS)
    monkeypatch.setattr(arrow_text, "PARALLEL_FROM", 10**9)
    alone = validate(table, now=NOW, **options)
    monkeypatch.setattr(arrow_text, "PARALLEL_FROM", 1)
    beside = validate(table, now=NOW, **options)
    pd.testing.assert_frame_equal(alone.problems, beside.problems)
    pd.testing.assert_frame_equal(alone.valid, beside.valid)
    assert (alone.date_order, alone.dates_ambiguous, alone.amount_marks) == (
        beside.date_order, beside.dates_ambiguous, beside.amount_marks,
    )  # fmt: skip


def _edge_table() -> pd.DataFrame:
    return apply_mapping(read_table(EDGE_CASES), EDGE_MAPPING)


def test_the_edge_cases_file_is_read_as_written() -> None:
    """The trailing blank rows are dropped, the middle ones kept; the BOM is not a letter."""
    sheet = read_table(EDGE_CASES)
    assert sheet.columns[0] == "Email"
    assert (sheet.index[0], sheet.index[-1]) == (2, 74)
    assert sheet.loc[6, "Plan"] == "pro\nannual"
    assert sheet.loc[6, "Name"] == 'Zoë "the quote" O\'Neil'


def test_the_edge_cases_match_the_reference() -> None:
    table = _edge_table()
    assert_same(oracle.check(table, now=NOW, **EDGE_OPTIONS), _library(table, **EDGE_OPTIONS))


def test_the_edge_cases_in_chunks_match_the_reference() -> None:
    """Chunks of 24 rows: row 48 repeats row 2 and row 49 row 3 (once trimmed), a chunk
    apart; the blank rows 24 and 25 end the first chunk."""
    expected = oracle.check(_edge_table(), now=NOW, **EDGE_OPTIONS)
    assert_same(expected, _chunked(EDGE_CASES, EDGE_MAPPING, 24, **EDGE_OPTIONS))


# --- small tables: what the mapping never builds, and what issue 11 changes -------------


def _table(rows: list[dict[str, str]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, dtype="str").fillna("")
    for column in ("date", "email", "type"):
        if column not in frame:
            frame.insert(0, column, "")
    frame.index = pd.RangeIndex(2, 2 + len(frame), name="row")
    return frame.astype("str")


def _buy(amount: str = "", currency: str = "USD", **more: str) -> dict[str, str]:
    row = {"type": "$purchase", "email": "buyer@example.com", "details.unique.key": "K-1"}
    row |= {"details.value.amount": amount, "details.value.currency": currency}
    return row | more


def _json(details: str, **more: str) -> dict[str, str]:
    return {"type": "signup", "email": "json@example.com", "details": details} | more


# A detail and a longer path of it (the mapping refuses such columns; a notebook can).
PATHS = [
    {"type": "signup", "email": "a@example.com", "details.a": "x", "details.a.b": "y"},
    {"type": "signup", "email": "b@example.com", "details.a": "x"},
    {"type": "signup", "email": "c@example.com", "details.a.b": "y"},
]

CASES = [
    pytest.param(
        PATHS,
        {},
        id="a-detail-and-a-longer-path-of-it",
    ),
    pytest.param(
        [
            {"type": "signup", "email": e}
            for e in [
                "a@b@example.com",
                "a@-x.com",
                "a@x..com",
                "(a)@example.com",
                "x" * 65 + "@example.com",
                "a@example.123",
                "a,b@example.com",
                "ab@",
                "é@example.com",
                "a@exa_mple.com",
                "\ufeffa@example.com",
                "a\u00a0b@x.com",
            ]
        ],
        {},
        id="emails-and-why-not",
    ),
    pytest.param(
        [
            {"type": "signup", "email": "a@example.com", "date": "2024-01-05 " + "x" * 95},
            {"type": "signup", "email": "b@example.com", "date": "\x002024-01-05\x1b"},
            _buy(""),
            _buy("5", ""),
            _buy("5", " "),
        ],
        {},
        id="long-dates-and-missing-money",
    ),
    pytest.param(
        [
            {"type": "signup", "email": "a@example.com", "fields.note": "x" * 100_001},
            {"type": "x" * 100_001, "email": "b@example.com"},
        ],
        {},
        id="cells-longer-than-bento-takes",
    ),
    pytest.param(
        [
            _json("[" * 101 + "]" * 101),
            _json('{"a":' * 101 + "1" + "}" * 101),
            _json('{"id": ' + "9" * 4301 + "}"),
            _json('{"a": -Infinity}'),
            _json('{"a": 1} x'),
            _json('"vip"'),
            _json("true"),
            _json("null"),
            _json("{}"),
        ],
        {},
        id="details-json-at-its-limits",
    ),
    pytest.param(
        [
            {"type": "signup", "email": f"tz{i}@example.com", "date": d}
            for i, d in enumerate(
                [
                    "2024-03-31 02:30:00",
                    "2024-10-27 02:30:00",
                    "2024-07-01 12:00:00",
                    "2024-07-01T12:00:00+05:30",
                    "07/01/2024 8:05 pm",
                    "03.04.24",
                ]
            )
        ],
        {"timezone": "Europe/Berlin", "date_order": "month-first"},
        id="dates-in-a-zone",
    ),
    pytest.param(
        [
            {"type": "signup", "email": f"d{i}@example.com", "date": d}
            for i, d in enumerate(["05/01/2024", "06/02/2024 10:00", ""])
        ],
        {},
        id="dates-that-could-be-read-both-ways",
    ),
    pytest.param(
        [
            {"type": "signup", "email": f"d{i}@example.com", "date": d}
            for i, d in enumerate(["13/01/2024", "01/13/2024", "2024-01-05"])
        ],
        {},
        id="dates-in-both-orders",
    ),
    pytest.param(
        [
            {"type": "signup", "email": f"u{i}@example.com", "date": d}
            for i, d in enumerate(
                ["\u0662\u0660\u0662\u0664-01-05", "05/01/\u0662\u0660\u0662\u0664",
                 "13/01/2024", "2024-01-05 \u0661\u0662:00"]
            )
        ],
        {},
        id="dates-in-other-digits",
    ),
    pytest.param(
        [
            _buy("49,99", "EUR"),
            _buy("1.299,00", "EUR"),
            _buy("1 299,5", "EUR"),
            _buy("12,345", "EUR"),
            _buy("49.99", "EUR"),
        ],
        {"amounts": "major"},
        id="amounts-with-a-decimal-comma",
    ),
    pytest.param(
        [
            _buy("4999"),
            _buy("007"),
            _buy("-0"),
            _buy("-00"),
            _buy("4999.00"),
            _buy("-250"),
            _buy("9223372036854775807"),
            _buy("9223372036854775808"),
            _buy("1" * 30),
            _buy("49.99", "JPY"),
            _buy("$5"),
            _buy("5", "usd"),
            _buy("5", "Usd"),
        ],
        {},
        id="amounts-in-cents-in-the-column",
    ),
    pytest.param(
        [
            _buy("0.99", "GBP"),
            _buy("-0.00"),
            _buy("1.5", "JPY"),
            _buy("0.001", "KWD"),
            _buy("9223372036854775807"),
            _buy("92233720368547758.07"),
            _buy("1,2,3"),
            _buy("007"),
            _buy("00.99"),
            _buy("-007.50"),
            _buy("-0"),
        ],
        {"amounts": "major"},
        id="amounts-in-currency-units",
    ),
    pytest.param(
        [
            _buy(currency="", details='{"value": {"amount": 4999, "currency": "usd"}}'),
            _buy(currency="", details='{"value": {"amount": "4999", "currency": "USD"}}'),
            _buy(
                currency="",
                details='{"value": {"amount": 99999999999999999999, "currency": "USD"}}',
            ),
            {
                "type": "signup",
                "email": "v@example.com",
                "details": '{"value": {"amount": 5, "currency": "USD"}}',
            },
        ],
        {},
        id="amounts-in-the-details-json",
    ),
    pytest.param(
        [
            {"type": "$update_fields", "email": "u@example.com", "fields.plan": "pro"},
            {"type": "$update_fields", "email": "v@example.com", "fields.plan": ""},
            {"type": "signup", "email": "n@example.com", "fields.note": "a\x00b\x1b"},
            {"type": "$Subscribe", "email": "s@example.com"},
            {"type": "$unsubscrbe", "email": "s@example.com"},
        ],
        {},
        id="kinds-and-controls",
    ),
    pytest.param(
        [_buy("\u0664\u0669\u0669\u0669"), _buy("\u0664\u0669.\u0669\u0669")],
        {"amounts": "major"},
        id="amounts-in-other-digits-major",
    ),
    pytest.param(
        [_buy("\u0664\u0669\u0669\u0669")],
        {},
        id="amounts-in-other-digits-minor",
    ),
    pytest.param(
        [_json('{"n": 1.5e3, "m": 1.0, "z": -0, "e": 1E2, "f": 0.10}')],
        {},
        id="details-numbers-as-written",
    ),
    pytest.param(
        [_json('{"score": 1e400}'), _json('{"score": -1e400}')],
        {},
        id="details-number-too-large-for-a-float",
    ),
    pytest.param(
        [
            _buy(currency="", details='{"value": {"amount": -0, "currency": "USD"}}'),
            _buy(currency="", details='{"value": {"amount": 4999.00, "currency": "USD"}}'),
        ],
        {},
        id="cents-in-the-details-json-as-written",
    ),
    pytest.param(
        [
            {
                "type": "signup",
                "email": "f@example.com",
                "fields.plan": " pro ",
                "details.tag": "vip\u00a0",
            },
            _buy(" 4999 ", " USD"),
        ],
        {},
        id="fields-and-details-sent-as-checked",
    ),
]


def test_a_detail_and_a_longer_path_of_it_are_checked_as_the_reference() -> None:
    """What validate and build_events make of a table with details.a and details.a.b."""
    table = _table(PATHS)
    expected, result = oracle.check(table, now=NOW), validate(table, now=NOW)
    assert _problems(result.problems) == expected.problems
    assert build_events(result.valid) == expected.events


@pytest.mark.parametrize(("rows", "options"), CASES)
def test_small_tables_match_the_reference(rows: list[dict[str, str]], options: Any) -> None:
    table = _table(rows)
    assert_same(oracle.check(table, now=NOW, **options), _library(table, **options))


SMALL_MAPPING = ColumnMapping(
    {"Email": "email", "Event": "type", "Date": "date", "Order": "details.unique.key",
     "Amount": "details.value.amount", "Currency": "details.value.currency"}
)  # fmt: skip


@pytest.mark.parametrize(
    ("cells", "options"),
    [
        pytest.param(
            [("signup", "05/01/2024", "", ""), ("signup", "06/02/2024", "", ""),
             ("signup", "13/01/2024", "", ""), ("signup", "07/03/2024", "", "")],
            {}, id="a-date-order-decided-after-ambiguous-chunks",
        ),
        pytest.param(
            [("$purchase", "", "1.299,00", "EUR"), ("$purchase", "", "5", "EUR"),
             ("$purchase", "", "1,299", "EUR"), ("$purchase", "", "7", "EUR")],
            {"amounts": "major"}, id="a-decimal-mark-decided-in-an-earlier-chunk",
        ),
        pytest.param(
            [("$purchase", "", "5", "EUR"), ("$purchase", "", "1,299", "EUR"),
             ("$purchase", "", "7", "EUR"), ("$purchase", "", "1.299,00", "EUR")],
            {"amounts": "major"}, id="a-decimal-mark-decided-in-a-later-chunk",
        ),
        pytest.param(
            [("$purchase", "", "49,99", "EUR"), ("$purchase", "", "5", "EUR"),
             ("$purchase", "", "1,299.00", "USD"), ("$purchase", "", "7", "EUR")],
            {"amounts": "major"}, id="a-decimal-comma-outweighed-by-a-later-chunk",
        ),
    ],
)  # fmt: skip
def test_column_wide_decisions_are_the_files_in_chunks(
    tmp_path: Path, cells: list[tuple[str, str, str, str]], options: Any
) -> None:
    path = tmp_path / "small.csv"
    lines = ["Email,Event,Date,Order,Amount,Currency"]
    lines += [
        f'b{i}@example.com,{kind},{date},O-{i},"{amount}",{currency}'
        for i, (kind, date, amount, currency) in enumerate(cells)
    ]
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    expected = oracle.check(apply_mapping(read_table(path), SMALL_MAPPING), now=NOW, **options)
    assert_same(expected, _chunked(path, SMALL_MAPPING, 2, **options))


def test_the_edge_cases_from_a_workbook_match_the_reference(tmp_path: Path) -> None:
    """The same cells in an XLSX file (less the control characters XML cannot hold) give
    the same problems and payloads: the workbook reader keeps the text exact."""
    openpyxl = pytest.importorskip("openpyxl")
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    sheet = read_table(EDGE_CASES).map(lambda v: ILLEGAL_CHARACTERS_RE.sub("", v))
    book = openpyxl.Workbook()
    rows = book.active
    rows.append(list(sheet.columns))
    for values in sheet.itertuples(index=False):
        rows.append([v or None for v in values])
    rows.append([None] * len(sheet.columns))  # a trailing blank row
    path = tmp_path / "edge.xlsx"
    book.save(path)
    table = apply_mapping(read_table(path), EDGE_MAPPING)
    expected = oracle.check(apply_mapping(sheet, EDGE_MAPPING), now=NOW, **EDGE_OPTIONS)
    assert_same(expected, _library(table, **EDGE_OPTIONS))
