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


def test_every_hidden_character_is_beyond_latin() -> None:
    # The column check looks for hidden characters only in addresses with a character
    # beyond Latin: one outside that class would let an invisible character through.
    hidden = set(re.findall(em.HIDDEN, ALL))
    assert hidden <= set(re.findall(em.BEYOND_LATIN, ALL))


def test_the_column_check_says_which_valid_addresses_have_a_letter_beyond_latin() -> None:
    values = ["jörg@bücher.de", "p\u0430ypal@example.com", "a\u200bb@example.com", "", "x@y.io"]
    for column in (pd.Series(values, dtype="str"), pd.Series(values, dtype=object)):
        ok, beyond, letters = em.check_emails_and_letters(column)
        assert list(ok) == [True, True, False, False, True]
        assert list(beyond) == [True, True, True, False, False]
        assert list(letters) == [False, True, False, False, False]
