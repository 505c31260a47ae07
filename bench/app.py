"""`app`: from upload to the summary on screen, in the real app, and whether it stays quick.

    python -m bench.app --rows 100000        # default; --rows 10000 for a quick run
    python -m bench.app --rows 100000 --format xlsx

Targets (from the issue): 100k rows from upload to the summary on screen in under 10 s;
the problems table and the fix editor never ship more than a page of rows to the browser.

What it does, in this order:

1. Makes the input with `bench.data.ensure(rows, format)` (the seeded generator).
2. Times the library on the same file, each in fresh processes, best of `--repeat`:
   - `python -m bench.variants ours FILE`, as `bench.prepare` runs it (the CLI's
     mapping, then every payload); its read + map + validate is the yardstick asked for;
   - "the library as the app": read_table, the mapping the app suggests (what the
     page validates with until the person changes it), the amount unit the page
     suggests (currency units when some amount has decimals: this file's bad rows do),
     and validate, no payloads: exactly the library's share of the app's first run.
3. Starts the real app (`tests/browser_support.running_app`: `streamlit run app.py` on a
   free port) and, `--repeat` times, a fresh browser context (a new session) in
   Debian's Chromium opens the Upload page and waits until it has loaded what it shows
   (Playwright's "networkidle": no request for 0.5 s), as a person looks at the page
   before choosing a file.
4. Starts a clock, `set_input_files` on the uploader, and polls the page every 50 ms
   (`page.evaluate`) until the "Rows" metric shows the file's row count ("summary on
   screen"; the other four metrics must equal the library's); "last message" is the
   WebSocket message that ends the script run (`script_finished`).
5. Responsiveness, during that upload and after it:
   - in the page: the longest main-thread task (PerformanceObserver "longtask") and the
     longest gap of a 20 ms timer; the slowest `page.evaluate` round trip;
   - on the server: the slowest `/_stcore/health` answer while the file is processed
     (a thread asks every 100 ms; the script runs in its own thread, so the server
     should keep answering);
   - interactions after the summary, each timed from the click to the change on
     screen: "Errors only" on, problems page 2, and page 2 of the rows to fix.
6. What reached the browser: every WebSocket frame received is decoded
   (`ForwardMsg`), its bytes counted per step, and every Arrow table in it (the
   dataframes and data editors) read with pyarrow to count its rows. The biggest table
   must be at most a page (the problems table 500 rows, the fix editor 50).
7. The server's resident memory before the first upload, after it and its peak
   (`VmRSS`/`VmHWM` of the `streamlit run` process in /proc).

It prints Markdown tables, like the other benchmarks; it never asserts on time (it
exits 1 only if the app showed a wrong row count or shipped more than a page).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import data
from bench.report import header, run_child, table

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 10.0
POLL_MS = 50
TIMEOUT_S = 180.0
PROBLEMS_PAGE = 500  # ui/widgets.PAGE_SIZE
FIX_PAGE = 50  # app_pages/upload.FIX_PAGE_SIZE

# In the page: the longest main-thread task and the longest gap of a 20 ms timer.
PROBE_JS = """() => {
  const p = window.__bench = {gap: 0, longest: 0, tasks: 0, last: performance.now()};
  setInterval(() => {
    const now = performance.now();
    p.gap = Math.max(p.gap, now - p.last);
    p.last = now;
  }, 20);
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) { p.tasks++; p.longest = Math.max(p.longest, e.duration); }
    }).observe({type: "longtask"});
  } catch (e) {}
}"""
PROBE_RESET_JS = """() => {
  const p = window.__bench; p.gap = 0; p.longest = 0; p.tasks = 0; p.last = performance.now();
}"""
PROBE_READ_JS = "() => window.__bench"
METRICS_JS = """() => Array.from(document.querySelectorAll('[data-testid=stMetric]')).map(
  (m) => [(m.querySelector('[data-testid=stMetricLabel]') || m).innerText.trim(),
          (m.querySelector('[data-testid=stMetricValue]') || m).innerText.trim()])"""
BODY_JS = "() => document.body.innerText"


@dataclass
class Step:
    """One thing done in the page, and what the browser received meanwhile."""

    name: str
    started: float = 0.0
    shown: float | None = None  # seconds from the start to the change on screen
    finished: float | None = None  # seconds from the start to the end of the script run
    frames: int = 0
    bytes: int = 0
    largest: int = 0  # the largest frame
    tables: list[tuple[str, int]] = field(default_factory=list)  # (element, Arrow rows)
    slowest_evaluate: float = 0.0
    page_probe: dict[str, float] = field(default_factory=dict)


class Frames:
    """Every WebSocket frame the page receives, decoded and booked to the current step."""

    def __init__(self) -> None:
        self.step = Step("open the Upload page")
        self.steps: list[Step] = [self.step]

    def begin(self, name: str) -> Step:
        self.step = Step(name, started=time.perf_counter())
        self.steps.append(self.step)
        return self.step

    def on_websocket(self, ws: Any) -> None:
        ws.on("framereceived", self.on_frame)

    def on_frame(self, payload: bytes | str) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        step = self.step
        raw = payload.encode() if isinstance(payload, str) else payload
        step.frames += 1
        step.bytes += len(raw)
        step.largest = max(step.largest, len(raw))
        try:
            msg = ForwardMsg.FromString(raw)
        except Exception:  # not a ForwardMsg: counted, not decoded
            return
        kind = msg.WhichOneof("type")
        if kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            element = msg.delta.new_element.WhichOneof("type") or "?"
            try:
                step.tables += [(element, rows) for rows in _arrow_rows(msg)]
            except Exception as exc:  # reported, never fatal inside Playwright's listener
                step.tables.append((f"{element} (not read: {exc})", -1))
        elif kind == "script_finished" and msg.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY:
            step.finished = time.perf_counter() - step.started


def _arrow_rows(msg: Any) -> list[int]:
    """The row count of every Arrow IPC stream in a protobuf message, however nested."""
    import pyarrow as pa

    found: list[int] = []
    for descriptor, value in msg.ListFields():
        values = list(value) if descriptor.is_repeated else [value]
        for item in values:
            if descriptor.type == descriptor.TYPE_MESSAGE:
                found += _arrow_rows(item)
            elif descriptor.type == descriptor.TYPE_BYTES and item[:4] == b"\xff\xff\xff\xff":
                with contextlib.suppress(pa.ArrowInvalid):
                    found.append(pa.ipc.open_stream(item).read_all().num_rows)
    return found


def _server_pid() -> int:
    """The `streamlit run` process this benchmark started (a child of this process)."""
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == me and b"streamlit" in cmdline:
            return int(entry.name)
    raise RuntimeError("the app's server process was not found")


def _memory_mb(pid: int) -> dict[str, float]:
    """VmRSS (now) and VmHWM (peak) of a process, in MB."""
    figures = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            figures[key] = int(value.split()[0]) / 1024
    return figures


class HealthProbe:
    """Asks the server's /_stcore/health every 100 ms; keeps the slowest answer."""

    def __init__(self, url: str) -> None:
        self.url = f"{url}/_stcore/health"
        self.slowest = 0.0
        self.answers = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(self.url, timeout=30) as answer:
                    answer.read()
            except OSError:
                pass
            self.slowest = max(self.slowest, time.perf_counter() - started)
            self.answers += 1
            self._stop.wait(0.1)


