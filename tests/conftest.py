"""Fixtures shared by the test modules."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bento_ui.emulator import Emulator


@pytest.fixture(autouse=True)
def bento_ui_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Each test's own send ledger folder: no test touches the real user data directory.

    Subprocesses inherit it; keep BENTO_UI_HOME when building a clean environment.
    """
    home = tmp_path_factory.mktemp("bento-ui-home")
    monkeypatch.setenv("BENTO_UI_HOME", str(home))
    return home


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """A started local Bento, fresh for each test, stopped afterwards."""
    with Emulator() as bento:
        yield bento
