"""Email syntax, checked for a whole column at once, explained for the few that fail.

A dot-atom local part (no leading, trailing or repeated dots; Unicode allowed), one `@`,
and a domain of at least two labels whose last label has two or more letters (IDN
allowed, as Unicode or as `xn--`). No DNS look-ups: a well-formed address of a domain
that does not exist is Bento's to reject.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from bento_ui import _arrow_text as arrow_text
from bento_ui._regex import WHITESPACE

# Any non-ASCII character that is not white space. Spelled without `\s` so that pandas
# runs the pattern in pyarrow (RE2) instead of Python's re, one value at a time.
_U = f"[^\\x00-\\x7f{WHITESPACE}]"
_ATOM = rf"(?:[A-Za-z0-9!#$%&'*+/=?^_`{{|}}~-]|{_U})+"
_LABEL_CHAR = rf"(?:[A-Za-z0-9]|{_U})"
_LABEL = rf"{_LABEL_CHAR}(?:(?:{_LABEL_CHAR}|-)*{_LABEL_CHAR})?"
_TLD = rf"(?:(?:[A-Za-z]|{_U}){{2,}}|[Xx][Nn]--[A-Za-z0-9-]*[A-Za-z0-9])"
EMAIL_PATTERN = rf"{_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+{_TLD}"
_EMAIL_RE = re.compile(EMAIL_PATTERN)

MAX_LENGTH = 254
MAX_LOCAL_LENGTH = 64
EXAMPLE = "use name@example.com"


def valid_emails(emails: pd.Series) -> pd.Series:
    """True where the (already trimmed) text is a well-formed address."""
    return check_emails(emails)[0]


def check_emails(emails: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(valid, beyond ASCII) for each (already trimmed) text: `valid_emails` and
    `non_ascii` at once, for a column held in pyarrow one pass of each kind."""
    ok, beyond, _ = check_emails_and_letters(emails)
    return ok, beyond


def check_emails_and_letters(emails: pd.Series) -> tuple[pd.Series, pd.Series, np.ndarray]:
    """`check_emails`, and where it found a valid address beyond ASCII, whether that has
    a character beyond Latin (`BEYOND_LATIN`: only those can be `lookalikes`); False for
    the other rows."""
    data = arrow_text.arrow(emails)
    if data is None:
        ok_pd, beyond_pd = _check_emails_in_pandas(emails)
        unusual_pd = (ok_pd & beyond_pd).to_numpy()
        letters = np.zeros(len(emails), dtype=bool)
        if unusual_pd.any():
            found = emails[unusual_pd].str.contains(BEYOND_LATIN).fillna(False)
            letters[unusual_pd] = found.to_numpy(dtype=bool)
        return ok_pd, beyond_pd, letters
    array = arrow_text.flat(data)
    # pandas' `fullmatch` is this call, with a Series made of each answer on the way.
    ok = _bools(pc.match_substring_regex(array, f"^{EMAIL_PATTERN}$"), False)
    beyond = ~_bools(pc.string_is_ascii(array), True)
    unusual = np.flatnonzero(beyond & ok)
    letters = np.zeros(len(array), dtype=bool)
    if len(unusual):
        # The pattern lets any non-ASCII character through, the invisible ones too. They
        # are all beyond Latin (tests/test_emails.py): looked for only where one is,
        # which is what `lookalikes` asks too (`jörg@bücher.de` has none).
        beyond_latin = pc.match_substring_regex(array.take(pa.array(unusual)), BEYOND_LATIN)
        odd = unusual[_bools(beyond_latin, False)]
        letters[odd] = True
        if len(odd):
            hidden = pc.match_substring_regex(array.take(pa.array(odd)), HIDDEN)
            ok[odd] = ~_bools(hidden, False)
    # A character is one byte or more: only the cells longer in bytes than a limit can
    # be longer in characters.
    long = np.flatnonzero(arrow_text.byte_lengths(array) > MAX_LOCAL_LENGTH)
    if len(long):
        some = array.take(pa.array(long))
        too_long = _bools(pc.greater(pc.utf8_length(some), MAX_LENGTH), False)
        # `find("@") > MAX_LOCAL_LENGTH` as a pattern (RE2; pandas runs `find` in Python).
        pattern = f"^[^@]{{{MAX_LOCAL_LENGTH + 1},}}@"
        too_long |= _bools(pc.match_substring_regex(some, pattern), False)
        ok[long[too_long]] = False
    letters &= ok
    return pd.Series(ok, index=emails.index), pd.Series(beyond, index=emails.index), letters


def _bools(answer: pa.Array, missing: bool) -> np.ndarray:
    values: np.ndarray = pc.fill_null(answer, missing).to_numpy(zero_copy_only=False)
    return values.astype(bool)  # a copy that can be written to


