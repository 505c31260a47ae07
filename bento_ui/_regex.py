"""Regular-expression pieces that mean the same in Python's `re` and in RE2.

pandas runs `Series.str.match/fullmatch/contains` on text columns in pyarrow (RE2, in
C++, tens of times faster) unless the pattern uses something RE2 reads differently; `\\s`
is one (RE2's `\\s` is ASCII only), so a pattern with `\\s` silently falls back to
Python's `re`, one value at a time. `SPACE` spells out Python's `\\s` (every character
for which `str.isspace()` is true) as literal characters, so the same pattern keeps
Python's meaning and still runs in pyarrow.
"""

from __future__ import annotations

# The 29 characters for which str.isspace() is true (tests/test_regex.py checks it).
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
)
SPACE = f"[{WHITESPACE}]"  # Python's \s
NOT_SPACE = f"[^{WHITESPACE}]"  # Python's \S
