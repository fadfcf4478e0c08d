"""A journal's files on disk: never through a link, on storage that takes the next writes, one writer at a
time.

Beside the journal (``<journal>``) live SQLite's ``-wal``, ``-shm`` and ``-journal`` files and the journal's
own: ``-lock`` (the writer lock: ``flock``, named for its holder), ``-probe`` (the storage probe) and ``-new``
(a new journal while it is built). ``migrator.journal`` speaks SQL; this module only handles the files.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import sqlite3
import time
from pathlib import Path
from typing import Final

import orjson

from migrator.errors import JournalError, JournalStorageError
from migrator.private_files import make_private_dir, open_private

__all__ = [
    "BESIDE",
    "PROBE_BYTES",
    "WriterLock",
    "beside",
    "lock_holder",
    "make_sqlite_files_private",
    "probe_storage",
    "refuse_links",
    "remove_files",
    "storage_refused",
    "unwritable",
    "wal_is_missing",
]

#: the files beside a journal: SQLite's (``-wal``, ``-shm``, ``-journal``) and the journal's own (its lock, the
#: storage probe, a new journal being built)
BESIDE: Final = ("-wal", "-shm", "-journal", "-lock", "-probe", "-new")

#: bytes the storage probe writes beside the journal: room for the next batches' journal writes
PROBE_BYTES: Final = 1 << 20


def beside(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def refuse_links(path: Path) -> None:
    """Raise ``JournalError`` if the journal or a file beside it is a symbolic link (SQLite and the probe would
    write through it, into whatever file it points at)."""
    for p in (path, *(beside(path, s) for s in BESIDE)):
        if p.is_symlink():
            raise JournalError(
                f"{p} is a symbolic link: migrator never reads or writes a journal or the files beside it "
                "through a link (it could overwrite the file the link points at). Remove the link, or point "
                "--journal at a real file in a folder of yours."
            )


def unwritable(path: Path, error: OSError) -> JournalError:
    return JournalError(
        f"the journal {path} cannot be written in {path.parent}: {error.strerror or error}. Nothing was sent "
        "to any platform. Free some space or make that folder writable, or point --journal at a folder that "
        "is, then run again."
    )


#: SQLite's primary result codes for a write the storage refused → what it means and what to do
_REFUSALS: Final = {
    "SQLITE_FULL": ("the disk holding it is full", "Free some space on that disk"),
    "SQLITE_READONLY": (
        "it is read-only (the file, its folder or the whole disk: a disk remounted read-only after errors)",
        "Make the journal and its folder writable again",
    ),
    "SQLITE_IOERR": ("the disk refused a write (an I/O error)", "Check the disk (`dmesg`, free space)"),
    "SQLITE_CANTOPEN": (
        "a file beside it could not be opened (its -wal or -shm file)",
        "Check the folder's permissions and free space",
    ),
}


def storage_refused(path: Path, error: sqlite3.Error) -> JournalStorageError | None:
    """The ``JournalStorageError`` for a journal write the disk refused (full, read-only, an I/O error), or
    ``None`` when ``error`` is about something else. Every journal write is one transaction, so what was
    committed before stays whole: the message says so and how to resume."""
    name = getattr(error, "sqlite_errorname", "") or ""
    primary = next((code for code in _REFUSALS if name == code or name.startswith(code + "_")), None)
    if primary is None:
        return None
    what, to_do = _REFUSALS[primary]
    return JournalStorageError(
        f"the journal {path} could not be written: {what} ({error}). The run stopped here. The journal is "
        "consistent: every record it holds is whole, and a batch sent but not yet recorded is checked on the "
        f"target before it is sent again. {to_do}, then run `migrator run` again to resume."
    )


def probe_storage(path: Path) -> None:
    """Raise ``JournalError`` unless the journal's folder takes a ``PROBE_BYTES`` write (made, synced, removed).

    Catches a full disk (ENOSPC, also at fsync), a file-size limit (a short write or EFBIG), a read-only or
    immutable folder, and a parent that is not a folder — all before the run touches any platform. The probe is
    created afresh (``O_EXCL``, never through a link): a leftover of a killed run is removed first."""
    probe = beside(path, "-probe")
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(probe)  # unlink removes a link itself, never what it points at
        fd = open_private(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        try:
            if os.write(fd, bytes(PROBE_BYTES)) < PROBE_BYTES:
                raise OSError(errno.ENOSPC, "no room for a 1 MiB write (disk full or a file size limit)")
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as e:
        raise unwritable(path, e) from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(probe)


class WriterLock:
    """A journal's writer lock: ``flock`` on ``<journal>-lock`` (0600, never through a link), which names its
    holder (pid, start time) for the one refused. The kernel releases it when the descriptor closes or its
    process ends, however it ends: a run killed with -9 leaves no lock behind."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, path: Path) -> WriterLock:
        try:
            make_private_dir(path.parent)
            fd = open_private(beside(path, "-lock"), os.O_RDWR | os.O_CREAT)
        except OSError as e:
            raise unwritable(path, e) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = lock_holder(fd)
            os.close(fd)
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise unwritable(path, e) from None
            raise JournalError(
                f"the journal {path} is in use by another migrator run ({holder}): two runs of one journal at "
                "once would write records twice. Wait for that run to finish (`migrator status` shows its "
                "progress meanwhile), or stop it (Ctrl-C in its terminal), then run again."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, orjson.dumps({"pid": os.getpid(), "started": time.time()}), 0)
        return cls(fd)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def lock_holder(fd: int) -> str:
    """Who holds a lock, as its lock file says."""
    try:
        info = orjson.loads(os.pread(fd, 4096, 0))
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(info["started"])))
        return f"pid {int(info['pid'])}, started {started}"
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return "a run that is just starting"


def wal_is_missing(path: Path) -> bool:
    """The journal has no ``-wal`` file, or an empty one (what a reader makes of a missing one)."""
    try:
        return os.stat(beside(path, "-wal")).st_size == 0
    except FileNotFoundError:
        return True


def remove_files(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{path}{suffix}")


def make_sqlite_files_private(path: Path) -> None:
    """The ``-wal`` and ``-shm`` files SQLite made: 0600, whatever the umask."""
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError, PermissionError):
            os.chmod(beside(path, suffix), 0o600)
