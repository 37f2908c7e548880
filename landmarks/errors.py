"""Errors that are the user's to fix. The CLI prints their message and exits with status 2."""


class UserInputError(Exception):
    """Bad input: an unknown id, a bad --set, a malformed data file, a corrupt checkpoint."""