def _wait_until(page: Any, step: Step, check: Callable[[Any], bool], js: str) -> None:
    """Evaluate `js` in the page every POLL_MS until `check` accepts its answer; books
    the time it first did to `step.shown` and the slowest round trip of the polls."""
    deadline = step.started + TIMEOUT_S
    while True:
        asked = time.perf_counter()
        answer = page.evaluate(js)
        now = time.perf_counter()
        step.slowest_evaluate = max(step.slowest_evaluate, now - asked)
        if check(answer):
            step.shown = now - step.started
            return
        if now > deadline:
            raise SystemExit(f"{step.name}: nothing changed on screen in {TIMEOUT_S:.0f} s")
        page.wait_for_timeout(POLL_MS)  # lets Playwright deliver the WebSocket frames


def _wait_finished(page: Any, step: Step) -> None:
    """Until the script run that `step` started has finished (its last frame is in)."""
    deadline = step.started + TIMEOUT_S
    while step.finished is None:
        if time.perf_counter() > deadline:
            raise SystemExit(f"{step.name}: the script run did not finish in {TIMEOUT_S:.0f} s")
        page.wait_for_timeout(POLL_MS)
    page.wait_for_timeout(300)  # frames sent after script_finished (none expected)
    step.page_probe = page.evaluate(PROBE_READ_JS)
    page.evaluate(PROBE_RESET_JS)


