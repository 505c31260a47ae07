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

from bento_ui import __version__
from bento_ui.batching import MAX_BATCH_SIZE, describe_rows, plan_batches
from bento_ui.config import Credentials
from bento_ui.dates import check_timezone
from bento_ui.errors import BentoUIError, ReadError, TimezoneError
from bento_ui.export import write_safe_csv
from bento_ui.ledger import SENT_BEFORE, HeldBack, Ledger, RunRecord, file_hash
from bento_ui.mapping import ColumnMapping, apply_mapping, suggest_mapping
from bento_ui.payloads import build_events
from bento_ui.pipeline import PreparedFile, prepare_in_chunks, read_header, send_stream
from bento_ui.progress import ProgressBar
from bento_ui.resume import check_target, plan_resume, read_source, source_options
from bento_ui.sending import (
    ACCEPTED,
    PARTIAL,
    UNKNOWN,
    BatchResult,
    SendReport,
    send_batches,
)
from bento_ui.spreadsheet import read_table
from bento_ui.terminal import EscapingStream
from bento_ui.validation import Validation, validate

SHOWN_PROBLEMS = 20
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
        default=MAX_BATCH_SIZE,
        metavar="N",
        help="events per request, 1-1000 (default 1000)",
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
        "--resume",
        metavar="RUN_ID",
        help="finish an earlier run: send only its batches Bento did not record "
        "(the run's own file and options are used)",
    )
    send_cmd.add_argument(
        "--resend-unknown",
        action="store_true",
        help="also send events whose earlier batch ended unknown or partial "
        "(Bento may have recorded them: check Bento first)",
    )
    send_cmd.add_argument(
        "--send-again",
        action="store_true",
        help="send events even when the ledger shows this site already received them",
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


def _batch_size(text: str) -> int:
    try:
        size = int(text)
    except ValueError:
        size = 0
    if not 1 <= size <= MAX_BATCH_SIZE:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to {MAX_BATCH_SIZE}")
    return size


def _timezone(text: str) -> str:
    try:
        return check_timezone(text)
    except TimezoneError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _sheet_arg(args: argparse.Namespace) -> str | int | None:
    sheet_arg: str | int | None = args.sheet
    if isinstance(sheet_arg, str) and sheet_arg.isdigit():
        sheet_arg = int(sheet_arg)
    return sheet_arg


def _prepare(args: argparse.Namespace, data: bytes | None = None) -> Validation:
    """Read, map and validate the file; print what was understood."""
    source: str | bytes = args.file if data is None else data
    sheet = read_table(source, sheet=_sheet_arg(args), name=Path(args.file).name)
    mapping = suggest_mapping(sheet.columns, default_type=args.type)
    mapping = _override(mapping, args.map)
    _print_columns(mapping)
    args.mapping = mapping  # stored with the run, so that a resume maps it the same way
    table = apply_mapping(sheet, mapping)
    result = validate(table, timezone=args.timezone, date_order=args.date_order)
    _print_summary(args, result.summary)
    return result


def _print_summary(args: argparse.Namespace, s: dict[str, int]) -> None:
    print(
        f"{Path(args.file).name}: {s['rows']:,} rows: {s['valid']:,} valid, "
        f"{s['with errors']:,} with errors, {s['with warnings']:,} with warnings, "
        f"{s['empty skipped']:,} empty skipped"
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
        path.suffix.lower() in (".csv", ".tsv", ".txt")
        and path.is_file()
        and path.stat().st_size >= limit
    )


def _prepare_in_chunks(args: argparse.Namespace) -> PreparedFile:
    """`_prepare` for a big CSV: the same lines printed, the file never whole in memory."""
    print(f"{Path(args.file).name} is big: reading it in chunks of rows.")
    mapping = _override(suggest_mapping(read_header(args.file), default_type=args.type), args.map)
    _print_columns(mapping)
    prepared = prepare_in_chunks(
        args.file, mapping, timezone=args.timezone, date_order=args.date_order
    )
    _print_summary(args, prepared.summary)
    return prepared


def _print_columns(mapping: ColumnMapping) -> None:
    print(
        "Columns: "
        + ", ".join(f"{header} -> {target}" for header, target in mapping.columns.items())
        + (f"; type for rows without one: {mapping.default_type}" if mapping.default_type else "")
    )


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
                f"({', '.join(columns)})"
            )
        columns[header] = target.strip()
    return ColumnMapping(columns=columns, default_type=mapping.default_type)


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
    if not args.resume and not args.file:
        raise BentoUIError("bento-ui send: give a FILE to send, or --resume RUN_ID.")
    credentials, sandbox = _credentials()
    if args.resume:
        return _resume_command(args, credentials, sandbox)

    if _streams(args):
        return _send_in_chunks(args, credentials, sandbox)
    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ReadError(
            f"Cannot open '{args.file}': {exc.strerror or exc}. Check the path and try again."
        ) from exc
    result = _prepare(args, data)
    _print_problems(result.problems)
    if result.error_rows and not args.skip_invalid:
        print(
            f"Nothing sent: {len(result.error_rows):,} rows have errors. Fix them, or pass "
            "--skip-invalid to send only the valid rows."
        )
        return EXIT_PROBLEMS
    if result.valid.empty:
        print("Nothing to send: no valid rows.")
        return EXIT_PROBLEMS if result.error_rows or _no_data_rows(result) else EXIT_OK

    with Ledger() as ledger:
        events = build_events(result.valid)
        rows = [int(r) for r in result.valid.index]
        check = ledger.already_accepted(credentials.site_uuid, events)
        held = check.held_back(rows, send_again=args.send_again, resend_unknown=args.resend_unknown)
        if check.found:
            keep = check.keep(send_again=args.send_again, resend_unknown=args.resend_unknown)
            events = [e for e, k in zip(events, keep, strict=True) if k]
            rows = [r for r, k in zip(rows, keep, strict=True) if k]
        for group in held:
            print(_held_message(group))
        if check.found and args.send_again:
            print(
                f"{len(check.accepted) + len(check.uncertain):,} of these events were sent "
                "to this site before: sending them again, as asked (--send-again)."
            )
        elif check.uncertain and args.resend_unknown:
            print(
                f"{len(check.uncertain):,} of these events were in earlier batches whose "
                "outcome is unknown or partial: sending them again, as asked (--resend-unknown)."
            )
        batches = plan_batches(events, rows, args.batch_size)
        if not batches:
            print("Nothing to send: every event was held back.")
        run_id = None
        if batches and not args.dry_run:
            run_id = ledger.start_run(
                credentials,
                batches,
                source_name=path.name,
                source_path=path.resolve(),
                source_hash=file_hash(data),
                options=_run_options(args, args.mapping),
                target="sandbox" if sandbox else None,
                held_back=sum(h.events for h in held),
            )
            if sandbox:
                print(f"Run {run_id} (a sandbox run: it cannot be resumed later).", flush=True)
            else:
                print(
                    f"Run {run_id}: if it is interrupted, `bento-ui send --resume {run_id}` "
                    "sends what is left.",
                    flush=True,
                )
        report = send_batches(
            batches, credentials, dry_run=args.dry_run, on_batch=_printer(len(events)),
            ledger=ledger, run=run_id,
        )  # fmt: skip
        report.held_back = held
        _print_outcome(args, report, sandbox)
    if args.dry_run:
        return EXIT_OK
    return EXIT_OK if report.ok else EXIT_PROBLEMS


