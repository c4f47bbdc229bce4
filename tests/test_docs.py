"""The documentation site (docs/): it builds without a warning with a reference page for every public module,
its Python examples run as written and print what their comments state, every page is in a table of contents,
its links resolve, the loss page states the classes' real defaults, the README stays short, and every
public function and class of the two loss packages has a runnable example (pytest's --doctest-modules runs it)."""
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.exports import exported, exported_losses, resolve
from tests.helpers.imports import project_modules
from tests.helpers.markdown_examples import output_mismatches, python_blocks, stated_outputs
from tests.helpers.markdown_pages import DOCS, doc_pages, markdown_pages, name
from tests.helpers.paths import ROOT

README_MAX_LINES = 250
EXAMPLES = [(page, index) for page in doc_pages() for index in range(len(python_blocks(page.read_text())))]
TOCTREE = re.compile(r"^(`{3,}|:{3,})\{toctree\}[^\n]*\n(.*?)^\1\s*$", flags=re.S | re.M)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


@pytest.mark.slow
def test_the_site_builds_without_a_warning(tmp_path):
    """The build the README gives (warnings are errors), into a fresh folder."""
    done = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", str(DOCS),
                           str(tmp_path / "html")], cwd=ROOT, capture_output=True, text=True)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-5000:]
    assert "WARNING" not in output, output[-5000:]
    assert (tmp_path / "html" / "index.html").is_file()
    # the API reference has a page for every public module of both packages, found without a list
    modules = {m for package in ("tghem", "baselines") for m in project_modules(package)
               if not any(part.startswith("_") for part in m.split("."))}
    assert {"tghem.loss", "tghem.topology", "baselines.focal", "baselines.controls"} <= modules
    pages = {p.stem for p in (tmp_path / "html" / "api" / "generated").glob("*.html")}
    assert pages == modules
    assert 'id="tghem.loss.TGHEM"' in (tmp_path / "html" / "api" / "generated" / "tghem.loss.html").read_text()
    # the tables rendered from the code link the API reference: the method table every registered
    # method's class, the layout page every module of baselines/
    from experiments.training.methods import METHODS

    training = (tmp_path / "html" / "training.html").read_text()
    for name in METHODS:
        assert f'<span class="pre">{name}</span></code></p></td>' in training, name
    assert 'href="api/generated/tghem.html#tghem.TGHEM"' in training
    assert 'href="api/generated/baselines.html#baselines.CountWeightedOHEM"' in training
    layout = (tmp_path / "html" / "architecture.html").read_text()
    for module in (m for m in modules if m.startswith("baselines.")):
        assert f'href="api/generated/{module}.html#module-{module}"' in layout, module


def test_the_pages_have_examples_that_state_what_they_print():
    assert EXAMPLES, "no page of docs/ has a ```python example"
    for page, index in EXAMPLES:
        assert stated_outputs(python_blocks(page.read_text())[index]), f"{name(page)} python block {index} states nothing"


@pytest.mark.slow
@pytest.mark.parametrize("page, index", EXAMPLES, ids=[f"{name(p)}-{i}" for p, i in EXAMPLES])
def test_a_page_example_prints_what_it_states(page, index):
    assert output_mismatches(python_blocks(page.read_text())[index], f"{name(page)} python block {index}") == []


def test_the_readme_is_a_front_page():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move details to docs/"


def toctree_entries(page: Path) -> list[str]:
    """The documents a page's toctrees list, as docnames relative to docs/."""
    entries = []
    for _, body in TOCTREE.findall(page.read_text()):
        for line in body.splitlines():
            line = line.strip()
            if not line or line.startswith(":"):
                continue
            target = m.group(1) if (m := re.search(r"<([^>]+)>$", line)) else line
            if target.startswith("/"):
                doc = target.lstrip("/")
            else:
                doc = (page.parent.relative_to(DOCS) / target).as_posix()
            entries.append(doc.removeprefix("./").removesuffix(".md"))
    return entries


def test_every_page_is_reachable_from_the_index():
    pages = {p.relative_to(DOCS).with_suffix("").as_posix(): p for p in doc_pages()}
    seen, todo = {"index"}, ["index"]
    while todo:
        for doc in toctree_entries(pages[todo.pop()]):
            assert doc in pages, f"a toctree lists {doc}, which is not a page of docs/"
            if doc not in seen:
                seen.add(doc)
                todo.append(doc)
    assert set(pages) - seen == set(), "pages in no toctree reachable from docs/index.md"


