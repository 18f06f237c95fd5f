"""The exception tree: every error is an `EmbOptError` and also the matching builtin.

    EmbOptError (Exception)
    ├── FilterError (ValueError)               a malformed metadata filter
    │   └── UnsupportedFilterError (NotImplementedError)
    ├── ConfigError (ValueError)               an invalid run configuration
    ├── UnknownIdError (ValueError)            ids a source does not hold (`fetch`)
    ├── FieldError (ValueError)                a stored field read as numbers holds other values
    ├── LogError (ValueError)                  a log on disk that cannot be read back
    ├── StateError (ValueError)                a strategy state that cannot be saved or read
    ├── PluginError (RuntimeError)             a plugin misbehaved or failed
    │   └── PluginResponseError (TypeError)
    ├── SearchAborted (RuntimeError)           a search stopped early; `.log` keeps its work
    ├── CallTimedOut (TimeoutError)            a filter or score call ran past its deadline
    ├── RunDirectoryBusy (RuntimeError)        another command holds the run directory
    ├── LockUnavailable (OSError)              a run directory's filesystem gives no locks
    └── BackendError (ConnectionError)         a database unreachable, or failing after retries

Catch `EmbOptError` for anything emb_opt raises on purpose, or the builtin you would catch
anyway (`except ValueError` catches a bad filter, config, log or state).
"""

from __future__ import annotations

from typing import Any


class EmbOptError(Exception):
    """Base class of every error raised by emb_opt."""


class FilterError(EmbOptError, ValueError):
    """A metadata filter is malformed; the message gives the path to the bad node."""


class UnsupportedFilterError(FilterError, NotImplementedError):
    """A backend cannot express this filter exactly (raised instead of answering wrongly)."""


class PluginError(EmbOptError, RuntimeError):
    """A plugin (data source, filter, score, prune, update) misbehaved or failed."""


class PluginResponseError(PluginError, TypeError):
    """A plugin returned something of the wrong shape: running it again returns it again."""


class SearchAborted(EmbOptError, RuntimeError):
    """A search stopped early; `log` holds every finished iteration (its `__cause__` is
    what stopped it: a plugin's error, a `BackendError`, a `CallTimedOut`)."""

    def __init__(self, message: str, log: Any = None) -> None:
        super().__init__(message)
        self.log = log


class BackendError(EmbOptError, ConnectionError):
    """A database could not be reached, or kept failing after retries."""


class CallTimedOut(EmbOptError, TimeoutError):
    """A filter or score function call ran past its executor's `timeout`; its batch failed.
    A slow scorer, not a database failure: not a `BackendError`."""


class ConfigError(EmbOptError, ValueError):
    """A run configuration is invalid; the message names the key and what is allowed."""


class UnknownIdError(EmbOptError, ValueError):
    """`fetch` was asked for ids the source does not hold, or whose items its filter
    rejects; `ids` lists them, in the order asked."""

    def __init__(self, message: str, ids: list[Any] | None = None) -> None:
        super().__init__(message)
        self.ids = list(ids or [])


class FieldError(EmbOptError, ValueError):
    """A stored field read as numbers (`scan(fields=...)`) holds a value that is no number
    or list of numbers of the field's length; the message names the field, item and value."""


class LogError(EmbOptError, ValueError):
    """A log on disk that cannot be read back as it was written."""


class StateError(EmbOptError, ValueError):
    """A strategy state that cannot be written or read back."""


class RunDirectoryBusy(EmbOptError, RuntimeError):
    """Another command holds the run directory's lock."""


class LockUnavailable(EmbOptError, OSError):
    """The filesystem of a run directory gives no lock (flock fails); the message names it."""


def missing_dependency(package: str, extra: str) -> ImportError:
    """An ImportError that says which extra to install."""
    return ImportError(
        f"{package} is not installed; install emb_opt's {extra!r} extra "
        f'(in its checkout: pip install -e ".[{extra}]")'
    )
