"""Fixtures shared by the test modules."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bento_ui.emulator import Emulator


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """A started local Bento, fresh for each test, stopped afterwards."""
    with Emulator() as bento:
        yield bento
