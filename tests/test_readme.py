"""The README's Python examples run as written and print what their comments state; its commands match .ci/run;
the results embedded in the README or the documentation pages are the committed ones."""
import re

import pytest

from tests.helpers.markdown_examples import output_mismatches, python_blocks, stated_outputs
from tests.helpers.markdown_pages import embedded_blocks
from tests.helpers.paths import ROOT

README = (ROOT / "README.md").read_text()
PYTHON_BLOCKS = python_blocks(README)


def test_readme_has_examples():
    assert len(PYTHON_BLOCKS) >= 2
    assert all(stated_outputs(block) for block in PYTHON_BLOCKS), "every example states what it prints"


def test_a_wrong_stated_value_is_caught():
    """The check itself: the README's old comment (14.142 where 49.497 is printed) fails, ellipses match."""
    wrong = "import math\nprint(70 / math.sqrt(2))  # prints 14.142...\n"
    assert output_mismatches(wrong, "wrong") == ["wrong, line 2: states '14.142...', printed '49.49747468305832'"]
    assert output_mismatches(wrong.replace("14.142", "49.497"), "right") == []
    loop = "for i in range(3):\n    print(i, [i] * 2)  # prints 0 [0, 0] 1 ...\n"
    assert output_mismatches(loop, "loop") == []
    assert output_mismatches("print('a')\n", "silent") == ["silent, line 1: prints 'a\\n' but states nothing (add '# prints ...')"]
    assert output_mismatches("x = 1  # prints 1\n", "none") == ["none, line 1: states '1' but printed nothing: x = 1  # prints 1"]


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(PYTHON_BLOCKS)))
def test_readme_example_prints_what_it_states(index):
    assert output_mismatches(PYTHON_BLOCKS[index], f"README.md python block {index}") == []


def test_ci_runs_the_readme_commands():
    ci = (ROOT / ".ci" / "run").read_text()
    bash_blocks = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
    install = next(b.strip() for b in bash_blocks if "pip install -r requirements.txt" in b)
    test = next(b.strip() for b in bash_blocks if "pytest" in b)
    assert install in ci
    assert test in ci
    # Then aggregate and report run again whatever DVC thinks of their inputs: their outputs are committed
    # to git, and a hand-updated lock would let DVC skip them, so the check would not see their code.
    assert ci.index(install) < ci.index("\ndvc repro --force --single-item aggregate report\n") < ci.index(test)


@pytest.mark.parametrize("table", [f"results/{study}/tables/{name}.md" for study in ("benchmark", "cells", "synthetic")
                                   for name in ("main", "findings")])
def test_readme_results_table_is_the_committed_one(table):
    """Each study's main table and findings are embedded as committed, in its page of docs/studies/ (or any
    Markdown page that has the block; refresh: report --readme FILE)."""
    import shutil
    import subprocess

    from experiments.analysis.rendering import readme_block_markers

    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip(f"needs a git checkout to read the committed {table}")
    done = subprocess.run(["git", "show", f"HEAD:{table}"], cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"{table} is not committed yet")
    start, end = readme_block_markers(table)
    blocks = embedded_blocks(start, end)
    assert blocks, f"neither the README nor a page of docs/ embeds {table}"
    for page, block in blocks.items():
        assert block.strip() == done.stdout.strip(), f"{page}: the block of {table} is not the committed table"
