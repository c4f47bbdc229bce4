"""Getting a dataset's published files into ``<data-dir>/raw/<name>/`` and verifying them.

Sources, in order: an explicit ``--source`` folder; what ``raw/<name>/`` already holds; a mirror
folder (``--mirror DIR`` or ``$TGHEM_DATA_MIRROR``) holding either the archive under its
published file name or the extracted published layout; the published URL. Whatever the
source, the content digest over the files used is computed and, where the registry records it,
verified.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from ..core.fsutil import atomic_dir, link_or_copy
from .crowd import resolve_shanghaitech_root
from .download import MIRROR_ENV, DownloadError, download, extract_archive
from .integrity import DigestMismatchError, build_manifest, content_digest, sha256_file, verify_manifest
from .parsers import PARSERS
from .registry import DatasetSpec


@dataclass
class Acquired:
    """Where a dataset's published layout lies and what it hashes to.

    Attributes:
        root: folder holding the published layout (what the parser reads).
        manifest: relative path -> sha256 of the files used.
        digest: content digest of ``manifest``.
        verified: True when checked against the registry, False when only recorded.
    """

    root: Path
    manifest: dict[str, str]
    digest: str
    verified: bool


def mirror_from_env(mirror: str | Path | None) -> Path | None:
    """Return the mirror folder: the argument if given, else ``$TGHEM_DATA_MIRROR``, else None."""
    m = mirror if mirror is not None else os.environ.get(MIRROR_ENV) or None
    return Path(m) if m is not None else None


def find_layout(spec: DatasetSpec, base: Path) -> Path | None:
    """Find the published layout of ``spec`` in or below ``base`` (None if absent).

    Looks at ``base/<name>/<content_root>``, ``base/<content_root>``, ``base/<name>`` and
    ``base`` itself; ShanghaiTech also accepts ``ShanghaiTech/part_X`` and ``part_X`` there.
    """
    base = Path(base)
    if not base.is_dir():
        return None
    parser = PARSERS[spec.parser]
    if spec.name.startswith("shanghaitech_"):
        if (base / "images").is_dir() and (base / "ground-truth").is_dir():
            return base  # a single train_data/ or test_data/ folder
        for c in (base / spec.name, base):
            try:
                return resolve_shanghaitech_root(c, parser.part)
            except FileNotFoundError:
                continue
        return None
    cands = [base / spec.name / spec.content_root, base / spec.content_root, base / spec.name, base]
    for c in cands:
        if c.is_dir():
            try:
                if parser.files(c):
                    return c
            except (FileNotFoundError, ValueError):
                continue
    return None


def _layout_dir_name(spec: DatasetSpec) -> str:
    if spec.name.startswith("shanghaitech_"):
        return f"part_{spec.name[-1].upper()}"
    return spec.content_root or spec.name


def _copy_layout(spec: DatasetSpec, src: Path, extracted: Path) -> None:
    """Copy (hard-link where possible) the files used from ``src`` into ``extracted``, atomically."""
    files = PARSERS[spec.parser].files(src)
    with atomic_dir(extracted) as tmp:
        dst_root = tmp / _layout_dir_name(spec)
        if spec.name.startswith("shanghaitech_") and (src / "images").is_dir():
            # A lone split folder keeps its split name so ids stay train_/test_.
            dst_root = dst_root / ("train_data" if src.name.startswith("train") else "test_data")
        for f in files:
            link_or_copy(f, dst_root / f.relative_to(src))


def _log(msg: str, quiet: bool) -> None:
    if not quiet:
        print(msg, file=sys.stderr)


def acquire(
    spec: DatasetSpec,
    raw_dir: str | Path,
    mirror: str | Path | None = None,
    source: str | Path | None = None,
    quiet: bool = False,
    retries: int = 5,
    backoff: float = 1.0,
) -> Acquired:
    """Make the published layout of ``spec`` available and verify its content digest.

    Args:
        spec: registry entry (not ``synthetic``).
        raw_dir: ``<data-dir>/raw/<name>``; archives and ``extracted/`` go here.
        mirror: mirror folder, or None to use ``$TGHEM_DATA_MIRROR`` if set.
        source: a folder holding the published layout to use directly (required for
            ``folder``; read in place, not copied).
        quiet: no progress messages.
        retries: download retries per URL.
        backoff: seconds before the first retry (doubled each time).

    Returns:
        The layout's location and digests.

    Raises:
        FileNotFoundError: no source holds the data and there is no URL (message says where
            to put it).
        DownloadError: the download failed (message names the URL and the mirror option).
        DigestMismatchError: the files do not match the recorded digest.
    """
    if spec.parser is None:
        raise ValueError(f"spec: {spec.name!r} is generated, not acquired")
    raw_dir = Path(raw_dir)
    extracted = raw_dir / "extracted"
    root = None
    if source is not None:
        root = find_layout(spec, Path(source))
        if root is None:
            raise FileNotFoundError(f"source: no {spec.name} layout found in {source}. {spec.instructions}")
        _log(f"{spec.name}: reading {root}", quiet)
    elif spec.kind == "user":
        raise ValueError(f"source: the {spec.name!r} dataset needs --source DIR. {spec.instructions}")
    if root is None:
        root = find_layout(spec, extracted)
        if root is not None:
            _log(f"{spec.name}: using {root}", quiet)
    archive = raw_dir / spec.archive_name if spec.archive_name else None
    mirror = mirror_from_env(mirror)
    # download() has verified the archive's sha256 when it fetched it; a 4.5 GB archive
    # should not be hashed a second time.
    fetched = False
    if root is None and mirror is not None:
        for cand in ([mirror / spec.archive_name, mirror / spec.name / spec.archive_name] if archive else []):
            if cand.is_file():
                _log(f"{spec.name}: archive from mirror {cand}", quiet)
                download(cand.resolve().as_uri(), archive, spec.archive_sha256, retries=0, progress=not quiet)
                fetched = True
                break
        else:
            src = find_layout(spec, mirror)
            if src is not None:
                _log(f"{spec.name}: copying published layout from mirror {src}", quiet)
                _copy_layout(spec, src, extracted)
                root = find_layout(spec, extracted)
    if root is None and archive is not None and not archive.is_file():
        if not spec.urls:
            raise FileNotFoundError(f"{spec.name}: no data found. {spec.instructions}")
        err: Exception | None = None
        for url in spec.urls:
            try:
                _log(f"{spec.name}: downloading {url}", quiet)
                download(url, archive, spec.archive_sha256, retries=retries, backoff=backoff, progress=not quiet)
                err = None
                fetched = True
                break
            except DownloadError as e:
                err = e
        if err is not None:
            raise err
    if root is None and archive is not None:
        if spec.archive_sha256 is not None and not fetched:
            actual = sha256_file(archive)
            if actual != spec.archive_sha256:
                raise DigestMismatchError(
                    f"{archive}: sha256 mismatch: expected {spec.archive_sha256}, actual {actual}"
                )
        _log(f"{spec.name}: extracting {archive.name}", quiet)
        extract_archive(archive, extracted)
        root = find_layout(spec, extracted)
        if root is None:
            raise ValueError(f"{archive}: no {spec.name} layout found in the extracted archive")
    if root is None:
        raise FileNotFoundError(f"{spec.name}: no data found. {spec.instructions}")

    manifest = build_manifest(root, PARSERS[spec.parser].files(root))
    digest = content_digest(manifest)
    if spec.content_digest is not None:
        verify_manifest(spec.name, manifest, spec.content_digest, spec.manifest())
        verified = True
    else:
        verified = False
        _log(f"{spec.name}: content digest {digest} (recorded, not checked: none known)", quiet)
    return Acquired(root, manifest, digest, verified)
