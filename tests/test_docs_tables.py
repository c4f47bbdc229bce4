"""The site's own extension (docs/_ext/registry_tables.py): the method table and the module lists it
renders from the code, so that adding a loss edits no page."""
import importlib.util
import inspect

import pytest
from sphinx.errors import ExtensionError

from experiments.training.methods import METHODS, Method
from tests.helpers.exports import resolve
from tests.helpers.imports import project_modules
from tests.helpers.markdown_pages import DOCS


@pytest.fixture(scope="module")
def tables():
    spec = importlib.util.spec_from_file_location("registry_tables", DOCS / "_ext" / "registry_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_method_table_has_a_row_per_registered_method(tables):
    rows = tables.method_rows()
    assert [r[0] for r in rows] == list(METHODS)
    by_name = {name: (cls, sections, text) for name, cls, sections, text in rows}
    # the class is what the builder makes, under the name the package exports it by
    assert by_name["tghem"][:2] == ("tghem.TGHEM", ("tghem", "ohem"))
    assert by_name["ohem"][:2] == ("tghem.SegmentationLoss", ("ohem",))
    assert by_name["tghem_count"][:2] == ("baselines.CountWeightedOHEM", ("tghem_count", "tghem", "ohem"))
    for name, (cls, sections, text) in by_name.items():
        assert inspect.isclass(resolve(cls)) and sections == METHODS[name].sections
        # the first paragraph of the builder's docstring, on one line
        assert text == " ".join(inspect.getdoc(METHODS[name].build).split("\n\n")[0].split()) and text
    assert by_name["dice_bce"][2] == "Dice + BCE over all pixels, no mining."


def test_a_builder_without_a_docstring_stops_the_build(tables, monkeypatch):
    def _undocumented(cfg):
        return METHODS["focal"].build(cfg)

    monkeypatch.setitem(METHODS, "mine", Method(("focal",), _undocumented))
    with pytest.raises(ExtensionError, match=r"method 'mine': its builder .*_undocumented has no docstring"):
        tables.method_rows()


def test_descriptions_keep_their_literals(tables):
    nodes = tables._inline("weighted by ``1 + lambda * D_k`` per crop")
    assert [(type(n).__name__, n.astext()) for n in nodes] == [
        ("Text", "weighted by "), ("literal", "1 + lambda * D_k"), ("Text", " per crop")]
    with pytest.raises(ExtensionError, match="unbalanced ``literal`` markup"):
        tables._inline("a ``b")


def test_the_module_role_lists_a_package_folder(tables):
    public = sorted(m.split(".")[-1] for m in project_modules("baselines") if m.count(".") == 1
                    and not m.split(".")[-1].startswith("_"))
    assert tables.folder_modules("baselines") == public and {"focal", "controls"} <= set(public)
    with pytest.raises(ExtensionError, match="modules: expected a package folder of the repository, got 'docs'"):
        tables.folder_modules("docs")


def test_the_pages_use_the_generated_tables():
    """The training page renders the registry (no hand-written method rows left), the layout page lists
    the losses' folder with the role."""
    training = (DOCS / "training.md").read_text()
    assert training.count("```{method-table}\n```") == 1
    assert not any(f"| `{name}` |" in training for name in METHODS)
    assert "| `baselines/` | comparison losses | {modules}`baselines`" in (DOCS / "architecture.md").read_text()
