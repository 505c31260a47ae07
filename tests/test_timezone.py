"""A time zone that is not a zone is a clear message and exit 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bento_ui import validate
from bento_ui.cli import main
from bento_ui.errors import ConfigError

BAD_ZONES = ["Europe/Berln", "Mars/Olympus", "../../etc/passwd", "+", ""]


@pytest.fixture
def sheet(tmp_path: Path) -> Path:
    path = tmp_path / "events.csv"
    path.write_text("email,type,date\njane@example.com,signup,2024-01-05 13:45\n")
    return path


@pytest.mark.parametrize("zone", BAD_ZONES)
def test_cli_refuses_a_zone_that_does_not_exist(
    zone: str, sheet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["validate", str(sheet), "--timezone", zone])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "--timezone" in err and "Traceback" not in err
    assert "time zone" in err


def test_cli_names_the_nearest_zones(sheet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["validate", str(sheet), "--timezone", "Europe/Berln"])
    assert "Europe/Berlin" in capsys.readouterr().err


@pytest.mark.parametrize("zone", BAD_ZONES)
def test_library_raises_a_config_error(zone: str) -> None:
    table = pd.DataFrame(
        {"email": ["jane@example.com"], "type": ["signup"], "date": ["2024-01-05"]}
    )
    with pytest.raises(ConfigError, match="time zone"):
        validate(table, timezone=zone)


def test_a_real_zone_still_works(sheet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(sheet), "--timezone", "Europe/Berlin"]) == 0
    table = pd.DataFrame(
        {"email": ["jane@example.com"], "type": ["signup"], "date": ["2024-01-05 13:45"]}
    )
    assert validate(table, timezone="europe/berlin").valid["date"].iloc[0] == "2024-01-05T12:45:00Z"
