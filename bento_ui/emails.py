"""Email syntax, checked for a whole column at once, explained for the few that fail.

A dot-atom local part (no leading, trailing or repeated dots; Unicode allowed), one `@`,
and a domain of at least two labels whose last label has two or more letters (IDN
allowed, as Unicode or as `xn--`). No DNS look-ups: a well-formed address of a domain
that does not exist is Bento's to reject.
"""

from __future__ import annotations

import re

import pandas as pd

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
    ok = emails.str.fullmatch(EMAIL_PATTERN).fillna(False).astype(bool)
    length = emails.str.len()
    too_long = length > MAX_LENGTH
    long = length > MAX_LOCAL_LENGTH
    if long.any():
        # `find("@") > MAX_LOCAL_LENGTH` as a pattern, only where it can be true: pandas
        # runs `find` in Python for a column with any non-ASCII text, the pattern in RE2.
        local = emails[long].str.match(f"[^@]{{{MAX_LOCAL_LENGTH + 1},}}@").fillna(False)
        too_long |= local.astype(bool).reindex(emails.index, fill_value=False)
    return ok & ~too_long


def explain(email: str) -> str:
    """Why `email` is not a valid address, and what to write instead."""
    shown = repr(email if len(email) <= 80 else email[:77] + "...")
    if not email:
        return "email is missing: add the subscriber's address"
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
    )
