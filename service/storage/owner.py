"""One owner per data directory: the API process holds an exclusive ``flock`` on ``service.lock``.

A second server started on the same directory would otherwise run restart recovery (marking the
live server's running jobs interrupted) and clear its half-received uploads before failing to bind
its port. The lock is taken before anything in the directory is read or written; the file holds
the owner's pid so that the one-line error can name it. The kernel drops the lock when the owner
exits, however it exits, so a crashed server never leaves a stale lock behind.

Within one process the lock is counted: ``serve`` takes it before uvicorn starts (so a second
server exits with one line and no traceback) and the app's services take it again when they start.
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

LOCK_NAME = "service.lock"


class DataDirInUse(ValueError):
    """Another process owns the data directory."""


class _Held:
    def __init__(self, fd: int) -> None:
        self.fd, self.count = fd, 0


_held: dict[Path, _Held] = {}
_guard = threading.Lock()


class DataDirLock:
    """A claim on a data directory; :meth:`release` once per :func:`claim`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._released = False

    def release(self) -> None:
        with _guard:
            if self._released:
                return
            self._released = True
            held = _held[self.folder]
            held.count -= 1
            if held.count == 0:
                del _held[self.folder]
                os.close(held.fd)  # closing the only descriptor drops the flock


def claim(data_dir: Path) -> DataDirLock:
    """Take (or, in the process that holds it, count once more) the data directory's lock.

    Raises :class:`DataDirInUse` naming the directory and the owner's pid when another process has it.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    folder = data_dir.resolve()
    with _guard:
        held = _held.get(folder)
        if held is None:
            held = _Held(_lock(folder))
            _held[folder] = held
        held.count += 1
    return DataDirLock(folder)


def _lock(folder: Path) -> int:
    path = folder / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)  # no O_TRUNC: the owner's pid stays
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        raise DataDirInUse(f"the data directory {folder} is in use by another sepconv service (pid {owner}); "
                           "run one API process per data directory") from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd
