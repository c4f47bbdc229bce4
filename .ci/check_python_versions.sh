#!/usr/bin/env bash
# Does the pinned environment resolve on each Python version? For each version given (default 3.10 to
# 3.13; the README and pyproject.toml state 3.11 and 3.12), ask pip, against the public indexes only
# (--isolated: no local wheels, no pip.conf), to resolve requirements.txt (without its `-e .`) from
# binary wheels for that version: a dry run, nothing is installed. torch comes from PyTorch's CPU
# index, as the README's CPU install takes it; where that index cannot be reached, from PyPI (the
# same release, built for the same Python versions).
#
# pip resolves for another Python only from wheels. The pins published only as source (SDIST_ONLY,
# pure Python: antlr4-python3-runtime, which hydra-core needs via dvc) are built into wheels first,
# as pip does on a user's machine, and offered to the resolver from a local folder.
#
#   bash .ci/check_python_versions.sh [3.10 3.11 3.12 3.13]
#   REQUIREMENTS=requirements-cuda.txt bash .ci/check_python_versions.sh 3.11 3.12
#
# Prints one line per version: "3.X: resolves (N packages, torch V)" or "3.X: does not resolve: <pip's reason>".
# Exit status 1 if a version in SUPPORTED (default "3.11 3.12") does not resolve.
set -uo pipefail
cd "$(dirname "$0")/.."
SUPPORTED=${SUPPORTED:-"3.11 3.12"}
SDIST_ONLY=${SDIST_ONLY:-"antlr4-python3-runtime"}
REQUIREMENTS=${REQUIREMENTS:-requirements.txt}
versions=("$@"); [ ${#versions[@]} -gt 0 ] || versions=(3.10 3.11 3.12 3.13)
torch_index=${TORCH_INDEX:-https://download.pytorch.org/whl/cpu}
pip=(python3 -m pip --isolated --disable-pip-version-check)
index_args=(--index-url https://pypi.org/simple)
if python3 -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=10)" "$torch_index/torch/" 2>/dev/null; then
    index_args+=(--extra-index-url "$torch_index")
    echo "$REQUIREMENTS, torch from $torch_index"
else
    echo "$REQUIREMENTS, torch from PyPI ($torch_index cannot be reached from here)"
fi
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
grep -v '^-e ' "$REQUIREMENTS" | sed 's/^-r requirements.txt$/-r all.txt/' > "$work/requirements.txt"
grep -v '^-e ' requirements.txt > "$work/all.txt"
for name in $SDIST_ONLY; do
    pin=$(grep -i "^$name==" requirements.txt)
    "${pip[@]}" wheel --quiet --no-deps --index-url https://pypi.org/simple -w "$work/wheels" "$pin" > "$work/wheel.log" 2>&1 \
        || { echo "cannot build a wheel of $pin:"; tail -3 "$work/wheel.log"; exit 1; }
done
status=0
for v in "${versions[@]}"; do
    if (cd "$work" && "${pip[@]}" install --quiet --dry-run --ignore-installed --only-binary=:all: \
            --python-version "$v" --target "$work/target" "${index_args[@]}" --find-links "$work/wheels" \
            --report "$work/report-$v.json" -r requirements.txt) > "$work/log-$v.txt" 2>&1; then
        python3 -c "
import json, sys
items = json.load(open(sys.argv[2]))['install']
torch = next(i['metadata']['version'] for i in items if i['metadata']['name'] == 'torch')
print(f'{sys.argv[1]}: resolves ({len(items)} packages, torch {torch})')" "$v" "$work/report-$v.json"
    else
        echo "$v: does not resolve: $(grep -E '^ERROR' "$work/log-$v.txt" | grep -v 'Ignored the following' | head -1 | cut -c1-300)"
        case " $SUPPORTED " in *" $v "*) status=1;; esac
    fi
done
exit $status
