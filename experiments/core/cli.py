"""What every ``python -m experiments.<stage>`` entry point shares: its parser's shape and its ending.

A stage module is a thin command line: ``build_parser()`` (made with :func:`stage_parser` and
the option helpers here), ``main(argv)`` (one call into a library subpackage) and
``run_stage(main)`` under ``if __name__ == "__main__"``.
"""
from __future__ import annotations

import argparse
import signal
import sys
import textwrap
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Tuple, Type

from .fsutil import os_error_fix
from .settings import ConfigError

# Errors that are the user's (a bad path, value or setting, a file or folder the user may not
# read or write): a one-line message, exit 1.
USER_ERRORS: Tuple[Type[BaseException], ...] = (ValueError, TypeError, FileNotFoundError, PermissionError)
DESCRIPTION_WIDTH = 88


def run_stage(main: Callable[[], int], extra_errors: Tuple[Type[BaseException], ...] = ()) -> None:
    """Exit with ``main()``'s status; a user error prints ``error: ...`` and exits with 1, Ctrl-C
    one line and 130 (every write is atomic, so nothing half-written stays)."""
    if getattr(signal.getsignal(signal.SIGINT), "__name__", None) == "_interrupted_while_starting":  # experiments/__init__.py
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        sys.exit(main())
    except USER_ERRORS + extra_errors as err:
        print(f"error: {user_message(err)}", file=sys.stderr)
        sys.exit(1)
    except OSError as err:  # a full disk, a file where a folder goes...: one line naming the path
        where = f"{err.filename}: " if err.filename else ""
        print(f"error: {where}{err.strerror or err}; {os_error_fix(err)}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted (SIGINT): stopped; nothing half-written was kept", file=sys.stderr)
        sys.exit(130)


def user_message(err: BaseException) -> str:
    """The one line a user error prints: its message, or for a bare ``PermissionError`` from the
    system (``[Errno 13] Permission denied: 'x'``) the path and what to do."""
    if isinstance(err, PermissionError) and err.errno is not None and err.filename:
        return (f"{err.filename}: permission denied ({err.strerror}); give yourself access to it "
                f"(`ls -ld` shows its owner and mode) or use another folder")
    return str(err)


def stage_parser(prog: str, description: str, epilog: str) -> argparse.ArgumentParser:
    """A stage's parser: ``description`` wrapped to the terminal-friendly width, ``epilog`` as written."""
    return argparse.ArgumentParser(
        prog=prog,
        description=textwrap.fill(description, width=DESCRIPTION_WIDTH),
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def int_at_least(low: int, most: int | None = None) -> Callable[[str], int]:
    """An argparse ``type``: an int >= ``low`` (and <= ``most``); a bad value is a usage error
    (exit 2) that argparse prefixes with the option, e.g. ``argument --seed: expected an int >= 0,
    got '-1'``."""
    expected = f"an int >= {low}" if most is None else f"an int in [{low}, {most}]"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (most is not None and value > most):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


def add_settings_options(parser: argparse.ArgumentParser, set_help: str, metavar: str = "KEY=VALUE") -> None:
    """``--params FILE`` (default: the repository's params.yaml) and repeatable ``--set KEY=VALUE``."""
    parser.add_argument("--params", type=Path, default=None, help="settings file (default: the repository's params.yaml)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar=metavar, help=set_help)


def add_device_option(parser: argparse.ArgumentParser) -> None:
    """``--device auto|cpu|cuda|mps``."""
    from .runtime import DEVICE_CHOICES  # torch is imported only by stages that run a network

    parser.add_argument("--device", default="auto", choices=DEVICE_CHOICES, help="auto: cuda, then mps, then cpu")


def add_quiet_option(parser: argparse.ArgumentParser, help: str = "print nothing on success") -> None:
    """``--quiet``."""
    parser.add_argument("--quiet", action="store_true", help=help)


@contextmanager
def parsed_arguments(parser: argparse.ArgumentParser, argv: list[str] | None) -> Iterator[argparse.Namespace]:
    """The parsed ``argv``; inside the block a bad setting (:class:`~experiments.core.settings.ConfigError`)
    is reported as a usage error (exit 2), like a bad option."""
    args = parser.parse_args(argv)
    try:
        yield args
    except ConfigError as err:
        parser.error(str(err))
