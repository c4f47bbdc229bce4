"""Getting a dataset's published files into ``<data-dir>/raw/<name>/`` and verifying them.

Sources, in order: an explicit ``--source`` folder (read in place); what ``raw/<name>/extracted``
already holds; the archive under its published file name in ``raw/<name>/`` (its sha256 checked
where recorded); a mirror folder (``--mirror DIR`` or ``$TGHEM_DATA_MIRROR``) holding either the
archive or the extracted published layout; the published URL.
Whatever the source, the content digest over the files used is computed and, where the registry
records it, verified.

``extracted/`` is built in a temporary folder and renamed into place only after its digest is
verified (and, for a set whose digest is not recorded, after every file has been read), from
copies (never hard links) of a mirror's files, with the digest found recorded in it; a later run
that finds it changed removes it and acquires the data again. So a damaged download or mirror
file never leaves a copy that later runs reuse.

Nothing the stage did not make is deleted: a damaged ``extracted/`` without the stage's marker
(one a user put there), or holding more than the stage wrote, is refused and left as it is, and
so is a damaged archive that this run did not fetch.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from ..core.fsutil import json_text
from ..core.outputs import OUTPUT_MARKER, atomic_dir
from .crowd import resolve_shanghaitech_root
from .download import MIRROR_ENV, DownloadError, download, extract_into
from .integrity import DigestMismatchError, build_manifest, content_digest, sha256_file, verify_manifest
from .parsers import PARSERS
from .registry import DatasetSpec


VERIFIED_MARKER = ".tghem-verified.json"
"""File in ``extracted/`` recording the layout folder, the content digest found and the entries
the stage wrote when it built it."""


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
    """Return the mirror folder: the argument if given, else ``$TGHEM_DATA_MIRROR``, else None.

    Raises:
        FileNotFoundError: the mirror named is missing, not a folder, or empty (at once, rather
            than after a download's retries); the message names it and where it came from.
    """
    m = mirror if mirror is not None else os.environ.get(MIRROR_ENV) or None
    if m is None:
        return None
    where = "--mirror" if mirror is not None else f"${MIRROR_ENV}"
    path = Path(m)
    if not path.is_dir():
        what = "is not a folder" if path.exists() else "does not exist"
        raise FileNotFoundError(f"{where}: {path} {what}; name the folder holding the datasets (or unset it to download)")
    if next(path.iterdir(), None) is None:
        raise FileNotFoundError(f"{where}: {path} is empty; name the folder holding the datasets (or unset it to download)")
    return path


def find_layout(spec: DatasetSpec, base: Path) -> Path | None:
    """Find the published layout of ``spec`` in or below ``base`` (None if absent).

    Looks at ``base/<name>/<content_root>``, ``base/<content_root>``, ``base/<name>`` and
    ``base`` itself; ShanghaiTech also accepts ``ShanghaiTech/part_X`` and ``part_X`` there.

    Raises:
        ValueError: no candidate holds a complete layout and one of them held an incomplete one
            (the parser's message: e.g. an image without its annotation, by name).
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
    problem: ValueError | None = None
    for c in cands:
        if c.is_dir():
            try:
                if parser.files(c):
                    return c
            except FileNotFoundError:
                continue
            except ValueError as err:
                # The layout is there but incomplete: say what is wrong rather than "not found".
                problem = problem or err
    if problem is not None:
        raise problem
    return None


def _layout_dir_name(spec: DatasetSpec) -> str:
    if spec.name.startswith("shanghaitech_"):
        return f"part_{spec.name[-1].upper()}"
    return spec.content_root or spec.name


def _copy_layout(spec: DatasetSpec, src: Path, folder: Path) -> None:
    """Copy the files used from ``src`` into ``folder`` (a temporary one).

    Copied, never hard-linked: a link would share the mirror file's bytes, so damage to either
    copy (or a repair in place) would change the other behind the recorded digest's back.
    """
    dst_root = folder / _layout_dir_name(spec)
    if spec.name.startswith("shanghaitech_") and (src / "images").is_dir():
        # A lone split folder keeps its split name so ids stay train_/test_.
        dst_root = dst_root / ("train_data" if src.name.startswith("train") else "test_data")
    for f in PARSERS[spec.parser].files(src):
        dst = dst_root / f.relative_to(src)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, dst)


def _log(msg: str, quiet: bool) -> None:
    if not quiet:
        print(msg, file=sys.stderr)


def _verify(spec: DatasetSpec, root: Path, where: str | None, quiet: bool) -> Acquired:
    """Hash the files used below ``root`` and check them against the registry's digest.

    ``where``: the folder the files came from, for the advice of a mismatch (None: no advice).
    """
    manifest = build_manifest(root, PARSERS[spec.parser].files(root))
    digest = content_digest(manifest)
    if spec.content_digest is None:
        _log(f"{spec.name}: content digest {digest} (recorded, not checked: none known)", quiet)
        return Acquired(root, manifest, digest, False)
    try:
        verify_manifest(spec.name, manifest, spec.content_digest, spec.manifest())
    except DigestMismatchError as err:
        if where is None:
            raise
        raise DigestMismatchError(f"{err}; the files read were in {where}: replace the damaged one and run again") from None
    return Acquired(root, manifest, digest, True)


def _build_verified(spec: DatasetSpec, extracted: Path, fill, where: str, quiet: bool) -> Acquired:
    """Fill a temporary folder, verify it and only then rename it to ``extracted``.

    A failed digest (or any other error) removes the temporary folder, so a damaged copy never
    becomes the ``extracted/`` that later runs reuse. Where no digest is recorded, every file is
    read first (the parser's full pass), so an image that does not decode is found here, named
    in ``where``. The digest found and the entries written are recorded beside the layout
    (:data:`VERIFIED_MARKER`) so a later change to ``extracted/`` is noticed.
    """
    with atomic_dir(extracted, "prepare", "--data-dir", lambda entries: VERIFIED_MARKER in entries) as tmp:
        fill(tmp)
        root = find_layout(spec, tmp)
        if root is None:
            raise ValueError(f"{where}: no {spec.name} layout found in it; {spec.instructions}".rstrip("; "))
        got = _verify(spec, root, where, quiet)
        if not got.verified:
            try:
                PARSERS[spec.parser].parse(root)
            except ValueError as err:  # name the source, not the temporary copy that is now removed
                raise ValueError(f"{str(err).replace(str(root), where)} (in {where}; nothing of it was kept)") from None
        rel = root.relative_to(tmp)
        entries = sorted(p.name for p in tmp.iterdir())
        (tmp / VERIFIED_MARKER).write_text(json_text({"layout": rel.as_posix(), "content_digest": got.digest,
                                                      "entries": entries}))
    return Acquired(extracted / rel, got.manifest, got.digest, got.verified)


def _own_extracted(extracted: Path) -> bool:
    """Whether ``extracted`` is the stage's own copy, which it may remove: a folder (not a link)
    with :data:`VERIFIED_MARKER`, holding no entry besides those the marker lists (a marker from
    before that list vouches for the whole folder)."""
    marker = extracted / VERIFIED_MARKER
    if extracted.is_symlink() or not marker.is_file():
        return False
    try:
        recorded = json.loads(marker.read_text())
    except ValueError:
        return False
    listed = recorded.get("entries") if isinstance(recorded, dict) else None
    if listed is None:
        return isinstance(recorded, dict)
    return {p.name for p in extracted.iterdir()} - {OUTPUT_MARKER, VERIFIED_MARKER} <= set(listed)


def _reuse_extracted(spec: DatasetSpec, extracted: Path, quiet: bool) -> tuple[Acquired | None, str]:
    """The verified ``extracted/`` of an earlier run, or None and why it was removed ("" if absent).

    ``extracted/`` is this stage's own copy: one that no longer matches its digest is removed so
    the data is acquired again, instead of failing on every rerun.
    """
    if not extracted.is_dir():
        return None, ""
    try:
        root = find_layout(spec, extracted)
        if root is None:
            problem = f"no {spec.name} layout in it"
        else:
            got = _verify(spec, root, None, quiet=True)
            marker = extracted / VERIFIED_MARKER
            recorded = json.loads(marker.read_text()) if marker.is_file() else {"content_digest": got.digest}
            recorded = recorded.get("content_digest") if isinstance(recorded, dict) else None
            if recorded == got.digest:
                _log(f"{spec.name}: using {root}", quiet)
                if not got.verified:
                    _log(f"{spec.name}: content digest {got.digest} (recorded, not checked: none known)", quiet)
                return got, ""
            problem = f"its content digest {got.digest} differs from the {recorded} recorded when it was written"
    except ValueError as err:
        problem = str(err)
    if not _own_extracted(extracted):
        raise ValueError(
            f"{extracted}: {problem}; prepare did not make this folder as it is (no {VERIFIED_MARKER}, or it holds "
            f"more than prepare wrote), so it is left alone: repair it, or move it away so that the data is acquired "
            f"again, or pass a folder with the published layout with --source DIR")
    shutil.rmtree(extracted)
    note = f"removed the damaged copy {extracted} ({problem})"
    print(f"{spec.name}: {note}; acquiring the data again", file=sys.stderr)
    return None, note


def _unless_the_mirror_changed(spec: DatasetSpec, extracted: Path, got: Acquired,
                               mirror) -> tuple[Acquired | None, str]:
    """For a set without a recorded digest: ``got`` (the reused ``extracted/``), unless the mirror
    holds the published layout with other content (a mirror completed or repaired since), in
    which case ``extracted/``, if the stage's own, is removed so that the mirror is copied again.

    Raises:
        ValueError: the mirror differs and ``extracted/`` is not the stage's to remove.
    """
    mirror = mirror_from_env(mirror)
    src = find_layout(spec, mirror) if mirror is not None else None
    if src is None:
        return got, ""
    theirs = _verify(spec, src, None, quiet=True)
    if theirs.digest == got.digest:
        return got, ""
    problem = (f"the mirror's {src} ({len(theirs.manifest)} files, content digest {theirs.digest}) differs from this "
               f"copy ({len(got.manifest)} files, {got.digest})")
    if not _own_extracted(extracted):
        raise ValueError(f"{extracted}: {problem}; prepare did not make this folder as it is, so it is left alone: "
                         f"move it away to use the mirror, or pass it with --source DIR")
    shutil.rmtree(extracted)
    print(f"{spec.name}: removed {extracted}: {problem}; copying the mirror's", file=sys.stderr)
    return None, ""


def _from_archive(spec: DatasetSpec, archive: Path, extracted: Path, quiet: bool, origin: str | None) -> Acquired:
    """Extract ``archive`` into ``extracted`` (:func:`_build_verified`).

    ``origin``: where this run fetched the archive from (a URL or a mirror file), None when it
    found it already in ``raw/<name>/``. An archive whose content fails and that nothing vouches
    for (no recorded sha256) may be the damaged part: the copy this run fetched is removed, so
    that the next run fetches it anew; one it did not fetch is left where it is.
    """
    _log(f"{spec.name}: extracting {archive.name}", quiet)
    try:
        return _build_verified(spec, extracted, lambda tmp: extract_into(archive, tmp), str(archive), quiet)
    except ValueError as err:
        if spec.archive_sha256 is not None:
            raise
        if origin is None:
            raise type(err)(f"{err}; {archive} was not fetched by this run, so it is left as it is: replace it "
                            f"with the published archive, or remove it so that the next run fetches it") from None
        archive.unlink(missing_ok=True)
        raise type(err)(f"{err}; removed this run's copy {archive} of {origin}, so the next run fetches it again"
                        f"{'; replace the damaged file there' if not origin.startswith(('http:', 'https:')) else ''}") from None


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
        DigestMismatchError: the files do not match the recorded digest (nothing of them is
            kept in ``raw_dir`` for a later run to reuse).
        ValueError: the layout is incomplete (the parser's message, naming the file); or an
            ``extracted/`` or archive in ``raw_dir`` that the stage did not make fails its check
            (it is left as it is).
    """
    if not isinstance(spec, DatasetSpec):
        raise TypeError(f"spec: expected a DatasetSpec (experiments.data.registry.get_spec(name)), got {spec!r}")
    if spec.parser is None:
        raise ValueError(f"spec: {spec.name!r} is generated, not acquired")
    raw_dir = Path(raw_dir)
    extracted = raw_dir / "extracted"
    if source is not None:
        root = find_layout(spec, Path(source))
        if root is None:
            raise FileNotFoundError(f"source: no {spec.name} layout found in {source}. {spec.instructions}")
        _log(f"{spec.name}: reading {root}", quiet)
        return _verify(spec, root, str(root), quiet)
    if spec.kind == "user":
        raise ValueError(f"source: the {spec.name!r} dataset needs --source DIR. {spec.instructions}")
    got, removed = _reuse_extracted(spec, extracted, quiet)
    if got is not None and not got.verified:
        got, removed = _unless_the_mirror_changed(spec, extracted, got, mirror)
    if got is not None:
        return got
    archive = raw_dir / spec.archive_name if spec.archive_name else None
    if archive is not None and archive.is_file():  # put there by a user, or kept by an earlier run
        actual = sha256_file(archive) if spec.archive_sha256 is not None else None
        if actual != spec.archive_sha256:
            # prepare's own downloads are verified before they are renamed into place, so not one of them
            raise ValueError(f"{archive}: sha256 {actual}, expected {spec.archive_sha256}: not the "
                             f"published archive, and prepare did not write it, so it is left as it is: replace or remove it")
        return _from_archive(spec, archive, extracted, quiet, None)
    mirror = mirror_from_env(mirror)
    if mirror is not None:
        for cand in ([mirror / spec.archive_name, mirror / spec.name / spec.archive_name] if archive else []):
            if cand.is_file():
                _log(f"{spec.name}: archive from mirror {cand}", quiet)
                download(cand.resolve().as_uri(), archive, spec.archive_sha256, retries=0, progress=not quiet)
                return _from_archive(spec, archive, extracted, quiet, str(cand))
        src = find_layout(spec, mirror)
        if src is not None:
            _log(f"{spec.name}: copying published layout from mirror {src}", quiet)
            return _build_verified(spec, extracted, lambda tmp: _copy_layout(spec, src, tmp), str(src), quiet)
    if archive is not None and spec.urls:
        err: Exception | None = None
        for url in spec.urls:
            try:
                _log(f"{spec.name}: downloading {url}", quiet)
                download(url, archive, spec.archive_sha256, retries=retries, backoff=backoff, progress=not quiet)
                return _from_archive(spec, archive, extracted, quiet, url)
            except DownloadError as e:
                err = e
        if mirror is not None:  # say that the mirror was looked in, not only how to use one
            raise DownloadError(f"{err} The mirror {mirror} was searched and holds neither {spec.archive_name} (in it or "
                                f"in {spec.name}/) nor the published layout.") from None
        raise err
    raise FileNotFoundError(f"{spec.name}: no data found{f' ({removed})' if removed else ''}. {spec.instructions}".rstrip())
