"""Files and folders on this machine that only their owner can use, and that are never written through a link.

What ``migrator`` writes can hold customer data (reports, files targets) or credentials (the sandbox's env
file), so:

- :func:`make_private_dir` creates every missing folder of a path with mode 0700 (``Path.mkdir(parents=True)``
  gives the parents the umask's default instead); a folder that exists is left as it is;
- :func:`open_private` opens a file for reading or appending without following a symbolic link (``O_NOFOLLOW``)
  and only if it is a regular file (a FIFO or a device would block or swallow the data); a file it creates is
  0600;
- :func:`replace_private` and :func:`write_private` write a whole file through a temporary file in the same
  folder, created 0600 with ``O_EXCL | O_NOFOLLOW``, that replaces the file only when complete
  (``os.replace`` replaces a link at that name; it never writes through it).

A path that is a link or not a regular file raises :class:`UnsafePathError` (an ``OSError``), which the caller
turns into its own message: what the file is for decides what the user should do.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["UnsafePathError", "make_private_dir", "open_private", "replace_private", "write_private"]

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


class UnsafePathError(OSError):
    """The path is a symbolic link, or not a regular file: it is neither read nor written."""


def make_private_dir(path: Path) -> None:
    """Create ``path`` and its missing parents, each 0700; an existing folder is kept as it is. A part of the
    path that exists and is not a folder raises ``NotADirectoryError`` naming it."""
    missing: list[Path] = []
    current = path
    while not current.is_dir():
        if current.exists() or current.is_symlink():
            raise NotADirectoryError(errno.ENOTDIR, "is not a folder", str(current))
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made by someone else meanwhile: is_dir decides below
            folder.mkdir(mode=PRIVATE_DIR)
        if not folder.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "is not a folder", str(folder))


def open_private(path: Path, flags: int) -> int:
    """A descriptor of ``path`` opened with ``flags`` (``os.O_RDONLY``, ``os.O_WRONLY | os.O_APPEND |
    os.O_CREAT`` …), never through a symbolic link and only on a regular file; a file it creates is 0600."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, PRIVATE_FILE)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise UnsafePathError(errno.ELOOP, "is a symbolic link", str(path)) from None
        if error.errno == errno.ENXIO:  # a FIFO nobody reads: opening it for writing would block
            raise UnsafePathError(errno.ENXIO, "is not a regular file", str(path)) from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafePathError(errno.EINVAL, "is not a regular file", str(path))
    os.set_blocking(fd, True)
    return fd


@contextlib.contextmanager
def replace_private(path: Path) -> Iterator[BinaryIO]:
    """A binary file to write ``path``'s new content into: a temporary file ``.<name>.tmp`` beside it (0600,
    created afresh, never through a link), flushed, synced and moved onto ``path`` when the block ends
    without an error, removed when it raises."""
    tmp = path.with_name(f".{path.name}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()  # a leftover of a crash, or a planted link: unlink removes the link, not its target
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, PRIVATE_FILE)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), PRIVATE_FILE)  # whatever the umask
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def write_private(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` readable by the owner only (0600, whatever the umask), atomically."""
    with replace_private(path) as f:
        f.write(content)
