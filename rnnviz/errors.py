"""Exception hierarchy.

Every error a user can trigger by passing a wrong name, a broken folder or bad
data derives from :class:`RnnvizError`, so the CLI can print one line and exit 2
instead of a traceback, while programming errors still surface as tracebacks.
"""

from __future__ import annotations


class RnnvizError(Exception):
    """Base class for errors caused by user input (names, files, data)."""


class ModelError(RnnvizError):
    """A model folder or name cannot be loaded: bad config, missing/mismatched weights."""


class DataError(RnnvizError):
    """A training data file is missing or malformed."""
