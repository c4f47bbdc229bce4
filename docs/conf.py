"""Sphinx configuration of the TG-HEM documentation site.

Build it from the repository root (tests/test_docs.py builds it the same way, and fails on any warning):

    sphinx-build -W --keep-going -b html docs docs/_build/html

Why Sphinx, with MyST Markdown pages and napoleon: the docstrings of ``tghem`` and ``baselines`` already
use Sphinx roles (``:class:``, ``:func:``, ``:math:``), ``.. math::`` directives and Google-style
``Args:`` / ``Returns:`` sections, which autodoc + napoleon render as written; the prose pages stay
Markdown (myst-parser), the format the README and the generated result tables are written in, so the
tables that ``python -m experiments.report --readme FILE`` refreshes can live in these pages too.
Theme: furo.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from docutils import nodes
from sphinx import addnodes

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
# The repository root on sys.path: `baselines` (and `tghem` of the checkout) import from it, as in the tests.
sys.path.insert(0, str(ROOT))
# The site's own extension (_ext/registry_tables.py): the tables it renders from the code.
sys.path.insert(0, str(DOCS / "_ext"))

from tghem import __version__  # noqa: E402  (after the path: the checkout's package)

project = "TG-HEM"
author = "The TG-HEM benchmark contributors"
copyright = "2026, The TG-HEM benchmark contributors"
version = __version__
release = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "registry_tables",
]

# Markdown pages; reStructuredText only for the API pages that autosummary generates.
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "_templates"]
templates_path = ["_templates"]

# MyST: $...$ / $$...$$ math, ::: fences for directives, and anchors on headings down to level 3 so that
# pages can link to one another's sections (`page.md#slug`).
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3

# autodoc + napoleon: the docstrings are Google style with Sphinx roles inside.
napoleon_google_docstring = True
napoleon_numpy_docstring = False
autodoc_member_order = "bysource"
autodoc_default_options = {"show-inheritance": True}
# Type hints stay in the signatures (Sphinx's default): in the parameter descriptions a hint naming a
# re-exported class (TopoGuide is tghem.TopoGuide and tghem.topology.TopoGuide) is an ambiguous reference.
autodoc_typehints = "signature"
# The API reference (api/index.md): autosummary walks `tghem` and `baselines` and writes one page per
# public module into api/generated/ (a build product, ignored by git) from _templates/autosummary/module.rst.
autosummary_generate = True

html_theme = "furo"
html_title = f"TG-HEM {release}"


def _repository_links(app, doctree: nodes.document) -> None:
    """Links from a page to repository files and folders outside docs/, e.g. ``../results/cells/tables/``.

    The pages keep plain relative Markdown links, which resolve in the repository itself (on a code host
    or in an editor); MyST would look for a document behind each and warn. Here a link to a file becomes
    a download link (the file is copied into the site), a link to a folder keeps its text without a link
    (a static site cannot list a folder). A link whose target does not exist is left alone, so MyST still
    warns about it and the strict build fails.
    """
    env = app.env
    docname = env.current_document.docname
    doc_dir = Path(env.doc2path(docname)).parent
    for node in list(doctree.findall(addnodes.pending_xref)):
        if node.get("reftype") != "myst":
            continue
        if node.get("refdomain") == "doc":
            if node["reftarget"] in env.found_docs:
                continue
            # A link to a .md file outside docs/: MyST names it by its absolute path without the suffix.
            target = Path(node["reftarget"] + ".md")
        elif node.get("refdomain") is None:
            target = Path(env.relfn2path(node["reftarget"].split("#", 1)[0], docname)[1])
        else:
            continue
        if not target.is_absolute() or not target.resolve().is_relative_to(ROOT) or DOCS in target.resolve().parents:
            continue
        if target.is_file():
            link = addnodes.download_reference(refdomain=None, reftarget=os.path.relpath(target, doc_dir),
                                               refdoc=docname, reftype="myst", refexplicit=node.get("refexplicit"))
            link += node.children
            node.replace_self(link)
        elif target.is_dir():
            node.replace_self(node.children)


def setup(app):
    # Before Sphinx's own collectors (priority 500), which copy the download links' files.
    app.connect("doctree-read", _repository_links, priority=100)
    return {"parallel_read_safe": True}
