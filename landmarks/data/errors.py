"""The one error every loader in ``landmarks.data`` raises for a file it cannot read."""

from __future__ import annotations

from landmarks.errors import UserInputError


class DataFormatError(UserInputError, ValueError):
    """A data file is missing, malformed or of a kind we refuse to read.

    The message names the file and what is wrong with it (bad magic number, truncated data,
    a pickle we will not unpickle, which files were looked for and where), so that the CLI can
    print it and exit with status 2.
    """
