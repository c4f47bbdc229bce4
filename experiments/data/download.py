"""Resumable, verified HTTP downloads and atomic archive extraction.

A download goes to ``<dest>.part`` and is resumed from there with an HTTP ``Range`` request
after an interruption (retried with backoff); only a complete file whose sha256 matches is
renamed to ``<dest>``. Archives are extracted into a temporary folder beside the destination
and renamed into place only when complete.

Why not pooch (``pooch.retrieve`` with ``known_hash`` and ``processors=pooch.Unzip()``): it would
replace :func:`download` and :func:`extract_archive` (about 140 of this module's lines; mirrors,
layouts and content manifests, ``acquire.py`` and ``integrity.py``, are this project's and stay),
and lose two behaviours the tests hold: (1) resuming, since pooch downloads to a temporary file
that it deletes on failure and starts every attempt from byte 0 (an interruption at 90% of UCF-QNRF's 4.5 GB
costs 4 GB again; ``test_interrupted_transfer_resumes_with_range``,
``test_partial_file_from_an_earlier_run_is_resumed``); (2) atomic extraction, since ``Unzip``
extracts member by member into ``<archive>.unzip`` and, when the archive is already present,
reuses that folder as it is, so an extraction cut short is taken for a complete one.
"""

from __future__ import annotations

import http.client
import os
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path

from tqdm import tqdm

from ..core.outputs import atomic_dir
from .integrity import DigestMismatchError, sha256_file

MIRROR_ENV = "TGHEM_DATA_MIRROR"
_CHUNK = 1 << 16


class DownloadError(RuntimeError):
    """The file could not be fetched (offline, server error) after all retries."""


def _offline_message(url: str, err: BaseException) -> str:
    return (
        f"could not download {url}: {err}. If this machine is offline, put the archive (under "
        f"its published file name) or its extracted published layout in a folder and pass it "
        f"with --mirror DIR or the environment variable {MIRROR_ENV}."
    )


def download(
    url: str,
    dest: str | Path,
    sha256: str | None = None,
    retries: int = 5,
    backoff: float = 1.0,
    timeout: float = 60.0,
    progress: bool = True,
) -> Path:
    """Download ``url`` to ``dest``, resuming a previous partial transfer.

    Args:
        url: http(s) or file URL.
        dest: final file path; the partial transfer lives at ``<dest>.part``.
        sha256: expected hex sha256 of the complete file, or None to accept any content
            (the computed digest is then only reported by the caller).
        retries: attempts after the first one; each failed attempt keeps the bytes received.
        backoff: seconds before the first retry, doubled on each further retry.
        timeout: socket timeout per request, seconds.
        progress: show a tqdm progress bar.

    Returns:
        ``dest``.

    Raises:
        DigestMismatchError: the complete file's sha256 differs (the bad file is deleted, so a
            rerun starts afresh).
        DownloadError: the transfer failed on every attempt (e.g. offline).
    """
    dest = Path(dest)
    if not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries: expected a non-negative int, got {retries!r}")
    if dest.is_file() and (sha256 is None or sha256_file(dest) == sha256):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    last_err: BaseException | None = None
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        try:
            _fetch_into(url, part, timeout, progress)
            break
        except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
            if isinstance(err, urllib.error.HTTPError) and 400 <= err.code < 500 and err.code != 416:
                raise DownloadError(_offline_message(url, err)) from err
            last_err = err
    else:
        raise DownloadError(_offline_message(url, last_err)) from last_err
    actual = sha256_file(part)
    if sha256 is not None and actual != sha256:
        part.unlink(missing_ok=True)
        raise DigestMismatchError(
            f"{dest.name} from {url}: sha256 mismatch: expected {sha256}, actual {actual}"
        )
    os.replace(part, dest)
    return dest


def _fetch_into(url: str, part: Path, timeout: float, progress: bool) -> None:
    """One transfer attempt, appending to ``part``; returns only when the file is complete."""
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"User-Agent": "tghem-experiments/0.1"})
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:
            # Range beyond the end: the partial file already holds everything.
            return
        raise
    with resp:
        status = getattr(resp, "status", 200)
        if have and status != 206:
            # The server ignored the Range header: start over rather than append a second copy.
            have = 0
        length = resp.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        mode = "ab" if have else "wb"
        with open(part, mode) as f, tqdm(
            total=total, initial=have, unit="B", unit_scale=True, desc=part.name[:-5],
            disable=not progress, leave=False,
        ) as bar:
            while True:
                chunk = resp.read(_CHUNK)
                if not chunk:
                    break
                f.write(chunk)
                bar.update(len(chunk))
    if total is not None and part.stat().st_size < total:
        raise ConnectionError(f"transfer ended early: {part.stat().st_size} of {total} bytes")


def extract_into(archive: str | Path, folder: str | Path) -> Path:
    """Extract a .zip archive into an existing folder (not atomic: the caller's temporary one).

    Raises:
        ValueError: the archive is not a zip, or a member would land outside ``folder``.
    """
    archive, folder = Path(archive), Path(folder)
    if not zipfile.is_zipfile(archive):
        raise ValueError(f"archive: expected a .zip file, got {archive}")
    with zipfile.ZipFile(archive) as zf:
        root = folder.resolve()
        for name in zf.namelist():
            target = (folder / name).resolve()
            if root not in target.parents and target != root:
                raise ValueError(f"archive: member {name!r} would be extracted outside {folder}")
        try:
            zf.extractall(folder)
        except (zipfile.BadZipFile, EOFError, zlib.error) as err:
            raise ValueError(f"{archive}: a damaged zip archive ({err}); fetch it again") from None
    return folder


def extract_archive(archive: str | Path, dest: str | Path) -> Path:
    """Extract a .zip archive to ``dest`` atomically.

    Args:
        archive: the .zip file.
        dest: folder to create; replaced if it is a previous extraction (refused if it holds anything else).

    Returns:
        ``dest``.

    Raises:
        ValueError: the archive is not a zip or is damaged, or a member would land outside ``dest``.
    """
    archive, dest = Path(archive), Path(dest)
    if not zipfile.is_zipfile(archive):
        raise ValueError(f"archive: expected a .zip file, got {archive}")
    with atomic_dir(dest, "extract_zip", "dest") as tmp:
        try:
            extract_into(archive, tmp)
        except ValueError as err:
            raise ValueError(str(err).replace(str(tmp), str(dest))) from None
    return dest
