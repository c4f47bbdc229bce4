"""Content integrity: sha256 of files and the content digest of an extracted dataset.

The content digest of a dataset is the sha256 of its manifest, a text in ``sha256sum`` format
(``<sha256>  <relative path>\\n`` per file, sorted by path). Recording the manifest beside the
digest lets a mismatch name the first file that differs, and lets users check a copy with
``sha256sum -c``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterable

_CHUNK = 1 << 20


class DigestMismatchError(ValueError):
    """Raised when files or archives do not match their recorded sha256 digest."""


def sha256_file(path: str | Path) -> str:
    """Return the hex sha256 of a file's bytes.

    Args:
        path: file to hash.

    Returns:
        64-character lowercase hex digest.
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def build_manifest(root: str | Path, files: Iterable[str | Path]) -> dict[str, str]:
    """Hash files below ``root``.

    Args:
        root: folder the manifest paths are relative to.
        files: files below ``root`` (absolute, or relative to ``root``).

    Returns:
        Mapping of POSIX relative path to sha256, sorted by path.
    """
    root = Path(root)
    out = {}
    for f in files:
        p = Path(f)
        # Parsers return paths joined onto root; accept plain relative names too.
        rel = p.relative_to(root) if p.is_relative_to(root) else p
        out[rel.as_posix()] = sha256_file(root / rel)
    return dict(sorted(out.items()))


def manifest_text(manifest: dict[str, str]) -> str:
    """Serialise a manifest in ``sha256sum`` format, sorted by path."""
    return "".join(f"{digest}  {rel}\n" for rel, digest in sorted(manifest.items()))


def parse_manifest(text: str) -> dict[str, str]:
    """Parse ``sha256sum``-format text into a path -> sha256 mapping.

    Raises:
        ValueError: a line is not ``<64 hex>  <path>``.
    """
    out = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        digest, sep, rel = line.partition("  ")
        if not sep or len(digest) != 64:
            raise ValueError(f"manifest line {n}: expected '<sha256>  <path>', got {line!r}")
        out[rel] = digest
    return dict(sorted(out.items()))


def content_digest(manifest: dict[str, str]) -> str:
    """Return the content digest (sha256 of the manifest text) of a manifest."""
    return hashlib.sha256(manifest_text(manifest).encode("utf-8")).hexdigest()


def first_difference(expected: dict[str, str], actual: dict[str, str]) -> str | None:
    """Describe the first file (in path order) where two manifests differ, or None if equal."""
    for rel in sorted(set(expected) | set(actual)):
        e, a = expected.get(rel), actual.get(rel)
        if e == a:
            continue
        if e is None:
            return f"{rel}: unexpected extra file (sha256 {a})"
        if a is None:
            return f"{rel}: missing (expected sha256 {e})"
        return f"{rel}: expected sha256 {e}, actual {a}"
    return None


def verify_manifest(
    name: str, actual: dict[str, str], expected_digest: str, expected: dict[str, str] | None
) -> None:
    """Check an actual manifest against a recorded content digest.

    Args:
        name: dataset name, for the error message.
        actual: manifest computed over the files found.
        expected_digest: recorded content digest.
        expected: recorded manifest, used to name the first differing file (may be None).

    Raises:
        DigestMismatchError: the digests differ; the message names both digests and, when the
            recorded manifest is known, the first file that differs.
    """
    got = content_digest(actual)
    if got == expected_digest:
        return
    where = first_difference(expected, actual) if expected is not None else None
    raise DigestMismatchError(
        f"{name}: content digest mismatch: expected {expected_digest}, actual {got}"
        + (f"; first differing file: {where}" if where else "")
    )
