"""The project's import graph, read from the source (``ast``), for the architecture and pipeline tests.

Every ``import`` and ``from ... import`` statement counts, at module level or inside a function
(a late import is still an import), with relative imports resolved. Only the repository's own
packages are followed.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

from tests.helpers.paths import ROOT

PACKAGES = ("experiments", "tghem", "baselines", "benchmarks")
"""The repository's top-level packages."""


def module_file(name: str) -> Path | None:
    """The source file of module ``name`` (a package's ``__init__.py``), or None if it is not the project's."""
    if name.split(".")[0] not in PACKAGES:
        return None
    base = ROOT.joinpath(*name.split("."))
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def module_name(path: Path) -> str:
    """The dotted name of a project source file."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.lru_cache(maxsize=None)
def direct_imports(name: str) -> frozenset[str]:
    """The project modules that module ``name`` imports itself (resolved, existing ones only)."""
    path = module_file(name)
    if path is None:
        return frozenset()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return frozenset(m for m in found if module_file(m) is not None)


def with_parents(name: str) -> set[str]:
    """``name`` and the packages above it, whose ``__init__`` runs first on import."""
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)}


def closure(name: str) -> set[str]:
    """Every project module importing ``name`` runs (itself, its packages, and what they import)."""
    seen: set[str] = set()
    todo = list(with_parents(name))
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for imported in direct_imports(current):
            todo.extend(with_parents(imported) - seen)
    return seen


def closure_files(name: str) -> set[Path]:
    """The source files of :func:`closure`."""
    return {module_file(m) for m in closure(name)}


def project_modules(package: str) -> list[str]:
    """Every module of a project package, sorted."""
    return sorted(module_name(p) for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts)
