"""One writer per run folder: a lock file holding its owner's pid, host and start time.

``RUN_DIR/.run.lock`` is created by the process that writes the run (``train``, its rank 0) and
held with ``flock`` while it works, so a second process aiming at the same folder fails at once,
naming the owner, instead of both reporting success over each other's files. The kernel drops
the ``flock`` of a process that dies (kill -9, a crash), so a lock file left behind is
recognised as stale and taken over, with a note. Where the file system offers no ``flock``
(some network mounts) the pid is checked instead, on this host. The file is removed when the
owner finishes, also on an error or Ctrl-C; ``.dvcignore`` keeps it out of DVC's hashes.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .fsutil import NotAnOutputError, OutputError, reporting_os_errors, writing_into

try:
    import fcntl
except ImportError:  # Windows: the pid check alone
    fcntl = None

LOCK_NAME = ".run.lock"
"""The lock file's name inside a run folder (listed in ``.dvcignore``)."""


class RunInUseError(ValueError):
    """The run folder is owned by another live process; the message names it and the lock file."""


def _owner_text() -> str:
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    return json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": started}) + "\n"


def _read_owner(fd: int) -> dict | None:
    os.lseek(fd, 0, os.SEEK_SET)
    raw = os.read(fd, 4096)
    try:
        owner = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return owner if isinstance(owner, dict) else None


def _describe(owner: dict | None) -> str:
    if not owner:
        return "a process that has not written its pid into the lock file yet"
    since = f", since {owner['started']}" if owner.get("started") else ""
    return f"pid {owner.get('pid')} on host {owner.get('host')}{since}"


def _pid_alive(pid) -> bool:
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    return True


def _flock(fd: int) -> bool | None:
    """True: locked; False: another process holds it; None: the file system has no flock."""
    if fcntl is None:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    except OSError as err:
        if err.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
            return None
        raise


def _in_use(folder: Path, path: Path, owner: dict | None, option: str) -> RunInUseError:
    return RunInUseError(
        f"{option}: {folder} is in use by another process ({_describe(owner)}; lock file {path}); "
        f"wait for it to finish or stop it, or choose another {option}"
    )


def _acquire(folder: Path, option: str) -> int:
    path = folder / LOCK_NAME
    while True:
        with writing_into(folder):
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            locked = _flock(fd)
            owner = _read_owner(fd)
            if locked is False:
                raise _in_use(folder, path, owner, option)
            if locked is None and owner and owner.get("host") == socket.gethostname() \
                    and owner.get("pid") != os.getpid() and _pid_alive(owner.get("pid")):
                raise _in_use(folder, path, owner, option)
            # The previous owner may have removed the file between our open and our lock: then
            # this descriptor is an orphan and another process may hold the new file.
            try:
                current = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                current = False
        except BaseException:
            os.close(fd)
            raise
        if not current:
            os.close(fd)
            continue
        if owner:
            print(f"note: {path}: taking over the lock of {_describe(owner)}, which is no longer running "
                  f"(it stopped without releasing it)", file=sys.stderr)
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, _owner_text().encode("utf-8"))
        return fd


@contextmanager
def run_lock(folder: str | Path, option: str = "--out") -> Iterator[Path]:
    """Own the run folder ``folder`` (created if need be) for the duration of the block.

    Args:
        folder: the run folder.
        option: the command-line option that named it, for the message.

    Yields:
        The lock file.

    Raises:
        RunInUseError: a live process owns the folder (the message gives its pid and host and
            the lock file).
        NotAnOutputError: ``folder`` is an existing file.
        UnwritableError: the folder cannot be written.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotAnOutputError(f"{option}: {folder} is an existing file, not a folder; name a folder for the run")
    created = [p for p in (folder, *folder.parents) if not p.exists()]  # deepest first
    with writing_into(folder.parent), reporting_os_errors(folder, option):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except FileNotFoundError as err:  # a file system that makes no folders there (/proc, say)
            _remove_if_empty(created)
            raise OutputError(f"{option}: cannot create {folder}: {err.strerror}; choose a folder elsewhere") from None
    path = folder / LOCK_NAME
    try:
        fd = _acquire(folder, option)
    except BaseException:
        _remove_if_empty(created)
        raise
    try:
        yield path
    finally:
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                path.unlink()
        except FileNotFoundError:
            pass
        os.close(fd)  # releases the flock, after the unlink: no one can lock a file still listed
        _remove_if_empty(created)


def _remove_if_empty(created: list[Path]) -> None:
    # A run that failed before writing anything leaves no empty folder behind, nor the empty
    # parents it made for it.
    for folder in created:
        try:
            folder.rmdir()
        except OSError:
            return


def lock_holder(folder: str | Path) -> dict | None:
    """The owner (``pid``, ``host``, ``started``) of a live lock on run folder ``folder``, or None."""
    path = Path(folder) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        owner = _read_owner(fd)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                return None
            except BlockingIOError:
                return owner or {}
            except OSError:
                pass
        live = owner and owner.get("host") == socket.gethostname() and _pid_alive(owner.get("pid"))
        return owner if live else None
    finally:
        os.close(fd)
