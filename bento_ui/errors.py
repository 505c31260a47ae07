"""The exceptions bento_ui raises.

Every message says what is wrong and what to do about it, so a caller can show it to a
person as it is. None of them ever contains a key.

    BentoUIError            anything this library raises on purpose
    ├── ReadError           a file that cannot be read as a table
    ├── MappingError        a column mapping that cannot be applied
    ├── ConfigError         credentials or options that are incomplete or wrong
    │   └── TimezoneError   a time zone name that is not a real zone
    ├── EmulatorError       the local Bento emulator could not start
    ├── MissingExtraError   an optional part needs a package that is not installed
    │                       (also an ImportError)
    └── LedgerError         the send ledger cannot be read or written, or a run cannot
                            be found or resumed (the file changed, another site, ...)

Problems in the data itself are not exceptions: `validate` returns them as a table.
Outcomes of sending (rejected, failed, unknown batches) are not exceptions either: they
are states in the send report.
"""


class BentoUIError(Exception):
    """Base class: catch this to handle every error bento_ui raises on purpose."""


class ReadError(BentoUIError):
    """The file cannot be read as a table (wrong format, empty, encrypted, ...)."""


class MappingError(BentoUIError):
    """The column mapping cannot be applied (two columns for email, unknown column, ...)."""


class ConfigError(BentoUIError):
    """Credentials or options are incomplete or invalid."""


class TimezoneError(ConfigError):
    """A time zone that is not an IANA zone name (`Europe/Berlin`, `UTC`)."""


class EmulatorError(BentoUIError):
    """The local Bento emulator could not start."""


class LedgerError(BentoUIError):
    """The send ledger cannot be used, or a run cannot be found or resumed."""


class MissingExtraError(BentoUIError, ImportError):
    """An optional part of bento_ui (the notebook composer) needs a package that is not
    installed; the message says which `pip install` adds it."""
