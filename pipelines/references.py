"""The default study's outputs as made on other machines, so that CI checks bit for bit there too.

    python -m pipelines.references write   # after `dvc repro` of a clean checkout, on this machine
    python -m pipelines.references check   # after `dvc repro`: this machine's outputs against its reference

The committed ``dvc.lock`` holds the outputs made on the CPU kind that ran the study
(``results/synthetic/runs.csv`` names it), and ``.ci/run`` fails when that kind does not reproduce
them. Another CPU rounds bf16 convolutions differently, so there the lock cannot be the measure. A
*reference* records, for one machine, the output hashes that ``dvc repro`` of the committed code
wrote there: :data:`REFERENCE_DIR`/``<machine>.json`` holds the machine (:func:`machine`: the CPU
model, its bf16-relevant flags and torch's kernel capability, which decide the last bits of a run
with the study's fixed threads), the commit it was made at, and ``{output path: hash}`` from the
lock. ``check`` compares the lock ``dvc repro`` just wrote with the reference of this machine, when
there is one: an output that the reference holds and that came out otherwise is a change of
behaviour; an output it does not hold (a stage added since), or one that no stage writes any more
(a stage removed since), is only listed. A change that alters
the study on purpose writes the reference again (``write``), on that machine, in the same commit.

Exit status of ``check``: 0 equal, or no reference for this machine; 1 some output differs (listed);
2 no comparison could be made (no lock, a damaged reference). ``write`` exits 0, or 2 for a
checkout whose lock is not there.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

from experiments.core.fsutil import atomic_write_json
from experiments.core.runtime import determinism_environment

from .verify import lock_outputs

REFERENCE_DIR = Path(".ci") / "references"
"""Where the references lie, relative to the repository root: one file per machine."""
MACHINE_KEYS = ("cpu_model", "cpu_flags", "cpu_capability")
"""What names a machine: :func:`experiments.core.runtime.determinism_environment` less the threads
(every stage of the study runs with ``study.threads``) and the kind (a summary of the others)."""


class ReferenceError(Exception):
    """A comparison that cannot be made (exit status 2)."""


def machine() -> dict:
    """This machine, as a reference names it (:data:`MACHINE_KEYS`)."""
    env = determinism_environment()
    return {key: env[key] for key in MACHINE_KEYS}


def file_name(named: dict) -> str:
    """The reference's file name for a machine: its CPU model and torch's capability, in safe characters.

    Example:
        >>> file_name({"cpu_model": "AMD EPYC 7763 64-Core Processor", "cpu_capability": "AVX512"})
        'AMD_EPYC_7763_64-Core_Processor-AVX512.json'
    """
    model = re.sub(r"[^A-Za-z0-9.-]+", "_", named.get("cpu_model") or "unknown").strip("_")
    return f"{model}-{named.get('cpu_capability')}.json"


def _outputs(root: Path) -> dict[str, str]:
    lock = root / "dvc.lock"
    if not lock.is_file():
        raise ReferenceError(f"{lock} does not exist: run `dvc repro` first")
    try:
        stages = lock_outputs(yaml.safe_load(lock.read_text()) or {})
    except (yaml.YAMLError, AttributeError, TypeError) as err:
        raise ReferenceError(f"{lock}: not a DVC lock file ({err})") from None
    return {path: md5 for outs in stages.values() for path, md5 in outs.items()}


def write(root: Path) -> Path:
    """Record this machine's outputs (``root``'s ``dvc.lock``) as its reference; returns the file."""
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True).stdout.strip()
    named = machine()
    path = root / REFERENCE_DIR / file_name(named)
    atomic_write_json(path, {"machine": named, "commit": commit or None, "outputs": dict(sorted(_outputs(root).items()))})
    return path


def check(root: Path) -> tuple[str, bool | None]:
    """This machine's outputs against its reference, in words, and whether they are equal (None: no reference)."""
    named = machine()
    here = _outputs(root)
    for path in sorted((root / REFERENCE_DIR).glob("*.json")):
        try:
            ref = json.loads(path.read_text())
            if ref["machine"] != named:
                continue
            outputs = dict(ref["outputs"])
        except (ValueError, KeyError, TypeError) as err:
            raise ReferenceError(f"{path}: not a reference ({type(err).__name__}: {err}); write it again with "
                                 f"`python -m pipelines.references write`") from None
        differ = [p for p in outputs if p in here and here[p] != outputs[p]]
        added = [p for p in here if p not in outputs]
        gone = [p for p in outputs if p not in here]
        lines = [f"reference for this machine: {path.relative_to(root)} (made at {ref.get('commit')})"]
        lines += [f"  DIFFERS  {p}  reference {outputs[p]}, here {here[p]}" for p in differ]
        lines += [f"  new      {p}  (not in the reference)" for p in added]
        lines += [f"  gone     {p}  (in the reference, written by no stage now)" for p in gone]
        compared = len(outputs) - len(gone)
        lines.append(f"{compared - len(differ)} of {compared} outputs equal the reference")
        return "\n".join(lines), not differ
    return f"no reference for this machine ({file_name(named)} in {REFERENCE_DIR}): nothing checked", None


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m pipelines.references", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("write", "check"), help="write this machine's reference, or check against it")
    parser.add_argument("--root", type=Path, default=Path("."), help="the repository checkout (default: .)")
    args = parser.parse_args(argv)
    try:
        if args.action == "write":
            print(f"wrote {write(args.root)}")
            return 0
        text, same = check(args.root)
    except ReferenceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(text)
    return 1 if same is False else 0


if __name__ == "__main__":
    sys.exit(main())
