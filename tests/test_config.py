import pytest

from bento_ui import ConfigError, Credentials

SECRET = "sk_live_do_not_print_me"
PUBLISHABLE = "pk_live_also_private"


def test_credentials_come_from_the_environment() -> None:
    env = {
        "BENTO_SITE_UUID": "site",
        "BENTO_PUBLISHABLE_KEY": PUBLISHABLE,
        "BENTO_SECRET_KEY": SECRET,
    }
    creds = Credentials.from_env(env)
    assert creds is not None
    assert creds.base_url == "https://app.bentonow.com/api/v1"
    assert creds.is_bento
    assert Credentials.from_env(env | {"BENTO_API_URL": "http://127.0.0.1:9/api/v1/"}).base_url == (
        "http://127.0.0.1:9/api/v1"
    )


def test_no_credentials_means_the_sandbox() -> None:
    assert Credentials.from_env({}) is None


def test_half_configured_credentials_say_what_is_missing() -> None:
    with pytest.raises(ConfigError) as caught:
        Credentials.from_env({"BENTO_SECRET_KEY": SECRET})
    message = str(caught.value)
    assert "BENTO_SITE_UUID and BENTO_PUBLISHABLE_KEY are not" in message
    assert SECRET not in message


def test_keys_never_appear_in_repr_or_str() -> None:
    creds = Credentials("site", PUBLISHABLE, SECRET)
    for text in (repr(creds), str(creds), f"{creds}", repr([creds])):
        assert SECRET not in text
        assert PUBLISHABLE not in text
        assert "site" in text


def test_keys_of_another_format_get_a_warning_that_never_shows_them() -> None:
    from bento_ui.config import key_warnings

    assert key_warnings(Credentials("site", PUBLISHABLE, SECRET)) == []
    odd = Credentials("site", "abc123publishable", "def456secret")
    warnings = key_warnings(odd)
    assert len(warnings) == 2 and "pk_" in warnings[0] and "sk_" in warnings[1]
    swapped = key_warnings(Credentials("site", SECRET, PUBLISHABLE))
    assert len(swapped) == 1 and "swapped" in swapped[0]
    for text in warnings + swapped:
        for key in ("abc123publishable", "def456secret", SECRET, PUBLISHABLE):
            assert key not in text
