"""Where bento-ui keeps its own files: the send ledger and its run locks.

`BENTO_UI_HOME` wins when set (tests and shared machines point it elsewhere). Otherwise
the platform's per-user data directory:

    Linux and others   $XDG_DATA_HOME/bento-ui, default ~/.local/share/bento-ui
    macOS              ~/Library/Application Support/bento-ui
    Windows            %LOCALAPPDATA%\\bento-ui
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

ENV_HOME = "BENTO_UI_HOME"
APP_NAME = "bento-ui"
LEDGER_FILE = "ledger.sqlite3"


def data_home(environ: Mapping[str, str] | None = None) -> Path:
    """The directory bento-ui writes to (not created here)."""
    env = os.environ if environ is None else environ
    override = env.get(ENV_HOME, "").strip()
    if override:
        return Path(override).expanduser().resolve()
    if sys.platform == "win32":
        base = env.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / APP_NAME
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / APP_NAME
    xdg = env.get("XDG_DATA_HOME", "").strip()
    base_dir = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    return base_dir / APP_NAME


def ledger_path(environ: Mapping[str, str] | None = None) -> Path:
    """The send ledger's SQLite file."""
    return data_home(environ) / LEDGER_FILE