def _showing(noun: str) -> Callable[[str], str | None]:
    pattern = re.compile(rf"Showing {re.escape(noun)} ([\d,]+-[\d,]+ of [\d,]+)\.")

    def find(body: str) -> str | None:
        match = pattern.search(body)
        return match.group(1) if match else None

    return find


@dataclass
class Run:
    """One session: open the Upload page, upload, then three interactions."""

    steps: list[Step]
    figures: dict[str, Any]

    @property
    def upload(self) -> Step:
        return self.steps[1]


def session(browser: Any, url: str, path: Path, rows: int, pid: int) -> Run:
    """A fresh browser context (a new Streamlit session) uploads `path`, then turns
    "Errors only" on and pages the problems and the rows to fix."""
    from browser_support import VIEWPORT, open_app

    frames = Frames()
    figures: dict[str, Any] = {}
    expected = f"{rows:,}"
    problems_at = _showing("problems")
    fix_at = _showing("rows to fix")
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.on("websocket", frames.on_websocket)
    started = time.perf_counter()
    open_app(page, f"{url}/upload", "Upload a spreadsheet")
    figures["open seconds"] = time.perf_counter() - started
    page.evaluate(PROBE_JS)
    # A person looks at the page before choosing a file: the upload starts once the page
    # has everything it shows (no request for half a second, so the first run's last
    # frames and the scripts of its elements are in), not while they are still loading.
    page.wait_for_load_state("networkidle")
    figures["rss before MB"] = _memory_mb(pid)["VmRSS"]

    # 1. Upload -> summary on screen.
    step = frames.begin("upload -> summary")
    with HealthProbe(url) as health:
        page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(path)
        figures["set_input_files seconds"] = time.perf_counter() - step.started
        _wait_until(page, step, lambda ms: ["Rows", expected] in ms, METRICS_JS)
        _wait_finished(page, step)
    figures["health slowest"] = health.slowest
    figures["health answers"] = health.answers
    figures["metrics"] = dict(page.evaluate(METRICS_JS))
    body = page.evaluate(BODY_JS)
    figures["problems shown"] = first_problems = problems_at(body)
    figures["fix shown"] = fix_at(body)
    if first_problems is None or figures["fix shown"] is None:
        raise SystemExit(f"the problems table or the fix editor is not paged: {figures}")

    # 2. "Errors only" on: the problems table shrinks to the errors.
    step = frames.begin('"Errors only" on')
    page.get_by_test_id("stCheckbox").filter(has_text="Errors only").locator("label").click()
    _wait_until(page, step, lambda b: problems_at(b) not in (None, first_problems), BODY_JS)
    _wait_finished(page, step)
    figures["errors only shown"] = problems_at(page.evaluate(BODY_JS))

    # 3. Page 2 of the problems (still errors only), 4. page 2 of the rows to fix.
    pagers = page.get_by_role("spinbutton", name=re.compile(r"^Page \(of"))
    for name, pager, shows in [
        ("problems page 2", pagers.first, problems_at),
        ("rows to fix page 2", pagers.nth(1), fix_at),
    ]:
        step = frames.begin(name)
        pager.fill("2")
        pager.press("Enter")
        first = {"problems page 2": "501-", "rows to fix page 2": "51-"}[name]
        _wait_until(page, step, lambda b, s=shows, f=first: (s(b) or "").startswith(f), BODY_JS)
        _wait_finished(page, step)

    memory = _memory_mb(pid)
    figures["rss after MB"] = memory["VmRSS"]
    figures["rss peak MB"] = memory["VmHWM"]
    context.close()
    return Run(frames.steps, figures)


