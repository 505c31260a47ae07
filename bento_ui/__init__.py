"""Compose, check and send events to Bento's Create Events API.

The steps, each one call, each returning a DataFrame or an object that displays as one:

    sheet = read_table("attendees.csv")                     # cells as text, index = row
    mapping = suggest_mapping(sheet.columns, default_type="webinar_attended")
    table = apply_mapping(sheet, mapping)                   # the event table
    result = validate(table)                                # .valid, .problems, .summary
    events = build_events(result.valid)                     # exactly what Bento receives
    plan = plan_send(result.valid, credentials, ledger=Ledger())  # the duplicate guard
    report = plan.send()                                    # .table, .totals, .failures

`send(result.valid, credentials)` does the last two in one call, with the default ledger;
`plan_resume(run_id, credentials, ledger=...)` plans what a run that did not finish lacks.
In Jupyter, `from bento_ui.notebook import Composer` is the same steps as a widget (it
needs the `notebook` extra; this package never imports ipywidgets).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("bento-ui")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0"

from bento_ui.batching import Batch, plan_batches
from bento_ui.client import BentoClient
from bento_ui.config import Credentials
from bento_ui.emulator import Emulator, sandbox
from bento_ui.errors import BentoUIError, ConfigError, MappingError, ReadError
from bento_ui.guard import HeldBack, Resend
from bento_ui.ledger import Ledger
from bento_ui.mapping import ColumnMapping, apply_mapping, suggest_mapping
from bento_ui.outcomes import BatchState, EventFailure, Outcome, RunState
from bento_ui.payloads import build_events
from bento_ui.resume import plan_resume
from bento_ui.sending import BatchResult, Origin, SendPlan, SendReport, plan_send, send
from bento_ui.spreadsheet import list_sheets, read_table
from bento_ui.validation import Validation, validate

__all__ = [
    "Batch",
    "BatchResult",
    "BatchState",
    "BentoClient",
    "BentoUIError",
    "ColumnMapping",
    "ConfigError",
    "Credentials",
    "Emulator",
    "EventFailure",
    "HeldBack",
    "Ledger",
    "MappingError",
    "Origin",
    "Outcome",
    "ReadError",
    "Resend",
    "RunState",
    "SendPlan",
    "SendReport",
    "Validation",
    "__version__",
    "apply_mapping",
    "build_events",
    "list_sheets",
    "plan_batches",
    "plan_resume",
    "plan_send",
    "read_table",
    "sandbox",
    "send",
    "suggest_mapping",
    "validate",
]
