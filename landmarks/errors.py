"""Errors that are the user's to fix. The CLI prints their message and exits with status 2."""

from __future__ import annotations

import sys


class UserInputError(Exception):
    """Bad input: an unknown id, a bad --set, a malformed data file, a corrupt checkpoint."""


def warn(message: str) -> None:
    """Something skipped that the user should know about; the command goes on."""
    print(f"landmarks: warning: {message}", file=sys.stderr)
