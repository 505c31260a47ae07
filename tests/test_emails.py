"""The character classes of bento_ui.emails, checked against Python's unicodedata: they
are written out as literal ranges so that Python's re and pyarrow's RE2 agree."""

import re
import unicodedata

import pandas as pd

from bento_ui import emails as em

EVERY_CHARACTER = [chr(c) for c in range(0x80, 0x110000) if not 0xD800 <= c <= 0xDFFF]
ALL = "".join(EVERY_CHARACTER)


def test_the_hidden_class_holds_every_control_and_format_character() -> None:
    wanted = {ch for ch in EVERY_CHARACTER if unicodedata.category(ch) in ("Cc", "Cf")}
    written = set(re.findall(f"[{em.CONTROL_AND_FORMAT}]", ALL))
    assert written == wanted


def test_the_latin_class_holds_the_latin_letters_that_are_no_variant() -> None:
    wanted = {
        ch
        for ch in EVERY_CHARACTER
        if ch.isalpha()
        and unicodedata.name(ch, "").startswith("LATIN ")
        and unicodedata.normalize("NFKC", ch) == ch
    }
    written = set(re.findall(f"[{em.LATIN_LETTERS}]", ALL))
    assert written == wanted


def test_the_column_check_finds_the_hidden_characters_the_single_check_finds() -> None:
    hidden = re.findall(em.HIDDEN, ALL)
    column = pd.Series([f"a{ch}b@example.com" for ch in hidden], dtype="str")
    assert not em.valid_emails(column).any()
    assert not any(em.is_valid(v) for v in column)
