"""`app`: time from upload to the summary on screen, in the real app. NOT WRITTEN YET.

    python -m bench.app --rows 100000          # TODO: assigned by the lead once the app is done

TODO(app benchmark), what it is to measure, so that whoever writes it measures the same:

1. Make the input with `bench.data.ensure(100_000, "csv")` (and "xlsx").
2. Start the app as `make run` does (`streamlit run app.py --server.headless true` on a
   free port), wait for `/_stcore/health`.
3. Drive Chromium (Debian's /usr/bin/chromium, Playwright's `executable_path`) to the
   upload page; start a clock; `set_input_files` on the uploader; stop the clock when the
   summary ("N rows: ... valid, ... with errors") is visible. Report seconds and rows/s,
   side by side with `python -m bench.prepare` for the same file (the library's part).
4. Responsiveness: while the file is processed, every 200 ms evaluate
   `performance.now()` in the page (`page.evaluate`) and record the largest gap between
   answers (a page that stays responsive answers within ~100 ms; Streamlit runs the
   script in its own thread, so the page should not freeze: report the worst gap).
5. Print one table like the other benchmarks; never assert on time.

The tests in tests/test_browser*.py show how the app is started and driven.
"""

from __future__ import annotations

import sys


def main() -> int:
    print(
        "bench.app is not written yet: the app is still being built. See the TODO in "
        "bench/app.py for what it is to measure.",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
