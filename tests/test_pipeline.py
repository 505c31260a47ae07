"""The chunked path gives what the whole-table path gives, for files bigger than memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bento_ui import ReadError, apply_mapping, read_table, suggest_mapping, validate
from bento_ui.emulator import Emulator
from bento_ui.ledger import Ledger
from bento_ui.pipeline import iter_table, prepare_in_chunks, read_header
from bento_ui.sending import Origin, plan_send
from bento_ui.validation import SeenRows

NOW = pd.Timestamp("2026-11-26T12:00:00Z")

CSV_FILES = {
    "plain.csv": "Email,Event,Date\na@x.com,signup,2024-01-05\nb@x.com,signup,2024-01-06\n",
    "bom-crlf.csv": "\ufeffEmail,Event\r\na@x.com,signup\r\n\r\nb@x.com,t\r\n\r\n\r\n",
    "sep-hint.csv": '\n,,\nsep=;\nEmail;Event;Note\na@x.com;signup;"two\nlines"\nb@x.com;t;"x;y"\n',
    "semicolons.csv": "Email;Event\na@x.com;signup\n;\n c@x.com ;t\n",
    "tabs.tsv": "Email\tEvent\na@x.com\tsignup\n",
    "quoted-json.csv": 'Email,Details\na@x.com,"{""a"": 1}"\n',
    "unicode.csv": "E-mail,Name\njörg@bücher.de,Jörg\n",
}


@pytest.mark.parametrize("name", sorted(CSV_FILES))
@pytest.mark.parametrize("chunk_rows", [1, 2, 1000])
def test_chunks_add_up_to_the_whole_table(tmp_path: Path, name: str, chunk_rows: int) -> None:
    path = tmp_path / name
    path.write_text(CSV_FILES[name], encoding="utf-8", newline="")
    whole = read_table(path)
    chunks = list(iter_table(path, chunk_rows=chunk_rows))
    assert all(len(c) <= chunk_rows + 3 for c in chunks)  # + blank rows held over
    joined = pd.concat(chunks)
    assert joined.equals(whole)
    assert list(joined.index) == list(whole.index)  # spreadsheet row numbers continue
    assert read_header(path) == list(whole.columns)


def test_a_workbook_is_read_whole_and_given_in_chunks(tmp_path: Path) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Email", "Event"])
    for i in range(5):
        sheet.append([f"u{i}@x.com", "signup"])
    book.save(tmp_path / "events.xlsx")
    chunks = list(iter_table(tmp_path / "events.xlsx", chunk_rows=2))
    assert [list(c.index) for c in chunks] == [[2, 3], [4, 5], [6]]


def test_a_row_longer_than_the_header_stops_the_chunked_reader(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text("Email,Event\na@x.com,signup\nb@x.com,signup,extra\n", encoding="utf-8")
    with pytest.raises(ReadError, match="a row has 3 cells where the header has 2"):
        list(iter_table(path))


def test_an_unclosed_quote_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "quote.csv"
    path.write_text('Email,Event\na@x.com,"signup\nb@x.com,t\n', encoding="utf-8")
    with pytest.raises(ReadError, match="never closed"):
        list(iter_table(path))


def _events_csv(path: Path, rows: int) -> None:
    lines = ["Email Address,Event,Date,Plan"]
    for i in range(rows):
        lines.append(f"user{i % 20}@example.com,signup,2024-01-{i % 10 + 1:02d} 10:00,pro")
    lines[7] = "bad-email,signup,2024-01-05 10:00,pro"
    lines[11] = ",,,"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.parametrize("chunk_rows", [7, 50, 10_000])
def test_prepare_in_chunks_finds_what_validate_finds(tmp_path: Path, chunk_rows: int) -> None:
    path = tmp_path / "events.csv"
    _events_csv(path, 200)  # rows repeat every 20 rows: duplicates across chunks
    mapping = suggest_mapping(read_header(path))
    whole = validate(apply_mapping(read_table(path), mapping), now=NOW)
    prepared = prepare_in_chunks(path, mapping, chunk_rows=chunk_rows, now=NOW)
    assert prepared.summary == whole.summary
    assert prepared.problems.equals(whole.problems)
    assert "the same event as row" in " ".join(prepared.problems["message"])
    again = list(prepared.chunks())
    assert pd.concat([c.valid for c in again]).equals(whole.valid)
    # Read again, each chunk's own problems are the first pass's, repeats and all.
    problems = pd.concat([c.validation.problems for c in again], ignore_index=True)
    assert problems.equals(whole.problems)


def test_the_first_chunk_that_decides_the_date_order_decides_it_for_the_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "dates.csv"
    rows = ["Email,Event,Date"] + [f"u{i}@x.com,signup,05/01/2024" for i in range(6)]
    rows.append("late@x.com,signup,26/11/2024")  # only the last chunk shows day-first
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    mapping = suggest_mapping(read_header(path))
    prepared = prepare_in_chunks(path, mapping, chunk_rows=3, now=NOW)
    assert prepared.date_order == "day-first"
    assert not prepared.dates_ambiguous
    assert prepared.problems.empty
    dates = pd.concat([c.valid for c in prepared.chunks()])["date"]
    assert set(dates) == {"2024-01-05T00:00:00Z", "2024-11-26T00:00:00Z"}


def test_a_column_ambiguous_to_the_end_still_needs_the_persons_choice(tmp_path: Path) -> None:
    path = tmp_path / "dates.csv"
    rows = ["Email,Event,Date"] + [f"u{i}@x.com,signup,05/01/2024" for i in range(5)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    prepared = prepare_in_chunks(path, suggest_mapping(read_header(path)), chunk_rows=2)
    assert prepared.dates_ambiguous
    assert prepared.summary["with errors"] == 5


def test_send_stream_sends_every_valid_row_once_in_full_batches(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    lines = ["Email,Event"] + [f"u{i}@example.com,signup" for i in range(23)]
    lines[5] = "not-an-email,signup"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    prepared = prepare_in_chunks(path, suggest_mapping(read_header(path)), chunk_rows=4)
    with Emulator() as bento:
        plan = plan_send(prepared, bento.credentials, ledger=None, batch_size=5)
        assert plan.events == 22
        report = plan.send()
        recorded = bento.events()
    assert [r.events for r in report.results] == [5, 5, 5, 5, 2]  # across chunk boundaries
    assert report.ok and report.totals["recorded"] == 22
    assert sorted(e["email"] for e in recorded) == sorted(
        f"u{i}@example.com" for i in range(23) if i != 4
    )
    rows = [row for r in report.results for row in r.batch.rows]
    assert rows == [r for r in range(2, 25) if r != 6]


def test_a_streamed_send_is_recorded_and_not_sent_twice(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    lines = ["Email,Event"] + [f"u{i}@example.com,signup" for i in range(12)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    prepared = prepare_in_chunks(path, suggest_mapping(read_header(path)), chunk_rows=4)
    with Emulator() as bento, Ledger(tmp_path / "ledger.sqlite3") as ledger:
        origin = Origin(name=path.name, path=path)
        first = plan_send(prepared, bento.credentials, ledger=ledger, origin=origin,
                          batch_size=5).send()  # fmt: skip
        # The same file again: the site has every event, so nothing goes out.
        again = plan_send(prepared, bento.credentials, ledger=ledger, origin=origin,
                          batch_size=5).send()  # fmt: skip
        recorded = bento.events()
        run = ledger.run(first.run_id or "")
    assert first.ok and len(recorded) == 12
    assert [b.state for b in run.batches] == ["accepted", "accepted", "accepted"]
    assert run.source_path == str(path.resolve())
    assert again.results == []
    assert again.totals["recorded"] == 0 and again.totals["not sent"] == 12
    [held] = again.held_back
    assert held.events == 12 and "were sent to this site" in held.message
    assert held.row_ranges == "2-13"


def test_seen_rows_remembers_the_first_row_of_each_hash() -> None:
    seen = SeenRows()
    for start in range(0, 1000, 100):  # ten chunks, merged as they come
        hashes = np.arange(start, start + 100, dtype=np.uint64) * 7919
        seen.add(hashes, np.arange(start, start + 100) + 2)
    assert len(seen) == 1000
    probe = np.array([0, 7919 * 999, 5, 7919 * 500], dtype=np.uint64)
    assert list(seen.first_rows(probe)) == [2, 1001, -1, 502]


def _near_twins() -> pd.DataFrame:
    """Rows of equal lengths that differ in one byte, at every position of a cell up to
    past the third 8-byte word, or only in where one cell ends and the next begins; and
    exact repeats of some of them. Cheap keys (lengths) cannot tell any of them apart."""
    base = "abcdefghijklmnopqrstuvwxyz0123"
    rows = [(base, "ab", "c")]
    rows += [(base[:at] + "é" + base[at + 2 :], "ab", "c") for at in range(0, 28, 3)]
    rows += [(base[:at] + "_" + base[at + 1 :], "ab", "c") for at in range(len(base))]
    rows += [(base, "a", "bc"), (base, "", "abc"), (base, "abc", "")]
    rows += rows[::7]  # exact repeats
    return pd.DataFrame(rows, columns=["fields.note", "fields.a", "fields.b"], dtype="str")


def test_row_hashes_tell_apart_exactly_the_rows_pandas_tells_apart() -> None:
    from bento_ui.row_hashes import row_hashes

    frame = _near_twins()
    frame.loc[len(frame)] = [None, "ab", "c"]  # a missing cell is not ""
    frame.loc[len(frame)] = ["", "ab", "c"]
    ours = pd.Series(row_hashes(frame))
    pandas = pd.util.hash_pandas_object(frame, index=False)
    assert ours.duplicated().sum() == _near_twins().duplicated().sum() > 0
    # The same rows are equal: the first of each group is the same row for both.
    first, first_pandas = (h.groupby(h).transform("idxmin") for h in (ours, pandas))
    assert (first == first_pandas).all()


@pytest.mark.parametrize("chunk_rows", [3, 10_000])
def test_a_near_twin_in_another_chunk_is_not_a_duplicate(tmp_path: Path, chunk_rows: int) -> None:
    twins = _near_twins()
    lines = ["Email,Event,Date,Note,A,B"]
    for note, a, b in twins.itertuples(index=False):
        lines.append(f"same@example.com,signup,2024-01-05 10:00,{note},{a},{b}")
    path = tmp_path / "twins.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    mapping = suggest_mapping(read_header(path))
    whole = validate(apply_mapping(read_table(path), mapping), now=NOW)
    prepared = prepare_in_chunks(path, mapping, chunk_rows=chunk_rows, now=NOW)
    assert prepared.problems.equals(whole.problems)
    repeats = prepared.problems[prepared.problems["message"].str.contains("the same event")]
    assert len(repeats) == twins.duplicated().sum() > 0  # the exact repeats, no more


def test_on_chunk_sees_every_chunk_in_order_and_its_error_stops_the_pass(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    _events_csv(path, 200)
    mapping = suggest_mapping(read_header(path))
    seen: list[int] = []
    prepared = prepare_in_chunks(
        path, mapping, chunk_rows=30, now=NOW, on_chunk=lambda c: seen.append(c.validation.rows)
    )
    assert seen == [30] * 6 + [20] and prepared.rows == 200

    def fails_on_the_second(chunk: object) -> None:
        seen.append(1)
        if len(seen) == 2:
            raise RuntimeError("stop here")

    seen.clear()
    with pytest.raises(RuntimeError, match="stop here"):
        prepare_in_chunks(path, mapping, chunk_rows=30, now=NOW, on_chunk=fails_on_the_second)
    assert len(seen) == 2  # no chunk is handed over after the error


def test_a_rows_hash_does_not_depend_on_the_rows_beside_it() -> None:
    # Each chunk is hashed on its own: a cell must hash the same in a column of cells all
    # as long as it (one row alone), of short cells, or of long and short ones.
    from bento_ui.row_hashes import row_hashes

    frame = _near_twins()
    whole = row_hashes(frame)
    alone = [row_hashes(frame.iloc[[i]])[0] for i in range(len(frame))]
    assert list(whole) == alone
    short = frame[frame["fields.a"].str.len() == 2]
    assert list(row_hashes(short)) == list(whole[short.index])
