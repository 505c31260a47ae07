"""`bento-ui` commands run in this process, as the installed script runs them.

`run` calls `bento_ui.cli.main` with the environment a person's shell would give it:
keys only from the emulator passed (none means the process-wide sandbox), the tool's own
settings (BENTO_UI_*, such as the autouse fixture's BENTO_UI_HOME) kept. A new process
per command would cost a second or more of imports each.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from dataclasses import dataclass
from unittest import mock

from bento_ui import Emulator
from bento_ui.cli import main


@dataclass(frozen=True)
class Done:
    """What a finished command left: as `subprocess.CompletedProcess` has it."""

    returncode: int
    stdout: str
    stderr: str


def bento_env(emulator: Emulator | None) -> dict[str, str]:
    """os.environ for a command: keys only from `emulator`, the tool's own settings
    (BENTO_UI_*, such as the autouse fixture's BENTO_UI_HOME) kept."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("BENTO_") or k.startswith("BENTO_UI_")
    }
    if emulator is not None:
        c = emulator.credentials
        env |= {
            "BENTO_API_URL": c.base_url,
            "BENTO_SITE_UUID": c.site_uuid,
            "BENTO_PUBLISHABLE_KEY": c.publishable_key,
            "BENTO_SECRET_KEY": c.secret_key,
        }
    return env


def run(*args: str, emulator: Emulator | None = None) -> Done:
    """`bento-ui ARGS` in this process, with its output and exit code.

    Sends with no `emulator` go to the process-wide sandbox, shared by every test here.
    """
    out, err = io.StringIO(), io.StringIO()
    # main() wraps sys.stdout/sys.stderr (here the StringIOs) and puts them back.
    with (
        mock.patch.dict(os.environ, bento_env(emulator), clear=True),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse: bad options (2), --version (0)
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if isinstance(exc.code, str):
                print(exc.code, file=sys.stderr)
    return Done(code, out.getvalue(), err.getvalue())
