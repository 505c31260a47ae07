"""The app's upload limit is what the tool needs, not what an unauthenticated tab may
push at it (Streamlit takes uploads from any open session)."""

from __future__ import annotations

import tomllib
from pathlib import Path

CONFIG = Path(__file__).parents[2] / ".streamlit" / "config.toml"
MILLION_ROW_CSV_MB = 110  # bench/RESULTS.md: a million rows of a typical export


def test_the_upload_limit_fits_a_million_rows_and_no_more_than_needed() -> None:
    limit = tomllib.loads(CONFIG.read_text())["server"]["maxUploadSize"]
    assert MILLION_ROW_CSV_MB <= limit <= 200
