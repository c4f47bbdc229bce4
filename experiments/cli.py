"""The shared ending of every stage's ``python -m experiments.<stage>`` entry point."""
from __future__ import annotations

import sys
from typing import Callable, Tuple, Type

# Errors that are the user's (a bad path, value or setting): a one-line message, exit 1.
USER_ERRORS: Tuple[Type[BaseException], ...] = (ValueError, TypeError, FileNotFoundError)


def run_stage(main: Callable[[], int], extra_errors: Tuple[Type[BaseException], ...] = ()) -> None:
    """Exit with ``main()``'s status; a user error prints ``error: ...`` and exits with 1."""
    try:
        sys.exit(main())
    except USER_ERRORS + extra_errors as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