def _check_emails_in_pandas(emails: pd.Series) -> tuple[pd.Series, pd.Series]:
    ok = emails.str.fullmatch(EMAIL_PATTERN).fillna(False).astype(bool)
    unusual = non_ascii(emails) & ok
    if unusual.any():
        hidden = emails[unusual].str.contains(HIDDEN).fillna(False)
        ok[unusual] = ~hidden.to_numpy(dtype=bool)
    length = emails.str.len()
    too_long = length > MAX_LENGTH
    long = length > MAX_LOCAL_LENGTH
    if long.any():
        local = emails[long].str.match(f"[^@]{{{MAX_LOCAL_LENGTH + 1},}}@").fillna(False)
        too_long |= local.astype(bool).reindex(emails.index, fill_value=False)
    return ok & ~too_long, non_ascii(emails)


def non_ascii(emails: pd.Series) -> pd.Series:
    """True where the text has a character beyond ASCII (one pyarrow call)."""
    return ~emails.str.isascii().fillna(True).astype(bool)


# Characters that show as nothing, or change how the text around them is shown: the
# controls and format characters of Unicode 14 beyond ASCII (zero-width space and
# joiners, the direction marks, overrides and isolates, the byte order mark, the soft
# hyphen, tag characters), private use, and letters and marks that draw blank (the
# grapheme joiner, Hangul fillers, the blank Braille cell, variation selectors).
# Literal ranges, so that Python's re and pyarrow's RE2 read the class the same way;
# tests/test_emails.py checks the controls and format characters against unicodedata.
CONTROL_AND_FORMAT = (
    "\x80-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
    "\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001"
    "\U000e0020-\U000e007f"
)
_PRIVATE_USE = "\ue000-\uf8ff\U000f0000-\U000ffffd\U00100000-\U0010fffd"
_DRAWN_BLANK = "\u034f\u115f\u1160\u3164\uffa0\u2800\ufe00-\ufe0f\U000e0100-\U000e01ef"
HIDDEN = f"[{CONTROL_AND_FORMAT}{_PRIVATE_USE}{_DRAWN_BLANK}]"
_HIDDEN_RE = re.compile(HIDDEN)
# The Latin letters beyond ASCII that are no variant of another letter (NFKC keeps
# them): `jörg@bücher.de` needs no closer look for look-alikes (tests/test_emails.py).
LATIN_LETTERS = (
    "\xc0-\xd6\xd8-\xf6\xf8-\u0131\u0134-\u013e\u0141-\u0148\u014a-\u017e\u0180-\u01c3"
    "\u01cd-\u01f0\u01f4-\u02af\u1d00-\u1d25\u1d6b-\u1d77\u1d79-\u1d9a\u1e00-\u1e99"
    "\u1e9c-\u1eff\u2184\u2c60-\u2c7b\u2c7e\u2c7f\ua722-\ua76f\ua771-\ua787\ua78b-\ua7ca"
    "\ua7d0\ua7d1\ua7d3\ua7d5-\ua7d9\ua7f5-\ua7f7\ua7fa-\ua7ff\uab30-\uab5a\uab60-\uab64"
    "\uab66-\uab68\U0001df00-\U0001df1e"
)
BEYOND_LATIN = f"[^\x00-\x7f{LATIN_LETTERS}]"
_CATEGORY_WORDS = {"Cc": "a control character", "Co": "private use"}


def character_name(ch: str) -> str:
    """`U+200B ZERO WIDTH SPACE`: how to find a character one cannot see."""
    name = unicodedata.name(ch, "")
    if name:
        return f"U+{ord(ch):04X} {name}"
    return f"U+{ord(ch):04X} ({_CATEGORY_WORDS.get(unicodedata.category(ch), 'unnamed')})"


def hidden_character(email: str) -> str | None:
    """The first invisible or direction-changing character of `email`, if any."""
    found = _HIDDEN_RE.search(email)
    return found.group() if found else None


def _script(ch: str) -> str | None:
    """The alphabet of a letter or digit, as the first word of its Unicode name (LATIN,
    CYRILLIC, GREEK…); VARIANT for a variant form of an ASCII letter or digit (full
    width, ligature, mathematical bold…); None for anything else."""
    if ch.isascii():
        return "LATIN" if ch.isalpha() else None
    plain = unicodedata.normalize("NFKC", ch)
    if plain != ch and plain.isascii() and plain.isalnum():
        return "VARIANT"
    name = unicodedata.name(ch, "")
    return name.split(" ")[0] if ch.isalnum() and name else None


