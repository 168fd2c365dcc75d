"""Errors the CLI and the TUI turn into one clear line.

Every failure a user can cause or meet is one of these, so no entry point ever shows a traceback.
"""

from __future__ import annotations


class WhisperTuiError(Exception):
    """Base class: `str(err)` is the one line shown to the user; `exit_code` is what the CLI returns."""

    exit_code = 1


class InputError(WhisperTuiError):
    """Bad usage or bad input (missing file, malformed captions, unknown model spec): exit code 2."""

    exit_code = 2


class JobError(WhisperTuiError):
    """A job that had good input failed (download refused, decoder crashed, training diverged): exit 1."""

    exit_code = 1


class Cancelled(JobError):
    """The user stopped a running job; whatever it wrote so far is left consistent: exit code 130, as for Ctrl-C."""

    exit_code = 130
