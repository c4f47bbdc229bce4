"""Tables the site builds from the code itself, so that no page keeps a copy of a registry.

- the ``method-table`` directive renders :data:`experiments.training.methods.METHODS`: each method's
  ``--method`` name, the class its builder makes from the repository's ``params.yaml`` (linked to the
  API reference), the settings sections it reads and the first paragraph of the builder's docstring;
- the ``modules`` role, ``{modules}`baselines``` in a page, renders the public modules of a code
  folder, each linked to its API page.

A new method or module therefore appears on the pages without an edit of theirs (see "Adding a
baseline loss" in ``contributing.md``).
"""
from __future__ import annotations

import importlib
import inspect
from pathlib import Path

from docutils import nodes
from sphinx import addnodes
from sphinx.errors import ExtensionError
from sphinx.util.docutils import SphinxDirective

ROOT = Path(__file__).resolve().parents[2]
LIBRARIES = ("tghem", "baselines")
"""The packages whose re-exports the API reference documents (a class's public path)."""


def public_name(cls: type) -> str:
    """``tghem.TGHEM`` for a class a package re-exports, else ``module.Class``."""
    for package in LIBRARIES:
        if getattr(importlib.import_module(package), cls.__name__, None) is cls:
            return f"{package}.{cls.__name__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def method_rows() -> list[tuple[str, str, tuple[str, ...], str]]:
    """``(name, loss class, sections, description)`` of every registered method, in registry order.

    The class is the one the builder makes from the repository's settings; the description is the
    first paragraph of the builder's docstring, which every builder must have.
    """
    from experiments.core.settings import load_params
    from experiments.training.methods import METHODS, build_method

    cfg = load_params(ROOT / "params.yaml")
    rows = []
    for name, method in METHODS.items():
        doc = inspect.getdoc(method.build)
        if not doc:
            raise ExtensionError(f"method {name!r}: its builder {method.build.__qualname__} has no docstring; "
                                 "the first paragraph is its row of the method table")
        description = " ".join(doc.split("\n\n", 1)[0].split())
        rows.append((name, public_name(type(build_method(name, cfg).criterion)), method.sections, description))
    return rows


def _literal(text: str) -> nodes.literal:
    return nodes.literal(text, text)


def _xref(reftype: str, target: str, docname: str, text: str | None = None) -> addnodes.pending_xref:
    """A Python-domain reference to ``target`` shown as ``text`` (default: the target), warned when unresolved."""
    ref = addnodes.pending_xref("", refdomain="py", reftype=reftype, reftarget=target, refdoc=docname,
                                refexplicit=True, refwarn=True)
    ref += _literal(text or target)
    return ref


def _inline(text: str) -> list[nodes.Node]:
    """Plain text with ````literal```` spans, as the builders' docstrings write them."""
    parts = text.split("``")
    if len(parts) % 2 == 0:
        raise ExtensionError(f"unbalanced ``literal`` markup in a method description: {text!r}")
    return [_literal(p) if i % 2 else nodes.Text(p) for i, p in enumerate(parts) if p]


def _table(header: list[list[nodes.Node]], rows: list[list[list[nodes.Node]]]) -> nodes.table:
    group = nodes.tgroup(cols=len(header))
    group += [nodes.colspec(colwidth=1) for _ in header]
    head, body = nodes.thead(), nodes.tbody()
    for container, cells_of_rows in ((head, [header]), (body, rows)):
        for cells in cells_of_rows:
            row = nodes.row()
            for cell in cells:
                entry = nodes.entry()
                entry += nodes.paragraph("", "", *cell)
                row += entry
            container += row
    group += [head, body]
    return nodes.table("", group)


class MethodTable(SphinxDirective):
    """``method-table``: the registered methods (no arguments, no content)."""

    def run(self) -> list[nodes.Node]:
        docname = self.env.docname
        # the files the table is made from: an edit of one rebuilds the page
        for module in ("experiments/training/methods.py", "experiments/core/schema.py", "params.yaml"):
            self.env.note_dependency(str(ROOT / module))
        rows = []
        for name, cls, sections, description in method_rows():
            reads = [n for i, s in enumerate(sections) for n in ([nodes.Text(", ")] if i else []) + [_literal(s)]]
            rows.append([[_literal(name)], [_xref("class", cls, docname)], reads, _inline(description)])
        header = [[_literal("--method")], [nodes.Text("loss")], [nodes.Text("reads the sections")], [nodes.Text("what it is")]]
        return [_table(header, rows)]


def folder_modules(folder: str) -> list[str]:
    """The public modules of a code folder of the repository (``__init__`` and ``_private`` aside)."""
    path = ROOT / folder
    if not (path / "__init__.py").is_file():
        raise ExtensionError(f"modules: expected a package folder of the repository, got {folder!r}")
    return sorted(p.stem for p in path.glob("*.py") if not p.name.startswith("_"))


def modules_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    """``{modules}`folder```: the folder's public modules as ``name.py``, each linked to its API page.

    Only for the packages the API reference documents (``tghem``, ``baselines``): a module without a
    page is an unresolved reference, which the strict build reports.
    """
    folder = text.strip().strip("/")
    try:
        modules = folder_modules(folder)
    except ExtensionError as error:
        return [], [inliner.reporter.error(str(error), line=lineno)]
    docname = inliner.document.settings.env.docname
    package = folder.replace("/", ".")
    out: list[nodes.Node] = []
    for i, module in enumerate(modules):
        if i:
            out.append(nodes.Text(", "))
        out.append(_xref("mod", f"{package}.{module}", docname, f"{module}.py"))
    return out, []


def setup(app):
    app.add_directive("method-table", MethodTable)
    app.add_role("modules", modules_role)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
