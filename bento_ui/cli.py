"""`bento-ui`: validate and send event spreadsheets, run the emulator, start the app.

Every send is recorded in the send ledger (`bento_ui.ledger`): `bento-ui history` lists
the runs, `bento-ui send --resume RUN_ID` finishes one that did not, and sending a file
again skips the events the site already accepted (`--send-again` sends them anyway).

Exit codes: 0 all good; 1 problems in the data or batches not accepted; 2 a file that
cannot be read or options that make no sense.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from bento_ui import __version__, line_items
from bento_ui import events as ev
from bento_ui.batching import MAX_BATCH_SIZE
from bento_ui.config import Credentials
from bento_ui.dates import check_timezone
from bento_ui.errors import BentoUIError, MappingError, ReadError, TimezoneError
from bento_ui.export import write_safe_csv
from bento_ui.guard import Resend
from bento_ui.ledger import Ledger, RunRecord, file_hash
from bento_ui.mapping import (
    DEFAULT_REST,
    ColumnMapping,
    apply_mapping,
    check_mapping,
    folded_rows,
    header_row_hint,
    suggest_mapping,
    with_rest,
)
from bento_ui.messages import batches_text, failure_lines, held_back_note
from bento_ui.money import MINOR, UNITS
from bento_ui.outcomes import NOT_RECORDED, BatchState, RunState
from bento_ui.pipeline import PreparedFile, prepare_in_chunks, read_header
from bento_ui.progress import ProgressBar
from bento_ui.resume import plan_resume, source_options
from bento_ui.sending import BatchResult, Origin, SendPlan, SendReport, plan_send
from bento_ui.spreadsheet import REPEATED_HEADERS, describe_repeated_headers, read_table
from bento_ui.terminal import EscapingStream
from bento_ui.validation import Validation, validate

SHOWN_PROBLEMS = 20
SHOWN_COLUMNS = 20  # the "Columns:" line names this many, then counts the rest
# CSV files this big are read, checked and sent chunk by chunk, so memory stays flat
# however many rows they have (BENTO_UI_STREAM_BYTES overrides it).
STREAM_BYTES = 256 * 2**20
EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    # Every line printed may hold a cell or Bento's words: show control characters as
    # \xNN rather than let them act on the terminal (see bento_ui.terminal).
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = EscapingStream(stdout), EscapingStream(stderr)
    try:
        return _main(argv)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout, sys.stderr = stdout, stderr


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except ReadError as exc:
        print(f"Cannot read {getattr(args, 'file', None) or 'the file'}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BentoUIError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\nStopped.", file=sys.stderr)
        return 130
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bento-ui",
        description="Compose, check and send events to Bento's Create Events API.",
    )
    parser.add_argument("--version", action="version", version=f"bento-ui {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = commands.add_parser(
        "validate", help="check a spreadsheet and list its problems; sends nothing"
    )
    _add_input_options(check)
    check.add_argument("--problems", metavar="OUT.csv", help="write every problem to a CSV file")
    check.set_defaults(run=_validate_command)

    send_cmd = commands.add_parser(
        "send",
        help="check a spreadsheet and send its events",
        description="Check a spreadsheet and send its events. Every send is recorded in the "
        "send ledger; events this site already accepted are skipped.",
    )
    _add_input_options(send_cmd, file_required=False)
    send_cmd.add_argument(
        "--batch-size",
        type=_batch_size,
        metavar="N",
        help="events per request, 1-1000 (default 1000)",
    )
    send_cmd.add_argument(
        "--rate",
        type=_rate,
        metavar="N",
        help="at most N requests a minute (default 60 to Bento, as it asks; none to the "
        "sandbox or another local server)",
    )
    send_cmd.add_argument(
        "--skip-invalid",
        action="store_true",
        help="send the valid rows even when other rows have errors",
    )
    send_cmd.add_argument(
        "--dry-run", action="store_true", help="check and plan the batches, send nothing"
    )
    send_cmd.add_argument("--report", metavar="OUT.csv", help="write the per-batch report")
    send_cmd.add_argument(
        "--failures",
        metavar="OUT.csv",
        help="write one line per event Bento refused: row, email, type, Bento's reason",
    )
    send_cmd.add_argument(
        "--resume",
        metavar="RUN_ID",
        help="finish an earlier run: send only its batches Bento did not record "
        "(the run's own file and options are used)",
    )
    send_cmd.add_argument(
        "--resend-unknown",
        action="store_true",
        help="also send events of uncertain fate: their earlier batch got no answer, or "
        "Bento refused some of it without naming them all (check Bento first)",
    )
    send_cmd.add_argument(
        "--send-again",
        action="store_true",
        help="send events even when the ledger shows this site accepted them, or may have "
        "(implies --resend-unknown)",
    )
    send_cmd.set_defaults(run=_send_command)

    history = commands.add_parser("history", help="list past sends and what happened to each batch")
    history.add_argument("run_id", nargs="?", metavar="RUN_ID", help="show one run's batches")
    history.add_argument(
        "--json", action="store_true", help="print the runs as a JSON array, newest first"
    )
    history.add_argument(
        "--limit", type=int, metavar="N", help="show the N newest runs (default 20; 0 for all)"
    )
    history.add_argument(
        "--csv",
        metavar="OUT.csv",
        help="write the runs (or RUN_ID's batches) to a CSV file",
    )
    history.set_defaults(run=_history_command)

    emulator = commands.add_parser("emulator", help="run a local Bento emulator")
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=int, default=8787)
    emulator.add_argument("--site-uuid")
    emulator.add_argument("--publishable-key")
    emulator.add_argument("--secret-key")
    emulator.add_argument("--max-batch", type=int, default=MAX_BATCH_SIZE)
    emulator.set_defaults(run=_emulator_command)

    app = commands.add_parser("app", help="start the Streamlit app")
    app.add_argument("--host", default="127.0.0.1")
    app.add_argument("--port", type=int, default=8501)
    app.set_defaults(run=_app_command)
    return parser


def _add_input_options(parser: argparse.ArgumentParser, file_required: bool = True) -> None:
    if file_required:
        parser.add_argument("file", help="CSV, TSV, XLSX, XLS, ODS or JSON lines")
    else:
        parser.add_argument(
            "file",
            nargs="?",
            help="CSV, TSV, XLSX, XLS, ODS or JSON lines (optional with --resume)",
        )
    parser.add_argument(
        "--type",
        metavar="T",
        default="",
        help="event type for rows that have none (a type in the sheet wins)",
    )
    parser.add_argument("--sheet", metavar="S", help="worksheet name or 0-based number")
    parser.add_argument(
        "--header-row",
        type=_header_row,
        metavar="N",
        help="the spreadsheet row that holds the column names, when a title sits above them",
    )
    parser.add_argument(
        "--rest",
        choices=["fields", "ignore"],
        default=DEFAULT_REST,
        help="where the columns the tool cannot place go: kept as profile fields (the "
        "default) or ignored; --map places any of them",
    )
    parser.add_argument(
        "--map",
        metavar="HEADER=TARGET",
        action="append",
        default=[],
        help="send a column somewhere else: email, type, date, details, "
        "fields.NAME, details.PATH or ignore (repeatable)",
    )
    parser.add_argument(
        "--timezone",
        type=_timezone,
        default="UTC",
        help="zone of dates written without one, such as Europe/Berlin (default UTC)",
    )
    parser.add_argument(
        "--date-order",
        choices=["day-first", "month-first"],
        help="how to read dates like 05/01/2024",
    )
    parser.add_argument(
        "--amounts",
        choices=list(UNITS),
        default=MINOR,
        help="the unit of $purchase amounts (details.value.amount): minor (cents: 4999, "
        "the default, as Bento wants them) or major (currency units: 49.99, 1,299.00; "
        "turned into cents by each row's currency)",
    )


def _batch_size(text: str) -> int:
    try:
        size = int(text)
    except ValueError:
        size = 0
    if not 1 <= size <= MAX_BATCH_SIZE:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to {MAX_BATCH_SIZE}")
    return size


def _header_row(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("must be a row number, 1 or more")
    return int(text)


def _timezone(text: str) -> str:
    try:
        return check_timezone(text)
    except TimezoneError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _rate(text: str) -> float:
    try:
        rate = float(text)
    except ValueError:
        rate = 0.0
    if not 0 < rate <= 100_000:
        raise argparse.ArgumentTypeError("must be a number of requests a minute, more than 0")
    return rate


def _sheet_arg(args: argparse.Namespace) -> str | int | None:
    sheet_arg: str | int | None = args.sheet
    if isinstance(sheet_arg, str) and sheet_arg.isdigit():
        sheet_arg = int(sheet_arg)
    return sheet_arg


def _prepare(args: argparse.Namespace, data: bytes | None = None) -> Validation:
    """Read, map and validate the file; print what was understood."""
    source: str | bytes = args.file if data is None else data
    sheet = read_table(source, sheet=_sheet_arg(args), name=Path(args.file).name,
                       header_row=getattr(args, "header_row", None))
    repeats = describe_repeated_headers(sheet.attrs.get(REPEATED_HEADERS, {}))
    if repeats:
        print(repeats)
    mapping = _suggest([str(h) for h in sheet.columns], args)
    _print_columns(mapping)
    _print_lower_header(sheet, args)
    args.mapping = mapping  # stored with the run, so that a resume maps it the same way
    _check_mapping(sheet, mapping)
    table = apply_mapping(sheet, mapping)
    _print_folded(folded_rows(table), mapping)
    result = validate(
        table, timezone=args.timezone, date_order=args.date_order, amounts=args.amounts
    )
    _print_summary(args, result.summary, result.events, len(folded_rows(table)))
    return result


def _print_lower_header(sheet: pd.DataFrame, args: argparse.Namespace) -> None:
    """A header that maps but sits above the real one (Zoom's meeting block): said once."""
    if getattr(args, "header_row", None) is not None:
        return
    row = header_row_hint(sheet)
    if row is not None:
        names = ", ".join(str(v).strip() for v in sheet.loc[row] if str(v).strip())
        print(f"Row {row} looks like the column names ({names}): if it is, run again with "
              f"--header-row {row}.")


def _print_summary(
    args: argparse.Namespace, s: dict[str, int], events: int, folded: int = 0
) -> None:
    # Rows folded into their orders (line items) are counted with the rows they were in.
    rows = f"{s['rows']:,} orders in {s['rows'] + folded:,} rows" if folded else (
        f"{s['rows']:,} rows")
    print(
        f"{Path(args.file).name}: {rows}: {s['valid']:,} valid, "
        f"{s['with errors']:,} with errors, {s['with warnings']:,} with warnings, "
        f"{s['empty skipped']:,} empty skipped"
    )
    if events != s["valid"]:
        print(
            f"The {s['valid']:,} valid rows make {events:,} events: each tag in the tags "
            "column is a $tag event of its own."
        )
    if s["rows"] == s["empty skipped"]:
        print(
            f"{Path(args.file).name} has no data rows: add at least one event below the "
            "header."
        )


def _streams(args: argparse.Namespace) -> bool:
    """A CSV or TSV file big enough to be read chunk by chunk."""
    path = Path(args.file)
    limit = int(os.environ.get("BENTO_UI_STREAM_BYTES", STREAM_BYTES))
    return (
        getattr(args, "header_row", None) is None  # a title above the header: read it whole
        and path.suffix.lower() in (".csv", ".tsv", ".txt")
        and path.is_file()
        and path.stat().st_size >= limit
    )


def _prepare_in_chunks(args: argparse.Namespace) -> PreparedFile:
    """`_prepare` for a big CSV: the same lines printed, the file never whole in memory."""
    print(f"{Path(args.file).name} is big: reading it in chunks of rows.")
    headers = read_header(args.file)
    mapping = _suggest(headers, args)
    _print_columns(mapping)
    _check_mapping(pd.DataFrame(columns=headers), mapping)
    prepared = prepare_in_chunks(
        args.file, mapping, timezone=args.timezone, date_order=args.date_order,
        amounts=args.amounts,
    )  # fmt: skip
    _print_folded(prepared.folded, mapping)
    _print_summary(args, prepared.summary, prepared.valid_rows, len(prepared.folded))
    return prepared


def _print_folded(folded: dict[int, int], mapping: ColumnMapping) -> None:
    """The rows that continue an order (Shopify's line items), said once."""
    message = line_items.describe(folded, mapping.columns)
    if message:
        print(message)


def _suggest(headers: Sequence[str], args: argparse.Namespace) -> ColumnMapping:
    """The suggested mapping, its unplaced columns sent to --rest, then each --map."""
    mapping = with_rest(suggest_mapping(headers, default_type=args.type),
                        getattr(args, "rest", DEFAULT_REST))
    overridden = _override(mapping, args.map)
    placed = {pair.partition("=")[0] for pair in args.map}
    overridden.unplaced = [h for h in mapping.unplaced if h not in placed]
    return overridden


def _check_mapping(sheet: pd.DataFrame, mapping: ColumnMapping) -> None:
    """check_mapping's problems in the command line's words: which option to give."""
    problems = check_mapping(sheet.columns, mapping)
    if not problems:
        return
    said = []
    for problem in problems:
        if problem.startswith("No column goes to type"):
            problem = (
                "No column goes to type and no type is given for every row: give one "
                "with --type NAME (like --type webinar_attended), or name the column that "
                "holds it with --map HEADER=type."
            )
        elif problem.startswith("No column goes to email"):
            problem = ("No column goes to email: name the column that holds the addresses "
                       "with --map HEADER=email.")
        said.append(problem)
    row = header_row_hint(sheet)
    if row is not None and ev.EMAIL not in mapping.columns.values():
        names = ", ".join(str(v).strip() for v in sheet.loc[row] if str(v).strip())
        said.append(f"Row {row} looks like the column names ({names}): run again with "
                    f"--header-row {row}, or delete the rows above it.")
    raise MappingError(" ".join(said))


def _print_columns(mapping: ColumnMapping) -> None:
    pairs = [f"{header} -> {target}" for header, target in mapping.columns.items()]
    if len(pairs) > SHOWN_COLUMNS:  # a file of thousands of columns: the first few, a count
        pairs = [*pairs[:SHOWN_COLUMNS], f"... and {len(pairs) - SHOWN_COLUMNS:,} more columns "
                 f"({len(pairs):,} in all; --map HEADER=TARGET changes any of them)"]  # fmt: skip
    print(
        "Columns: "
        + ", ".join(pairs)
        + (f"; type for rows without one: {mapping.default_type}" if mapping.default_type else "")
    )
    if mapping.unplaced:
        rest = [h for h in mapping.unplaced if mapping.columns.get(h) != "ignore"]
        where = ("kept as fields; --rest ignore leaves them out" if rest
                 else "ignored (--rest ignore); --rest fields keeps them")
        shown = ", ".join(mapping.unplaced[:SHOWN_COLUMNS])
        more = len(mapping.unplaced) - SHOWN_COLUMNS
        print(f"Not recognised: {shown}{f' and {more:,} more' if more > 0 else ''} ({where}, "
              "--map HEADER=TARGET places one).")


def _no_data_rows(result: Validation) -> bool:
    """Only a header, or only blank rows below it: nothing to check or send."""
    return result.rows == len(result.empty_rows)


def _override(mapping: ColumnMapping, pairs: list[str]) -> ColumnMapping:
    columns = dict(mapping.columns)
    for pair in pairs:
        header, sep, target = pair.partition("=")
        if not sep or header not in columns:
            raise BentoUIError(
                f"--map {pair!r}: write HEADER=TARGET with a header of the sheet "
                f"({_some(list(columns))})"
            )
        columns[header] = target.strip()
    return ColumnMapping(columns=columns, default_type=mapping.default_type)


def _some(names: list[str]) -> str:
    """Names for a message, the first few and a count when there are many."""
    if len(names) <= SHOWN_COLUMNS:
        return ", ".join(names)
    return ", ".join(names[:SHOWN_COLUMNS]) + f", ... ({len(names):,} in all)"


def _print_problems(problems: pd.DataFrame) -> None:
    if problems.empty:
        return
    shown = problems.head(SHOWN_PROBLEMS)
    title = (
        "Problems"
        if len(problems) <= SHOWN_PROBLEMS
        else (f"Problems (first {SHOWN_PROBLEMS} of {len(problems):,})")
    )
    print(f"{title}:")
    for p in shown.itertuples(index=False):
        print(f"  row {p.row:<6} {p.column:<22} {p.severity:<8} {p.message}")


def _validate_command(args: argparse.Namespace) -> int:
    if _streams(args):
        prepared = _prepare_in_chunks(args)
        _print_problems(prepared.problems)
        if args.problems:
            write_safe_csv(prepared.problems, args.problems)
            print(f"Wrote {len(prepared.problems):,} problems to {args.problems}")
        s = prepared.summary
        return EXIT_PROBLEMS if s["with errors"] or s["rows"] == s["empty skipped"] else EXIT_OK
    result = _prepare(args)
    _print_problems(result.problems)
    if args.problems:
        write_safe_csv(result.problems, args.problems)
        print(f"Wrote {len(result.problems):,} problems to {args.problems}")
    return EXIT_PROBLEMS if result.error_rows or _no_data_rows(result) else EXIT_OK


def _send_command(args: argparse.Namespace) -> int:
    """Read and check (or rebuild a run), ask the engine for a plan, send, print."""
    if not args.resume and not args.file:
        raise BentoUIError("bento-ui send: give a FILE to send, or --resume RUN_ID.")
    resend = Resend(send_again=args.send_again, resend_unknown=args.resend_unknown)
    credentials, sandbox = _credentials()
    with Ledger() as ledger:
        if args.resume:
            plan = _resume_plan(args, credentials, ledger, resend)
        else:
            planned = _plan_file(args, credentials, ledger, resend, sandbox)
            if isinstance(planned, int):
                return planned
            plan = planned
        report = plan.send(
            on_batch=_printer(plan.events), on_start=_announcer(args, sandbox),
            on_wait=lambda _seconds, why: print(f"  {why}", flush=True),
            dry_run=args.dry_run, rate=args.rate,
        )  # fmt: skip
        if plan.stream is not None:  # a stream's guard speaks as the file is read
            for group in report.held_back:
                print(held_back_note(group, voice="cli", sandbox=sandbox))
        if not report.results and report.held_back:
            print("Nothing to send: every event was held back.")
        _print_outcome(args, report, sandbox, held=list(plan.elsewhere))
    if args.dry_run:
        return EXIT_OK
    return EXIT_OK if report.ok else EXIT_PROBLEMS


def _plan_file(
    args: argparse.Namespace, credentials: Credentials, ledger: Ledger, resend: Resend,
    sandbox: bool,
) -> SendPlan | int:
    """The plan for a file (checked whole, or in chunks when big); an exit code when
    nothing can be sent."""
    origin_target = "sandbox" if sandbox else None
    size = args.batch_size or MAX_BATCH_SIZE
    if _streams(args):
        prepared = _prepare_in_chunks(args)
        _print_problems(prepared.problems)
        summary = prepared.summary
        errors, valid_rows = summary["with errors"], prepared.valid_rows
        no_data = summary["rows"] == summary["empty skipped"]
        source: Any = prepared
        path = Path(args.file)
        file_digest = file_hash(path)
        mapping = prepared.mapping
    else:
        path = Path(args.file)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ReadError(
                f"Cannot open '{args.file}': {exc.strerror or exc}. Check the path and try again."
            ) from exc
        result = _prepare(args, data)
        _print_problems(result.problems)
        errors, valid_rows = len(result.error_rows), len(result.valid)
        no_data = _no_data_rows(result)
        source, file_digest, mapping = result.valid, file_hash(data), args.mapping
    if errors and not args.skip_invalid:
        print(
            f"Nothing sent: {errors:,} {'row has' if errors == 1 else 'rows have'} errors. "
            "Fix them, or pass --skip-invalid to send only the valid rows."
        )
        return EXIT_PROBLEMS
    if not valid_rows:
        print("Nothing to send: no valid rows.")
        return EXIT_PROBLEMS if errors or no_data else EXIT_OK
    origin = Origin(
        name=path.name, path=path.resolve(), file_hash=file_digest,
        options=_run_options(args, mapping), target=origin_target,
    )  # fmt: skip
    return plan_send(source, credentials, ledger=ledger, origin=origin, resend=resend,
                     batch_size=size)  # fmt: skip


def _resume_plan(
    args: argparse.Namespace, credentials: Credentials, ledger: Ledger, resend: Resend
) -> SendPlan:
    run = ledger.run(args.resume)
    source = args.file or None
    plan = plan_resume(run.id, credentials, ledger=ledger, source=source, resend=resend)
    print(
        f"Resuming run {run.id} ({run.state}, started {_when(run.created_at)} UTC): "
        f"{run.source_name} from {run.source_path or 'memory'}; the run's own options are "
        "used."
    )
    if args.batch_size is not None:
        print(f"--batch-size {args.batch_size} is not used: a resume sends the run's own "
              "batches, as they were planned.")  # fmt: skip
    accepted = [r.number for r in plan.earlier if r.state == BatchState.ACCEPTED]
    if accepted:
        print(f"{batches_text(accepted)} {'was' if len(accepted) == 1 else 'were'} accepted "
              "before: not resent.")  # fmt: skip
    for number in plan.uncertain:
        record = run.batch(number)
        what = (
            f"Batch {number} (rows {record.rows}, {record.events:,} events) ended "
            f"{record.state}: Bento may have recorded "
            + (f"{record.uncertain_events:,} of its events" if record.state == BatchState.PARTIAL
               else "it")
        )  # fmt: skip
        if resend.resend_unknown or resend.send_again:
            flag = "--send-again" if resend.send_again else "--resend-unknown"
            print(f"{what}. Sending it again, as asked ({flag}).")
        else:
            print(f"{what}. Not resent: check Bento, then add --resend-unknown to send it.")
    for number, runs in plan.elsewhere.items():
        print(
            f"Batch {number}: some of its events were accepted by this site, or are being "
            f"sent to it, in run {', '.join(runs)}: not sent; pass --send-again to send it "
            "anyway."
        )
    if plan.extra is not None:
        print(f"The run stopped before the end of its file: {len(plan.extra[0]):,} more valid "
              "rows are read on and sent, each event once.")  # fmt: skip
    return plan


def _announcer(args: argparse.Namespace, sandbox: bool) -> Callable[[SendReport], None]:
    """What the CLI says once the engine has claimed the events, before any request."""

    def announce(report: SendReport) -> None:
        for group in report.held_back:
            print(held_back_note(group, voice="cli", sandbox=sandbox))
        if args.resume:
            pass  # the resume plan said what it resends, batch by batch
        elif args.send_again:
            print("Events sent to this site before are sent again, as asked (--send-again).")
        elif args.resend_unknown:
            print("Events of earlier batches whose outcome is unknown are sent again, as "
                  "asked (--resend-unknown).")  # fmt: skip
        if report.run_id and not args.dry_run and not args.resume:
            if sandbox:
                print(f"Run {report.run_id} (a sandbox run: it cannot be resumed later).",
                      flush=True)  # fmt: skip
            else:
                print(f"Run {report.run_id}: if it is interrupted, `bento-ui send --resume "
                      f"{report.run_id}` sends what is left.", flush=True)  # fmt: skip

    return announce


def _run_options(args: argparse.Namespace, mapping: ColumnMapping) -> dict[str, Any]:
    """What turned the file into events, stored with the run so a resume can rebuild them."""
    return source_options(
        mapping,
        sheet=_sheet_arg(args),
        timezone=args.timezone,
        date_order=args.date_order,
        amounts=args.amounts,
        batch_size=args.batch_size or MAX_BATCH_SIZE,
        skip_invalid=args.skip_invalid,
        type=args.type,
        map=args.map,
        header_row=getattr(args, "header_row", None),
        send_again=args.send_again,
        resend_unknown=args.resend_unknown,
    )


def _credentials() -> tuple[Credentials, bool]:
    """The keys from the environment, or the sandbox's when none are set."""
    credentials = Credentials.from_env()
    if credentials is None:
        from bento_ui.emulator import sandbox as start_sandbox

        credentials = start_sandbox().credentials
        print(
            f"Sending to the sandbox, a local Bento emulator at {credentials.base_url}: "
            "nothing leaves this machine. Set BENTO_SITE_UUID, BENTO_PUBLISHABLE_KEY and "
            "BENTO_SECRET_KEY to send to Bento."
        )
        return credentials, True
    print(f"Sending to Bento site {credentials.site_uuid} at {credentials.base_url}.")
    return credentials, False


def _printer(total: int) -> Callable[[BatchResult], None]:
    """An `on_batch` that prints each batch's line (and Bento's refusals) above a
    progress bar."""
    bar = ProgressBar(total)
    sent = 0

    def show(batch: BatchResult) -> None:
        nonlocal sent
        sent += batch.events
        bar.clear()
        print(batch, flush=True)
        for line in failure_lines(batch.failures):
            print(f"    {line}")
        bar.update(sent)
        if sent >= total:
            bar.clear()

    return show


def _print_outcome(
    args: argparse.Namespace, report: SendReport, sandbox: bool, held: Sequence[int] = ()
) -> None:
    """The totals and what to do next; `held` lists batches resuming would hold again."""
    t = report.totals
    held_events = report.held_back_events
    print(
        f"Total: {t['events']:,} events: {t['recorded']:,} recorded by "
        f"{'the sandbox' if sandbox else 'Bento'}, {t['failed']:,} failed, "
        f"{t['unknown']:,} unknown, {t['not sent']:,} not sent"
        + (f" ({held_events:,} of them held back by the duplicate guard)" if held_events else "")
        + "."
    )
    if report.stopped:
        print(f"Stopped early: {report.stopped}")
    failures = report.failures
    if failures:
        print(f"Bento refused {len(failures):,} events by name: they were not recorded. Fix "
              "them and send the file again: only what was not recorded goes"
              + (f" (--failures {args.failures} lists them)." if args.failures else
                 " (--failures OUT.csv lists them)."))  # fmt: skip
    uncertain = [r.number for r in report.results if r.uncertain_events]
    not_sent = [
        r.number for r in report.results
        if r.state in NOT_RECORDED and not r.outcome.counted and r.number not in held
    ]  # fmt: skip
    if t["unknown"] and (sandbox or not report.run_id):
        print("Unknown batches may have been recorded: check Bento before sending them again.")
    if report.run_id and not args.dry_run and sandbox:
        if not_sent or uncertain:
            print("The sandbox forgets everything when this command ends: send the file again.")
    elif report.run_id and not args.dry_run:
        if not_sent:
            print(
                f"{batches_text(not_sent)} {'was' if len(not_sent) == 1 else 'were'} not "
                f"recorded: `bento-ui send --resume {report.run_id}` sends "
                + ("it." if len(not_sent) == 1 else "them.")
            )
        if uncertain:
            print(
                f"{batches_text(uncertain)} {'was' if len(uncertain) == 1 else 'were'} maybe "
                "recorded, in part or in full: check Bento before sending "
                + ("it" if len(uncertain) == 1 else "them") + " again "
                f"(`bento-ui send --resume {report.run_id} --resend-unknown`)."
            )
        print(f"Recorded as run {report.run_id}: `bento-ui history {report.run_id}` shows it.")
    if args.report:
        write_safe_csv(report.table, args.report)
        print(f"Wrote the per-batch report to {args.report}")
    if args.failures:
        write_safe_csv(report.failures_table, args.failures)
        print(f"Wrote {len(failures):,} refused events to {args.failures}")


def _when(stamp: str) -> str:
    return stamp.replace("T", " ")[:16]


def _history_command(args: argparse.Namespace) -> int:
    with Ledger() as ledger:
        if args.run_id:
            runs = [ledger.run(args.run_id)]
        else:
            limit = args.limit if args.limit is not None else (0 if args.json else 20)
            runs = ledger.runs(limit or None)
            total = ledger.count_runs()
        if args.csv:
            frame = (
                ledger.batches_table(runs[0].id)
                if args.run_id
                else ledger.runs_table(args.limit or None)
            )
            write_safe_csv(frame, args.csv)
        if args.json:
            print(json.dumps([run.as_dict() for run in runs], indent=2, ensure_ascii=False))
            return EXIT_OK
        if args.run_id:
            _print_run(runs[0])
        elif not runs:
            print(f"No sends recorded yet (the ledger is {ledger.path}).")
        else:
            print(f"{'RUN':<19} {'STARTED (UTC)':<17} {'STATE':<12} {'EVENTS':>7} "
                  f"{'RECORDED':>8} {'UNKNOWN':>7} {'NOT SENT':>8}  FILE -> WHERE")  # fmt: skip
            for run in runs:
                t = run.totals
                print(
                    f"{run.id:<19} {_when(run.created_at):<17} {run.state:<12} "
                    f"{t['events']:>7,} {t['recorded']:>8,} {t['unknown']:>7,} "
                    f"{t['not sent']:>8,}  {run.source_name or '-'} -> {_where(run)}"
                )
            if len(runs) < total:
                print(f"({len(runs)} newest of {total} runs; --limit 0 shows all)")
        if args.csv:
            print(f"Wrote {'the batches' if args.run_id else 'the runs'} to {args.csv}")
    return EXIT_OK


def _where(run: RunRecord) -> str:
    if run.target == "sandbox":
        return "the sandbox"
    site = f"site {run.site_uuid[:8]}…" if len(run.site_uuid) > 9 else f"site {run.site_uuid}"
    return f"Bento {site}" if run.target == "bento" else f"{site} at {run.base_url}"


def _print_run(run: RunRecord) -> None:
    t = run.totals
    print(f"Run {run.id}: {run.state}, started {_when(run.created_at)} UTC, last written "
          f"{_when(run.updated_at)} UTC")  # fmt: skip
    print(f"  to:    site {run.site_uuid} at {run.base_url} ({run.target})")
    if run.source_name or run.source_path:
        digest = f", sha256 {run.source_hash[:12]}…" if run.source_hash else ""
        print(f"  from:  {run.source_path or run.source_name}{digest}")
    if run.held_back:
        print(f"  held back: {run.held_back:,} events by the duplicate guard")
    if run.message:
        print(f"  stopped: {run.message}")
    for batch in run.batches:
        print(batch.describe(run.of))
        for line in failure_lines(batch.failures):
            print(f"    {line}")
    print(
        f"Total: {t['events']:,} events: {t['recorded']:,} recorded, {t['failed']:,} failed, "
        f"{t['unknown']:,} unknown, {t['not sent']:,} not sent."
    )
    not_sent = [b.number for b in run.batches if b.state in NOT_RECORDED]
    uncertain = [b.number for b in run.batches if b.uncertain_events]
    if run.state == RunState.RUNNING:
        print("It is being sent right now.")
        return
    if run.failures:
        print(f"Bento refused {len(run.failures):,} events by name (not recorded): fix them "
              "and send the file again; only what was not recorded goes.")  # fmt: skip
    if run.target == "sandbox" and (not_sent or uncertain or not run.planning_done):
        print("This run went to a sandbox, which forgot its events when the program that "
              "started it ended: it cannot be resumed. Send the file again.")  # fmt: skip
        return
    if not_sent or not run.planning_done:
        what = (f"{batches_text(not_sent)} {'was' if len(not_sent) == 1 else 'were'} not "
                "recorded" if not_sent else "The rest of its file was never sent")  # fmt: skip
        print(f"{what}: `bento-ui send --resume {run.id}` sends it.")
    if uncertain:
        print(
            f"{batches_text(uncertain)} {'was' if len(uncertain) == 1 else 'were'} maybe "
            "recorded, in part or in full: check Bento, then "
            f"`bento-ui send --resume {run.id} --resend-unknown` sends "
            + ("it" if len(uncertain) == 1 else "them")
            + " again."
        )
    if not not_sent and not uncertain and run.planning_done:
        print("Nothing to resend: every batch has its answer.")


def _emulator_command(args: argparse.Namespace) -> int:
    from bento_ui.emulator import Emulator

    emulator = Emulator(
        host=args.host,
        port=args.port,
        site_uuid=args.site_uuid,
        publishable_key=args.publishable_key,
        secret_key=args.secret_key,
        max_batch=args.max_batch,
    )
    emulator.start()
    c = emulator.credentials
    # The emulator's own keys are shown on purpose: they are what a client must send to it.
    print(f"Bento emulator listening at {c.base_url}. To send to it from a shell:")
    print(f"  export BENTO_API_URL={c.base_url}")
    print(f"  export BENTO_SITE_UUID={c.site_uuid}")
    print(f"  export BENTO_PUBLISHABLE_KEY={c.publishable_key}")
    print(f"  export BENTO_SECRET_KEY={c.secret_key}")
    print(
        f"Recorded events: GET {emulator.url}/_emulator/events. Press Ctrl+C to stop.", flush=True
    )
    try:
        emulator.serve_forever()
    finally:
        emulator.stop()
    return EXIT_OK


def _app_command(args: argparse.Namespace) -> int:
    app = Path(__file__).resolve().parent.parent / "app.py"
    if not app.exists():
        print(
            "The app is not installed with this copy of bento_ui: run `make run` from "
            "the project's folder.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    return subprocess.call(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(app),
            "--server.address",
            args.host,
            "--server.port",
            str(args.port),
            "--browser.gatherUsageStats",
            "false",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