def drive(path: Path, rows: int, repeat: int) -> list[Run]:
    """`repeat` sessions, one after the other, against one app server."""
    sys.path.insert(0, str(ROOT / "tests"))
    from browser_support import launch, running_app
    from playwright.sync_api import sync_playwright

    runs = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-app-") as home,
        running_app(env={"BENTO_UI_HOME": home}) as url,
        sync_playwright() as playwright,
    ):
        pid = _server_pid()
        browser = launch(playwright)
        for n in range(repeat):
            runs.append(session(browser, url, path, rows, pid))
            print(f"  app run {n + 1}: upload -> summary {runs[-1].upload.shown:.2f} s",
                  file=sys.stderr, flush=True)  # fmt: skip
        browser.close()
    return runs


def library_as_the_app(path: Path) -> dict[str, Any]:
    """The library's part of the app's first run, in this (fresh) process: read_table,
    the app's suggested mapping (through its editor frame, as the page does),
    apply_mapping and validate; no payloads (the app builds them only to send)."""
    import resource

    from bento_ui import apply_mapping, read_table, suggest_mapping, validate
    from bento_ui import events as ev
    from ui.logic import headers_key, mapping_editor_frame, mapping_from_editor, suggest_amounts

    stages: dict[str, float] = {}
    started = last = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal last
        now = time.perf_counter()
        stages[name] = round(now - last, 3)
        last = now

    sheet = read_table(path)
    lap("read")
    suggested = suggest_mapping(headers_key(sheet.columns))
    mapping = mapping_from_editor(mapping_editor_frame(suggested, sheet), suggested.default_type)
    table_ = apply_mapping(sheet, mapping)
    amount = mapping.target_of(ev.PURCHASE_AMOUNT)  # the unit the page suggests for it
    amounts = suggest_amounts(sheet[amount]) if amount else "minor"
    lap("map")
    result = validate(table_, timezone="UTC", date_order=None, amounts=amounts)
    lap("validate")
    return {
        "seconds": time.perf_counter() - started,
        "stages": stages,
        "summary": result.summary,
        "problems": len(result.problems),
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _best(args: list[str], repeat: int) -> dict[str, Any]:
    """The fastest of `repeat` fresh processes (the machine is shared and noisy)."""
    runs = [run_child(args) for _ in range(repeat)]
    return min(runs, key=lambda r: float(r["seconds"]))


def _each(values: list[float | None], scale: float = 1.0, digits: int = 2) -> str:
    return " / ".join("" if v is None else f"{v * scale:.{digits}f}" for v in values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--format", choices=["csv", "xlsx"], default="csv")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="sessions in the app, and runs of each library variant (3)",
    )
    parser.add_argument("--seed", type=int, default=data.SEED)
    parser.add_argument("--library-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.library_child:  # a fresh process for the library's part (see run_child)
        print(json.dumps(library_as_the_app(args.library_child)))
        return 0

    header("app: upload -> summary on screen, in the real app (Chromium)", "bench.app")
    path = data.ensure(args.rows, args.format, args.seed)
    size = path.stat().st_size
    print(f"## {args.rows:,} rows, {args.format.upper()} ({size / 1e6:,.1f} MB, {path.name})")
    load_start = os.getloadavg()[0]
    print(f"load average at the start: {load_start:.1f}", flush=True)

    ours = _best(["bench.variants", "ours", str(path)], args.repeat)
    print(f"  bench.variants ours: {ours}", file=sys.stderr, flush=True)
    alike = _best(["bench.app", "--library-child", str(path)], args.repeat)
    print(f"  library as the app: {alike}", file=sys.stderr, flush=True)
    ours_summary = sum(ours["stages"][k] for k in ("read", "map", "validate"))
    alike_summary = float(alike["seconds"])

    runs = drive(path, args.rows, args.repeat)
    load_end = os.getloadavg()[0]
    first = runs[0]
    uploads = [r.upload.shown for r in runs if r.upload.shown is not None]
    shown = min(uploads)

    print()
    print(table(
        ["step", "on screen (s), each run", "last message (s), each run", "frames",
         "KB received", "largest frame (KB)", "Arrow tables sent (rows each)",
         "longest page task (ms)", "slowest poll (ms)"],
        [[
            step.name,
            _each([r.steps[n].shown for r in runs]) if n else "",
            _each([r.steps[n].finished for r in runs]) if n else "",
            step.frames,
            f"{step.bytes / 1024:,.0f}",
            f"{step.largest / 1024:,.0f}",
            ", ".join(f"{e} {rows:,}" for e, rows in step.tables) or "-",
            f"{max(r.steps[n].page_probe.get('longest', 0) for r in runs):.0f}" if n else "",
            f"{max(r.steps[n].slowest_evaluate for r in runs) * 1000:.0f}" if n else "",
        ] for n, step in enumerate(first.steps)],
    ))  # fmt: skip
    print(
        "\n(on screen: from the action to the change, seen by `page.evaluate` every 50 ms; "
        "last message: to the run's `script_finished` over the WebSocket; frames, bytes and "
        "tables of the first run, the same in the others; worst of the runs for the rest)\n"
    )

    biggest = max((rows for r in runs for s in r.steps for _, rows in s.tables), default=0)
    received = sum(s.bytes for s in first.steps[1:])
    figures = first.figures
    metrics = figures["metrics"]
    shown_counts = [int(v.replace(",", "")) for v in metrics.values()
                    if v.replace(",", "").isdigit()]  # fmt: skip
    same = shown_counts == list(alike["summary"].values())
    right_count = metrics.get("Rows") == f"{args.rows:,}" and same
    target = "met" if shown < TARGET_SECONDS else "NOT met"
    probes = [r.upload.page_probe for r in runs]
    longest = max(p.get("longest", 0) for p in probes)
    print(table(["measure", "value"], [
        ["upload -> summary on screen (best)", f"**{shown:.2f} s** ({args.rows / shown:,.0f} "
         f"rows/s; each run {_each(uploads)} s; target < {TARGET_SECONDS:.0f} s: {target})"],
        ["library as the app: read + suggested mapping + validate (best)",
         f"{alike_summary:.2f} s (read {alike['stages']['read']:.2f}, validate "
         f"{alike['stages']['validate']:.2f}; {alike['problems']:,} problems)"],
        ["app / library as the app", f"**{shown / alike_summary:.2f}x** "
                                     f"({shown - alike_summary:+.2f} s)"],
        ["bench.variants ours: CLI mapping, + payloads (best)",
         f"{ours['seconds']:.2f} s; read + map + validate {ours_summary:.2f} s "
         f"({ours['problems']:,} problems)"],
        ["app / ours read + map + validate", f"{shown / ours_summary:.2f}x"],
        ["summary on screen", ", ".join(f"{k} {v}" for k, v in metrics.items())],
        ["same as the library's", "yes" if right_count else f"**NO**: {alike['summary']}"],
        ["largest Arrow table sent", f"{biggest:,} rows (pages: problems {PROBLEMS_PAGE}, "
                                     f"fix {FIX_PAGE}; the file {args.rows:,})"],
        ["bytes received, upload + 3 clicks", f"{received / 1e6:,.2f} MB = "
                                              f"{received / size:.1%} of the file"],
        ["longest page task during an upload", f"{longest:.0f} ms (20 ms timer's worst gap "
         f"{max(p.get('gap', 0) for p in probes):.0f} ms)"],
        ["slowest /_stcore/health during an upload",
         f"{max(r.figures['health slowest'] for r in runs) * 1000:.0f} ms (asked every 100 ms)"],
        ["server RSS: before the first upload / after it / peak",
         f"{figures['rss before MB']:,.0f} / {figures['rss after MB']:,.0f} / "
         f"{figures['rss peak MB']:,.0f} MB (peak after {len(runs)} sessions: "
         f"{runs[-1].figures['rss peak MB']:,.0f} MB)"],
        ["library peak (as the app / ours)", f"{alike['peak_mb']:,.0f} / "
                                             f"{ours['peak_mb']:,.0f} MB"],
        ["Upload page opened, each session", f"{_each([r.figures['open seconds'] for r in runs])}"
                                             " s (the first imports the page)"],
        ["load average start / end", f"{load_start:.1f} / {load_end:.1f} (1 min)"],
    ]))  # fmt: skip
    print(
        f"\nproblems: {figures['problems shown']} -> errors only "
        f"{figures['errors only shown']}; rows to fix: {figures['fix shown']}"
    )
    paged = biggest <= PROBLEMS_PAGE
    return 0 if right_count and paged else 1


if __name__ == "__main__":
    sys.exit(main())
