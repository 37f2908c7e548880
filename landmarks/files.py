"""Atomic file writes (a crash or Ctrl-C mid-write leaves the old file, never half a new one),
and the checks on every path a user passes or a results folder names."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from landmarks.errors import UserInputError


def _default_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _default_mode())  # mkstemp makes 0600; results are ordinary files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, lambda f: f.write(text.encode()))


# ---- paths a user passes, and files a results folder names ----------------------------------
#
# Every path from the command line (--out, --data-dir, --runs, `report DIR`) is checked here
# before any work, and every file a results folder names (plots, error.txt, result.json) is
# opened only through ``file_inside``: a folder someone sent you must not make the report read,
# and embed, a file from elsewhere on your disk.

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class UnsafeName(ValueError):
    """A file named by a results folder that is not a plain file inside that folder."""


def _stat_kind(path: Path, what: str, shown: Path) -> str | None:
    """``"folder"``, ``"file"`` (anything else that exists) or None; unreachable paths are errors."""
    try:
        if path.is_dir():
            return "folder"
        if path.exists():
            return "file"
        if path.is_symlink():  # a link to nothing: mkdir and open both fail on it
            raise UserInputError(
                f"{what} {shown}: {path} is a link to nothing; remove it or choose another path"
            )
    except OSError as e:  # permission denied on a parent, a loop of links, …
        raise UserInputError(f"{what} {shown}: cannot reach {path} ({e.strerror or e})") from None
    return None


def input_folder(path: str | Path, what: str) -> Path:
    """An existing, readable folder the user named; otherwise a UserInputError naming ``what``."""
    path = Path(path).expanduser()
    kind = _stat_kind(path, what, path)
    if kind is None:
        raise UserInputError(f"{what} {path} does not exist; pass an existing folder")
    if kind == "file":
        raise UserInputError(f"{what} {path} is a file, not a folder; pass a folder")
    if not os.access(path, os.R_OK | os.X_OK):
        raise UserInputError(f"{what} {path} is not readable (check its permissions)")
    return path


def output_folder(path: str | Path, what: str, *inside: str) -> Path:
    """A folder results can be written to (created later if missing), checked before any work.

    ``inside`` names subfolders the command will create (``<out>/<paper id>``); each of them,
    and every existing parent, must be a folder too, or ``mkdir`` would fail half-way through.
    """
    path = Path(path)  # as given: this is the path the command will write to
    for target in [path, *(path / sub for sub in inside)]:
        for folder in [target, *target.parents]:
            kind = _stat_kind(folder, what, path)
            if kind is None:
                continue  # created later; its nearest existing parent decides
            if kind == "file" and folder == path:
                raise UserInputError(
                    f"{what} {path} is a file, not a folder; pass a folder (it is created if missing)"
                )
            if kind == "file":
                raise UserInputError(
                    f"{what} {path}: {folder} is a file, not a folder, and results go below it; "
                    "choose another folder"
                )
            if not os.access(folder, os.W_OK | os.X_OK):
                raise UserInputError(f"{what} {path}: cannot write in {folder} (check its permissions)")
            break
    return path


def file_inside(folder: Path, name: object) -> Path:
    """``folder/name`` resolved, if ``name`` is a plain file name and the file stays in ``folder``.

    Raises UnsafeName, saying why, for anything else: a path with folders in it, ``..``, an
    absolute path, a link leading out of ``folder``, a missing file, or something not a file.
    """
    if not isinstance(name, str) or not name:
        raise UnsafeName("is not a file name")
    if name in (".", "..") or "/" in name or "\\" in name or "\0" in name or Path(name).name != name:
        raise UnsafeName(
            "must be a plain file name in the paper's folder (no folders, '..' or absolute paths)"
        )
    try:
        home = folder.resolve(strict=True)
        resolved = (folder / name).resolve(strict=True)
    except FileNotFoundError:
        raise UnsafeName("does not exist") from None
    except (OSError, RuntimeError) as e:  # RuntimeError: a loop of links on older Pythons
        raise UnsafeName(f"cannot be reached ({e})") from None
    if not resolved.is_relative_to(home):
        raise UnsafeName("is a link that leads outside the paper's folder")
    if not resolved.is_file():
        raise UnsafeName("is not a regular file")
    return resolved


def safe_plot_path(paper_dir: Path, name: object) -> Path:
    """A plot a result file lists: a PNG file inside its paper's folder (see ``file_inside``)."""
    path = file_inside(paper_dir, name)
    try:
        with open(path, "rb") as f:
            head = f.read(len(PNG_SIGNATURE))
    except OSError as e:
        raise UnsafeName(f"cannot be read ({e.strerror or e})") from None
    if head != PNG_SIGNATURE:
        raise UnsafeName("is not a PNG image")
    return path