def lookalike(email: str) -> str | None:
    """A warning when a part of `email` (the name, or one label of the domain) mixes
    Latin letters with letters of another alphabet, or holds a variant form of a
    letter: `paypal` with a Cyrillic `a` (U+0430) looks like `paypal` and is another
    address. Only an address with a BEYOND_LATIN character can get one."""
    shown = repr(email if len(email) <= 80 else email[:77] + "...")
    local, _, domain = email.rpartition("@")
    for part in [local, *domain.split(".")]:
        scripts = {ch: _script(ch) for ch in part}
        variants = [ch for ch, script in scripts.items() if script == "VARIANT"]
        if variants:
            listed = ", ".join(f"'{ch}' ({character_name(ch)})" for ch in variants[:3])
            plain = unicodedata.normalize("NFKC", part)
            return (
                f"email {shown} has {listed} in '{part}', a variant form of an ordinary "
                f"character: check the address, and write it as '{plain}' if that is meant"
            )
        if "LATIN" in scripts.values():
            odd = [ch for ch, script in scripts.items() if script not in ("LATIN", None)]
            if odd:
                listed = ", ".join(f"'{ch}' ({character_name(ch)})" for ch in odd[:3])
                return (
                    f"email {shown} mixes alphabets in '{part}': {listed} looks like a "
                    "Latin letter but makes a different address: retype the address if "
                    "that is not meant"
                )
    return None


def lookalikes(emails: pd.Series, beyond_latin: np.ndarray | None = None) -> pd.Series:
    """The `lookalike` warning of each (valid) address, "" for none. One pyarrow pass
    finds the few addresses with a letter beyond Latin (unless `beyond_latin` says
    which, as `check_emails_and_letters` found); only those are looked at."""
    found = pd.Series("", index=emails.index, dtype="str")
    if beyond_latin is None:
        candidates = emails.str.contains(BEYOND_LATIN).fillna(False).astype(bool)
    else:
        candidates = pd.Series(beyond_latin, index=emails.index)
    if candidates.any():
        some = emails[candidates]
        warnings = {v: lookalike(v) or "" for v in some.unique()}
        found[candidates] = some.map(warnings)
    return found


def explain(email: str) -> str:
    """Why `email` is not a valid address, and what to write instead."""
    shown = repr(email if len(email) <= 80 else email[:77] + "...")
    if not email:
        return "email is missing: add the subscriber's address"
    hidden = hidden_character(email)
    if hidden is not None:
        return (
            f"email {shown} contains {character_name(hidden)}, an invisible character "
            "(often pasted along with the address from a web page or a document): delete "
            f"it, or type the address again ({EXAMPLE})"
        )
    if re.search(r"\s", email):  # str.isspace() in C: a 50 MB cell takes no time
        return f"email {shown} contains a space: remove it ({EXAMPLE})"
    if "@" not in email:
        return f"email {shown} has no @: {EXAMPLE}"
    if email.count("@") > 1:
        return f"email {shown} has more than one @: keep one address per row ({EXAMPLE})"
    local, domain = email.split("@")
    if not local:
        return f"email {shown} has nothing before the @: {EXAMPLE}"
    if not domain:
        return f"email {shown} has no domain: {EXAMPLE}"
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return (
            f"email {shown} has a dot at the start or end of the name, or two dots in a row: "
            f"{EXAMPLE}"
        )
    if len(email) > MAX_LENGTH or len(local) > MAX_LOCAL_LENGTH:
        return (
            f"email {shown} is too long (at most {MAX_LOCAL_LENGTH} characters before the @ "
            f"and {MAX_LENGTH} in all)"
        )
    if "." not in domain:
        return f"email {shown} has a domain without a dot ('{domain}'): {EXAMPLE}"
    labels = domain.split(".")
    if any(not label for label in labels):
        return f"email {shown} has an empty part in its domain (two dots, or a dot at an end)"
    if any(label.startswith("-") or label.endswith("-") for label in labels):
        return f"email {shown} has a domain part that starts or ends with '-'"
    tld = labels[-1]
    if not re.fullmatch(_TLD, tld):
        return (
            f"email {shown} ends in '.{tld}', which is not a top-level domain "
            "(two or more letters, like .com)"
        )
    bad = sorted(
        {ch for ch in email if ch.isascii() and not re.match(r"[\w.@!#$%&'*+/=?^`{|}~-]", ch)}
    )
    if bad:
        listed = ", ".join(repr(c) for c in bad)
        return f"email {shown} contains {listed}, which an address cannot hold"
    return f"email {shown} is not a valid address: {EXAMPLE}"


def is_valid(email: str) -> bool:
    """One address; the same rule as `valid_emails`."""
    # Lengths first: Python's re needs gigabytes to match a 50 MB cell against the pattern.
    return (
        len(email) <= MAX_LENGTH
        and email.find("@") <= MAX_LOCAL_LENGTH
        and bool(_EMAIL_RE.fullmatch(email))
        and hidden_character(email) is None
    )
