"""`bento-ui`: validate and send event spreadsheets, run the emulator, start the app.

Exit codes: 0 all good; 1 problems in the data or batches not accepted; 2 a file that
cannot be read or options that make no sense.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from bento_ui import __version__
from bento_ui.batching import MAX_BATCH_SIZE
from bento_ui.config import Credentials
from bento_ui.errors import BentoUIError, ReadError
from bento_ui.mapping import ColumnMapping, apply_mapping, suggest_mapping
from bento_ui.progress import ProgressBar
from bento_ui.sending import BatchResult, send
from bento_ui.spreadsheet import read_table
from bento_ui.validation import Validation, validate

SHOWN_PROBLEMS = 20
EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except ReadError as exc:
        print(f"Cannot read {args.file}: {exc}", file=sys.stderr)
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

    send_cmd = commands.add_parser("send", help="check a spreadsheet and send its events")
    _add_input_options(send_cmd)
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
    send_cmd.set_defaults(run=_send_command)

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


def _add_input_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="CSV, TSV, XLSX, XLS, ODS or JSON lines")
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
        "--timezone", default="UTC", help="zone of dates written without one (default UTC)"
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


def _prepare(args: argparse.Namespace) -> Validation:
    """Read, map and validate the file; print what was understood."""
    sheet_arg: str | int | None = args.sheet
    if isinstance(sheet_arg, str) and sheet_arg.isdigit():
        sheet_arg = int(sheet_arg)
    sheet = read_table(args.file, sheet=sheet_arg)
    mapping = suggest_mapping(sheet.columns, default_type=args.type)
    mapping = _override(mapping, args.map)
    print(
        "Columns: "
        + ", ".join(f"{header} -> {target}" for header, target in mapping.columns.items())
        + (f"; type for rows without one: {mapping.default_type}" if mapping.default_type else "")
    )
    table = apply_mapping(sheet, mapping)
    result = validate(table, timezone=args.timezone, date_order=args.date_order)
    s = result.summary
    print(
        f"{Path(args.file).name}: {s['rows']:,} rows: {s['valid']:,} valid, "
        f"{s['with errors']:,} with errors, {s['with warnings']:,} with warnings, "
        f"{s['empty skipped']:,} empty skipped"
    )
    return result


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


def _print_problems(result: Validation) -> None:
    problems = result.problems
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
    result = _prepare(args)
    _print_problems(result)
    if args.problems:
        result.problems.to_csv(args.problems, index=False)
        print(f"Wrote {len(result.problems):,} problems to {args.problems}")
    return EXIT_PROBLEMS if result.error_rows else EXIT_OK


def _send_command(args: argparse.Namespace) -> int:
    credentials = Credentials.from_env()
    sandbox = credentials is None
    if sandbox:
        from bento_ui.emulator import sandbox as start_sandbox

        credentials = start_sandbox().credentials
        print(
            f"Sending to the sandbox, a local Bento emulator at {credentials.base_url}: "
            "nothing leaves this machine. Set BENTO_SITE_UUID, BENTO_PUBLISHABLE_KEY and "
            "BENTO_SECRET_KEY to send to Bento."
        )
    else:
        assert credentials is not None
        print(f"Sending to Bento site {credentials.site_uuid} at {credentials.base_url}.")

    result = _prepare(args)
    _print_problems(result)
    if result.error_rows and not args.skip_invalid:
        print(
            f"Nothing sent: {len(result.error_rows):,} rows have errors. Fix them, or pass "
            "--skip-invalid to send only the valid rows."
        )
        return EXIT_PROBLEMS
    if result.valid.empty:
        print("Nothing to send: no valid rows.")
        return EXIT_PROBLEMS if result.error_rows else EXIT_OK

    total = len(result.valid)
    bar = ProgressBar(total)
    sent = 0

    def show(batch: BatchResult) -> None:
        nonlocal sent
        sent += batch.events
        bar.clear()
        print(batch, flush=True)
        bar.update(sent)

    report = send(
        result.valid, credentials, batch_size=args.batch_size, dry_run=args.dry_run, on_batch=show
    )
    bar.clear()
    t = report.totals
    print(
        f"Total: {t['events']:,} events: {t['recorded']:,} recorded by "
        f"{'the sandbox' if sandbox else 'Bento'}, {t['failed']:,} failed, "
        f"{t['unknown']:,} unknown, {t['not sent']:,} not sent."
    )
    if report.stopped:
        print(f"Stopped early: {report.stopped}")
    if t["unknown"]:
        print("Unknown batches may have been recorded: check Bento before sending them again.")
    if args.report:
        report.table.to_csv(args.report, index=False)
        print(f"Wrote the per-batch report to {args.report}")
    if args.dry_run:
        return EXIT_OK
    return EXIT_OK if report.ok else EXIT_PROBLEMS


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