def test_the_toctree_reader_finds_nested_entries():
    index = toctree_entries(DOCS / "index.md")
    assert "studies/benchmark" in index and "api/index" in index
    assert toctree_entries(DOCS / "api" / "index.md") == []  # its pages are autosummary's, generated


@pytest.mark.parametrize("page", markdown_pages(), ids=name)
def test_every_relative_link_resolves(page):
    """Links to pages and to repository files are relative to the page (``../`` from docs/ to the root)."""
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue
        if not (page.parent / target.split("#", 1)[0]).exists():
            broken.append(target)
    assert not broken, f"{name(page)}: links to missing paths {broken}"


def test_the_loss_page_states_the_defaults_the_classes_have():
    """docs/loss.md's "Classes and defaults" names every loss class that tghem and baselines export (the
    base CropWeightedLoss, described below it, aside), and each ``name=value`` it gives for a constructor
    argument is that argument's default, written as Python writes it."""
    rows = re.findall(r"^\| `((?:tghem|baselines)\.\w+)` \| (.*) \|$", (DOCS / "loss.md").read_text(), flags=re.M)
    assert exported_losses() - {"tghem.CropWeightedLoss"} | {"tghem.TopoGuide"} == {path for path, _ in rows}
    checked = 0
    for path, cell in rows:
        parameters = inspect.signature(resolve(path)).parameters
        for key, value in re.findall(r"\b(\w+)=([^,`]+)", cell):
            assert key in parameters, (path, key)
            assert repr(parameters[key].default) == value.strip(), (path, key, value, parameters[key].default)
            checked += 1
    assert checked >= 25


def test_the_layout_page_names_every_module_of_each_package_folder():
    """docs/architecture.md's table: each code folder's row names every module it holds (``__init__`` and
    private ``_x`` modules aside), or lists them with the ``modules`` role (``baselines/``, where a new loss
    adds one), and every ``name.py`` / ``name.sh`` a row names exists there."""
    rows = dict(re.findall(r"^\| `([\w/]+/)` \| [^|]* \| (.*) \|$", (DOCS / "architecture.md").read_text(), flags=re.M))
    code_folders = ["tghem/", "baselines/", "pipelines/", "benchmarks/", "experiments/"] + [
        f"experiments/{p.name}/" for p in sorted((ROOT / "experiments").iterdir()) if (p / "__init__.py").is_file()]
    assert len(code_folders) == 11 and set(code_folders) <= set(rows)
    for folder in code_folders:
        named = set(re.findall(r"`([\w.]+\.(?:py|sh))`", rows[folder]))
        present = {p.name for p in (ROOT / folder).iterdir() if p.suffix in (".py", ".sh")}
        assert named <= present, (folder, sorted(named - present))
        if f"{{modules}}`{folder.rstrip('/')}`" in rows[folder]:
            continue  # the site lists the folder's modules as it builds (tests/test_docs_tables.py)
        assert {n for n in present if not n.startswith("_")} <= named, (folder, sorted(present - named))
    assert "{modules}`baselines`" in rows["baselines/"]


def test_the_training_page_lists_every_file_of_a_run_folder():
    """docs/training.md's table of what a run folder receives is the trainer's list of outputs."""
    from experiments.core.runfolder import RUN_OUTPUTS

    page = (DOCS / "training.md").read_text()
    table = page[page.index("The run folder receives:"):]
    table = table[:table.index("\n\n", table.index("| file |"))]
    rows = re.findall(r"^\| `([\w.]+)` \|", table, flags=re.M)
    assert len(rows) == len(set(rows)) and set(rows) == set(RUN_OUTPUTS)


def test_every_public_function_and_class_has_a_runnable_example():
    """The house rule (docstrings: the math, Args, Shape, a runnable Example) at its least: an example,
    which ``--doctest-modules`` (``pyproject.toml``) runs and checks against the output it states."""
    public = exported(lambda o: inspect.isfunction(o) or inspect.isclass(o))
    assert len(public) > 30
    missing = [path for path, o in public.items() if ">>>" not in (inspect.getdoc(o) or "")]
    assert not missing, f"public names without an Example in their docstring: {missing}"
