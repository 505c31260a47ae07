"""What every benchmark prints: the machine, the command, and figures as a table."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from importlib.metadata import version
from typing import Any


def machine() -> str:
    memory = ""
    try:
        with open("/proc/meminfo") as file:
            kb = int(file.readline().split()[1])
        memory = f"{kb / 1024**2:.0f} GB RAM"
    except (OSError, ValueError, IndexError):
        pass
    cpu = ""
    try:
        with open("/proc/cpuinfo") as file:
            cpu = next((line.split(":", 1)[1].strip() for line in file if "model name" in line), "")
    except OSError:
        pass
    versions = ", ".join(
        f"{name} {version(name)}" for name in ("pandas", "pyarrow", "numpy", "requests")
    )
    return (
        f"{os.cpu_count()} cores ({cpu or platform.machine()}), {memory}, "
        f"Python {platform.python_version()}, {versions}"
    )


def header(title: str, module: str) -> None:
    print(f"# {title}")
    print(f"machine: {machine()}")
    print(f"command: python -m {module} {' '.join(sys.argv[1:])}".rstrip())
    print(flush=True)


def run_child(args: Sequence[str], timeout: float = 3600) -> dict[str, Any]:
    """Run `python -m bench.variants ...` (or another module) in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-m", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def table(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table, so the output can be pasted into RESULTS.md as it is."""
    text = [[str(c) for c in row] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in text)) for i, c in enumerate(columns)]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    for row in text:
        pairs = enumerate(zip(row, widths, strict=True))
        cells = [c.rjust(w) if i else c.ljust(w) for i, (c, w) in pairs]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
