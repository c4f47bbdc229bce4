#!/usr/bin/env bash
# Run a study's pipeline with JOBS stages at once:  bash studies/run.sh STUDY_DIR [JOBS] [GROUP ...]
#
#   bash studies/run.sh studies/cells 2                       # the whole real study, two jobs
#   bash studies/run.sh studies/cells 2 evaluate_lambda_pers  # only the lambda ablation
#   bash studies/run.sh studies/benchmark 2 'evaluate@vgg_cells-*'  # the main runs of one dataset
#
# A GROUP is a group of evaluate stages (the name before '@') or a shell pattern over the
# evaluate stages' names (a block of a long study: one dataset, one method, one seed).
#
# DVC runs one stage at a time per checkout (it locks the repository). This script gives each
# job a git worktree of HEAD (outside the repository, so DVC does not see a second copy) that
# shares this checkout's DVC cache, prepares the data in the first, hands the jobs the evaluate
# stages of GROUPs (default: every evaluate stage) round-robin, and lets each job `dvc repro` its
# share (with the training each needs). The results land in the shared run-cache; a final
# `dvc repro` here restores every stage from it, runs what is left (aggregate, report; with GROUPs
# only those stages) and writes dvc.lock. So the checkout is written only by that last step: a run
# that is stopped leaves it as it was, and its finished stages in the cache for the next run.
# Each stage fixes its torch threads (study.threads), so the results are those of one job,
# bit for bit. Commit first: the worktrees hold HEAD, and a stage whose code differs from
# this checkout's is simply run again by the final `dvc repro`. A relative TGHEM_DATA_MIRROR is
# taken from the current folder (the stages run in the worktrees).
#
# A GROUP that matches no evaluate stage of STUDY_DIR is an error listing the groups (exit 2); a
# repository whose DVC lock another process holds is one line naming the lock (exit 1); every
# `dvc repro` names STUDY_DIR's pipeline or its stages, never the root one by default. Killing
# the runner (Ctrl-C, SIGTERM) stops its jobs (each runs in its own process group) and removes
# their worktrees.
set -euo pipefail
study=${1:?usage: bash studies/run.sh STUDY_DIR [JOBS] [GROUP ...]}
jobs=${2:-2}
shift $(( $# >= 2 ? 2 : 1 ))
groups=("$@")
pipeline="$study/dvc.yaml"
[ -f "$pipeline" ] || { echo "run.sh: $pipeline does not exist" >&2; exit 2; }
case "$jobs" in ''|*[!0-9]*|0) echo "run.sh: JOBS must be an integer >= 1, got '$jobs'" >&2; exit 2;; esac
root=$(git rev-parse --show-toplevel)
# DVC holds an flock on this file while it works in a checkout (and --quiet hides its error).
check_free() {
  local lock="$1/.dvc/tmp/lock"
  if [ -e "$lock" ] && ! flock -n "$lock" true 2>/dev/null; then
    echo "run.sh: $1 is busy: another DVC process holds $lock; wait for it to finish (or stop it) and run again" >&2
    exit 1
  fi
}
check_free "$root"
cache=$(cd "$root" && dvc cache dir)
mapfile -t stages < <(cd "$root" && dvc stage list "$pipeline" --name-only | sed 's|.*:||')
known=()
for s in "${stages[@]}"; do
  group=${s%@*}
  [[ $group == evaluate* ]] && ! printf '%s\n' "${known[@]}" | grep -qx "$group" && known+=("$group")
done
selected() {  # whether evaluate stage $1 is one of GROUPs (a group name or a pattern over stage names)
  local g
  for g in "${groups[@]}"; do
    # shellcheck disable=SC2053  # $g is a pattern on purpose
    [[ ${1%@*} == "$g" || $1 == $g ]] && return 0
  done
  return 1
}
for g in "${groups[@]}"; do
  hit=0
  for s in "${stages[@]}"; do
    [[ ${s%@*} == evaluate* ]] || continue
    # shellcheck disable=SC2053
    [[ ${s%@*} == "$g" || $s == $g ]] && { hit=1; break; }
  done
  [ "$hit" -eq 1 ] || {
    echo "run.sh: no group or evaluate stage '$g' in $pipeline; groups: ${known[*]}" >&2; exit 2; }
done
todo=()
for s in "${stages[@]}"; do
  group=${s%@*}
  [[ $group == evaluate* ]] || continue
  if [ ${#groups[@]} -eq 0 ] || selected "$s"; then todo+=("$pipeline:$s"); fi
done
[ ${#todo[@]} -gt 0 ] || { echo "run.sh: $pipeline has no evaluate stage to run" >&2; exit 2; }
echo "run.sh: ${#todo[@]} evaluate stages (with their trainings) over $jobs jobs"
case "${TGHEM_DATA_MIRROR:-/}" in /*) ;; *) export TGHEM_DATA_MIRROR="$PWD/$TGHEM_DATA_MIRROR";; esac
work=$(mktemp -d "${TMPDIR:-/tmp}/tghem-jobs.XXXXXX")
pids=()
stop_jobs() {  # each job leads its own process group (set -m below): kill the groups, wait for them
  for p in "${pids[@]}"; do kill -TERM -- "-$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
cleanup() {
  stop_jobs
  for d in "$work"/job*; do [ -d "$d" ] && git -C "$root" worktree remove --force "$d" >/dev/null 2>&1; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "run.sh: interrupted; stopping the jobs" >&2; exit 130' INT
trap 'echo "run.sh: terminated; stopping the jobs" >&2; exit 143' TERM
worktree() {  # job $1's git worktree of HEAD, sharing this checkout's DVC cache
  git -C "$root" worktree add --detach --quiet "$work/job$1" HEAD
  (cd "$work/job$1" && dvc cache dir --local "$cache")
}
worktree 0
(cd "$work/job0" && dvc repro --quiet --glob "$pipeline:prepare@*") || {  # once, before the jobs need it
  echo "run.sh: preparing the data of $pipeline failed (run: dvc repro --glob '$pipeline:prepare@*')" >&2; exit 1; }
set -m  # every background job in its own process group
for ((j = 0; j < jobs; j++)); do
  share=()
  for ((k = j; k < ${#todo[@]}; k += jobs)); do share+=("${todo[k]}"); done
  [ ${#share[@]} -gt 0 ] || continue
  [ "$j" -eq 0 ] || worktree "$j"
  dir="$work/job$j"
  (cd "$dir" && for t in "${share[@]}"; do
     dvc repro "$t" --quiet || { check_free "$dir"; echo "run.sh: dvc repro $t failed (rerun it without --quiet)"; exit 1; }
   done) > "$work/job$j.log" 2>&1 &
  pids+=($!)
done
set +m
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
pids=()
for f in "$work"/job*.log; do [ -s "$f" ] && { echo "== ${f##*/}"; tail -n 20 "$f"; }; done
[ "$status" -eq 0 ] || { echo "run.sh: a job failed (logs above)" >&2; exit 1; }
cd "$root"
check_free "$root"
if [ ${#groups[@]} -eq 0 ]; then dvc repro "$pipeline"; else dvc repro "${todo[@]}"; fi
