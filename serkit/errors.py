"""Exceptions a user can act on: binaries print them as one line and exit non-zero."""


class SerkitError(Exception):
    """Base class for user-facing errors (bad input, bad config, missing files)."""


class DataDirError(SerkitError):
    """A Kaldi-style data directory is malformed."""


class ConfigError(SerkitError):
    """A YAML config or a command-line override is invalid."""