def _send_in_chunks(args: argparse.Namespace, credentials: Credentials, sandbox: bool) -> int:
    """`send` for a big CSV: checked in a first pass, sent batch by batch in a second.

    Each batch passes the duplicate guard and is written to the ledger as it goes.
    """
    prepared = _prepare_in_chunks(args)
    _print_problems(prepared.problems)
    s = prepared.summary
    if s["with errors"] and not args.skip_invalid:
        print(
            f"Nothing sent: {s['with errors']:,} rows have errors. Fix them, or pass "
            "--skip-invalid to send only the valid rows."
        )
        return EXIT_PROBLEMS
    if not prepared.valid_rows:
        print("Nothing to send: no valid rows.")
        return EXIT_PROBLEMS if s["with errors"] or s["rows"] == s["empty skipped"] else EXIT_OK
    with Ledger() as ledger:
        report = send_stream(
            prepared, credentials, batch_size=args.batch_size, dry_run=args.dry_run,
            on_batch=_printer(prepared.valid_rows), ledger=ledger,
            send_again=args.send_again, resend_unknown=args.resend_unknown,
            options=_run_options(args, prepared.mapping),
        )  # fmt: skip
    for group in report.held_back:
        print(_held_message(group))
    _print_outcome(args, report, sandbox)
    if args.dry_run:
        return EXIT_OK
    return EXIT_OK if report.ok else EXIT_PROBLEMS


