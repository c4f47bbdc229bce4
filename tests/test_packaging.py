"""What `pip install .` ships: the library `tghem` only, optional backends as extras, the stated Pythons."""
import re
import tomllib

from setuptools import find_packages

from tests.helpers.paths import ROOT

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_wheel_holds_only_the_package_tghem():
    include = PROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = find_packages(where=str(ROOT), include=include)
    assert "tghem" in packages
    assert {p.split(".")[0] for p in packages} == {"tghem"}, packages


def test_giotto_ph_is_the_ripser_extra_only():
    names = [re.split(r"[<>=!~\s\[]", d)[0].lower() for d in PROJECT["project"]["dependencies"]]
    assert "giotto-ph" not in names
    assert PROJECT["project"]["optional-dependencies"]["ripser"] == ["giotto-ph"]


def test_the_readme_states_the_pythons_of_requires_python():
    """requires-python admits 3.11 and up; the README names 3.11 and 3.12, where the pinned environment
    resolves (.ci/check_python_versions.sh), and says why not 3.10 and 3.13."""
    assert PROJECT["project"]["requires-python"] == ">=3.11"
    readme = (ROOT / "README.md").read_text()
    assert "Python 3.11 or 3.12 on Linux" in readme
    assert "on 3.10 its numpy" in readme and "on 3.13" in readme


def test_the_licence_file_names_the_declared_licence():
    licence = PROJECT["project"]["license"]["text"]
    assert licence == "MIT"
    text = (ROOT / "LICENSE").read_text()
    assert text.splitlines()[0] == f"{licence} License"
    assert "Copyright (c) 2026 The TG-HEM benchmark contributors" in text


def test_the_version_has_one_source():
    """pyproject.toml reads the version from tghem.__version__; the installed metadata agrees."""
    from importlib.metadata import version

    import tghem

    assert "version" not in PROJECT["project"] and "version" in PROJECT["project"]["dynamic"]
    assert PROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "tghem.__version__"}
    assert tghem.__version__ == version("tghem")


def test_the_citation_file_cites_the_package_s_version_and_licence():
    """CITATION.cff (GitHub's "Cite this repository") cannot read tghem.__version__: it states it, checked here."""
    import yaml

    import tghem

    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert str(citation["version"]) == tghem.__version__
    assert citation.get("license", PROJECT["project"]["license"]["text"]) == PROJECT["project"]["license"]["text"]
