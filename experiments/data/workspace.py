"""One ``prepare`` per dataset name at a time, and what an interrupted one left behind removed.

Every folder ``prepare`` writes is built in a temporary ``.<name>.XXXXXXXX.partial`` folder
beside its final place and renamed into place (:func:`experiments.core.outputs.atomic_dir`); a
``kill -9`` leaves that folder (or a ``.<name>.old-PID`` one) behind. :func:`preparation_lock`
makes the preparation of a name exclusive, so whoever holds it knows such folders are stale
and :func:`remove_stale` deletes them.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

try:
    import fcntl
except ImportError:  # not on Windows: there, no lock (and no cleanup of others' leftovers)
    fcntl = None

# tempfile.mkdtemp's random part is 8 characters of [a-z0-9_].
_LEFTOVER = r"\.{stem}\.(?:(?:\d+-)?[a-z0-9_]{{8}}\.partial|old-\d+)"


class PreparationBusyError(ValueError):
    """Another process is preparing the same dataset into the same data folder."""


@contextmanager
def preparation_lock(data_dir: str | Path, name: str) -> Iterator[Path]:
    """Hold the exclusive lock on preparing ``name`` into ``data_dir`` for the block.

    The lock is ``<data_dir>/raw/.<name>.lock`` (an ``flock``, so a killed holder releases it);
    while held it names the holder's pid and host.

    Raises:
        PreparationBusyError: another process holds it (the message names it).
    """
    lock = Path(data_dir) / "raw" / f".{name}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    if fcntl is None:
        yield lock
        return
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            owner = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            raise PreparationBusyError(
                f"{lock}: {owner} is preparing {name!r} into {data_dir}; wait until it ends, "
                f"or pass another --name or --data-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode(), 0)
        try:
            yield lock
        finally:
            # Left empty, so that preparing twice leaves identical bytes in the data folder.
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)


def remove_stale(data_dir: str | Path, name: str) -> list[Path]:
    """Delete the temporary folders an interrupted ``prepare`` of ``name`` left (call under the lock).

    Looks beside ``raw/<name>``, ``prepared/<name>`` and ``raw/<name>/extracted``; the ``.part``
    file of an interrupted download stays, since the next download resumes it.

    Returns:
        The paths removed.
    """
    data_dir = Path(data_dir)
    places = ((data_dir / "raw", name), (data_dir / "prepared", name), (data_dir / "raw" / name, "extracted"))
    removed = []
    for folder, stem in places:
        if not folder.is_dir():
            continue
        pattern = re.compile(_LEFTOVER.format(stem=re.escape(stem)))
        for p in sorted(folder.iterdir()):
            if pattern.fullmatch(p.name):
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p)
                else:
                    p.unlink()
                removed.append(p)
    return removed
