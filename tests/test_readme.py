"""The README's Python examples run as written, and its commands match .ci/run."""
import re
from pathlib import Path

import pytest

from tests.helpers.paths import ROOT

README = (ROOT / "README.md").read_text()
PYTHON_BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.S)


def test_readme_has_examples():
    assert len(PYTHON_BLOCKS) >= 2


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(PYTHON_BLOCKS)))
def test_readme_example_runs(index, capsys):
    exec(compile(PYTHON_BLOCKS[index], f"README.md[python block {index}]", "exec"), {})
    assert capsys.readouterr().out.strip()


def test_ci_runs_the_readme_commands():
    ci = (ROOT / ".ci" / "run").read_text()
    bash_blocks = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
    install = next(b.strip() for b in bash_blocks if "pip install -r requirements.txt" in b)
    test = next(b.strip() for b in bash_blocks if "pytest" in b)
    assert install in ci
    assert test in ci


@pytest.mark.parametrize("table", ["results/cells/tables/main.md", "results/synthetic/tables/main.md"])
def test_readme_results_table_is_the_committed_one(table):
    """The README embeds each study's main table as committed (refresh: report --readme README.md)."""
    import shutil
    import subprocess

    from experiments.analysis.rendering import readme_block_markers

    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip(f"needs a git checkout to read the committed {table}")
    done = subprocess.run(["git", "show", f"HEAD:{table}"], cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"{table} is not committed yet")
    start, end = readme_block_markers(table)
    assert start in README and end in README, f"the README does not embed {table}"
    block = README.split(start, 1)[1].split(end, 1)[0]
    assert block.strip() == done.stdout.strip()
