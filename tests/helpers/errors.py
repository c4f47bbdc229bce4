"""Running a command line's ``main`` as ``python -m`` does, for the tests of its error messages."""

from __future__ import annotations

from typing import Callable

import pytest

from experiments.core.cli import run_stage


def one_line_error(main: Callable[[], int], capsys) -> str:
    """Run ``main`` through :func:`experiments.core.cli.run_stage`; check that it exits with 1,
    printing nothing on stdout and one line ``error: ...`` on stderr, and return that line's message."""
    with pytest.raises(SystemExit) as code:
        run_stage(main)
    out, err = capsys.readouterr()
    assert code.value.code == 1 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err[len("error: "):-1]