def _run_options(args: argparse.Namespace, mapping: ColumnMapping) -> dict[str, Any]:
    """What turned the file into events, stored with the run so a resume can rebuild them."""
    return source_options(
        mapping,
        sheet=_sheet_arg(args),
        timezone=args.timezone,
        date_order=args.date_order,
        batch_size=args.batch_size,
        skip_invalid=args.skip_invalid,
        type=args.type,
        map=args.map,
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
    """An `on_batch` that prints each batch's line above a progress bar."""
    bar = ProgressBar(total)
    sent = 0

    def show(batch: BatchResult) -> None:
        nonlocal sent
        sent += batch.events
        bar.clear()
        print(batch, flush=True)
        bar.update(sent)
        if sent >= total:
            bar.clear()

    return show


def _held_message(group: HeldBack) -> str:
    if group.reason == SENT_BEFORE:
        return f"{group.message}: skipped them; pass --send-again to send them again."
    rows = group.row_ranges
    if len(rows) > 120:
        rows = rows[:117].rsplit(",", 1)[0] + ", …"
    return (
        f"{group.message}, so they are not sent (rows {rows}). Check Bento, then pass "
        "--resend-unknown to send them again."
    )


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
        + (f" ({held_events:,} of them held back: sent before)" if held_events else "")
        + "."
    )
    if report.stopped:
        print(f"Stopped early: {report.stopped}")
    uncertain = [r.number for r in report.results if r.state in (UNKNOWN, PARTIAL)]
    not_sent = [
        r.number
        for r in report.results
        if r.state not in (ACCEPTED, UNKNOWN, PARTIAL) and r.number not in held
    ]
    if t["unknown"] and (sandbox or not report.run_id):
        print("Unknown batches may have been recorded: check Bento before sending them again.")
    if report.run_id and not args.dry_run and sandbox:
        if not_sent or uncertain:
            print("The sandbox forgets everything when this command ends: send the file again.")
    elif report.run_id and not args.dry_run:
        if not_sent:
            print(
                f"{_batches(not_sent)} not recorded: "
                f"`bento-ui send --resume {report.run_id}` sends "
                + ("it." if len(not_sent) == 1 else "them.")
            )
        if uncertain:
            print(
                f"{_batches(uncertain)} maybe recorded, in part or in full: check Bento "
                "before sending " + ("it" if len(uncertain) == 1 else "them") + " again "
                f"(`bento-ui send --resume {report.run_id} --resend-unknown`)."
            )
        print(f"Recorded as run {report.run_id}: `bento-ui history {report.run_id}` shows it.")
    if args.report:
        write_safe_csv(report.table, args.report)
        print(f"Wrote the per-batch report to {args.report}")


def _resume_command(args: argparse.Namespace, credentials: Credentials, sandbox: bool) -> int:
    with Ledger() as ledger:
        run = ledger.run(args.resume)
        check_target(run, credentials)
        source = args.file or None
        read_source(run, source)  # a clear refusal when the file is gone or changed
        print(
            f"Resuming run {run.id} ({run.state}, started {_when(run.created_at)} UTC): "
            f"{run.source_name} from {run.source_path or 'memory'}; the run's own options are "
            "used."
        )
        plan = plan_resume(
            run.id, ledger=ledger, source=source, resend_unknown=args.resend_unknown,
            send_again=args.send_again,
        )  # fmt: skip
        if plan.accepted:
            print(f"{_batches(plan.accepted)} accepted before: not resent.")
        for number in plan.uncertain:
            if number in plan.accepted_elsewhere:
                continue
            record = run.batches[number - 1]
            state = UNKNOWN if record.state == "sending" else record.state
            what = (
                f"Batch {number} (rows {record.rows}, {record.events:,} events) ended {state}: "
                "Bento may have recorded " + ("some of its events" if state == PARTIAL else "it")
            )
            if args.resend_unknown:
                print(f"{what}. Sending it again, as asked (--resend-unknown).")
            else:
                print(f"{what}. Not resent: check Bento, then add --resend-unknown to send it.")
        for number, runs in plan.accepted_elsewhere.items():
            print(
                f"Batch {number}: some of its events were accepted by this site in run "
                f"{', '.join(runs)}: not sent; pass --send-again to send it anyway."
            )
        if not plan.batches:
            print("Nothing left to send.")
        sent = send_batches(
            plan.batches, credentials, dry_run=args.dry_run,
            on_batch=_printer(plan.events), ledger=ledger, run=run.id,
        )  # fmt: skip
        report = plan.report(sent)
        _print_outcome(args, report, sandbox, held=list(plan.accepted_elsewhere))
    if args.dry_run:
        return EXIT_OK
    return EXIT_OK if report.ok else EXIT_PROBLEMS


def _batches(numbers: Sequence[int]) -> str:
    """`Batch 3 was` or `Batches 1-2, 5 were`."""
    if len(numbers) == 1:
        return f"Batch {numbers[0]} was"
    return f"Batches {describe_rows(numbers)} were"


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
        print(f"  held back: {run.held_back:,} events sent to this site before")
    if run.message:
        print(f"  stopped: {run.message}")
    for batch in run.batches:
        print(batch.describe(len(run.batches)))
    print(
        f"Total: {t['events']:,} events: {t['recorded']:,} recorded, {t['failed']:,} failed, "
        f"{t['unknown']:,} unknown, {t['not sent']:,} not sent."
    )
    not_sent = run.numbers_in("waiting", "failed", "rejected", "skipped")
    uncertain = run.numbers_in(UNKNOWN, PARTIAL, "sending")
    if run.state == "running":
        print("It is being sent right now.")
        return
    if not_sent:
        print(
            f"{_batches(not_sent)} not recorded: `bento-ui send --resume {run.id}` sends "
            + ("it." if len(not_sent) == 1 else "them.")
        )
    if uncertain:
        print(
            f"{_batches(uncertain)} maybe recorded, in part or in full: check Bento, then "
            f"`bento-ui send --resume {run.id} --resend-unknown` sends "
            + ("it" if len(uncertain) == 1 else "them")
            + " again."
        )
    if not not_sent and not uncertain:
        print("Nothing to do: Bento accepted every batch.")


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
