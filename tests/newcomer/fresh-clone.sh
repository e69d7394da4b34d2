#!/usr/bin/env bash
# The README's two commands, as a new user runs them, in a fresh clone:
# git clone of the source tree's HEAD into a directory under /tmp whose path
# has a space, then command 1 (bounded: -d 2) and command 2 (bounded: only the
# tests CWT_TEST_SUBSET selects, so it does not run this test again).
# The clone is left in CLONE_DIR for the tests that reuse it (the VM smoke
# matrix); fresh-clone.sh --cleanup removes it.
#
# Usage: fresh-clone.sh SOURCE_DIR CLONE_DIR [--cleanup]
# Env:   CWT_FRESH_SUBSET  what command 2 runs (default "unit")
set -euo pipefail

src=$1 clone=$2
# The clone's parent directory is this test's own (it holds the logs too).
top=$(dirname "$clone")
[[ $top == /tmp/?*" "* ]] || { echo "fresh-clone: CLONE_DIR must be CLONE_PARENT/NAME, the parent under /tmp with a space in its name, got '$clone'" >&2; exit 2; }
if [[ ${3:-} == --cleanup ]]; then
    rm -rf "$top"
    exit 0
fi
[[ $(id -u) -eq 0 ]] || { echo "SKIPPED: fresh_clone_two_commands: the README commands need root"; exit 0; }
sha=$(git -C "$src" rev-parse HEAD 2>/dev/null) ||
    { echo "SKIPPED: fresh_clone_two_commands: $src is not a git checkout"; exit 0; }
subset=${CWT_FRESH_SUBSET:-unit}

fail() { echo "fresh_clone_two_commands: FAILED: $*"; exit 1; }

rm -rf "$top"
mkdir -p "$top"
t0=$(date +%s)
# Only committed files: what a user gets. --shared borrows the objects (fast);
# the working tree is a real checkout. The source may be a worktree on any
# branch, so check out its HEAD by id.
git clone -q --shared --no-checkout "$src" "$clone"
git -C "$clone" -c advice.detachedHead=false checkout -q --detach "$sha"
if [[ -n $(git -C "$src" status --porcelain --untracked-files=no 2>/dev/null) ]]; then
    echo "fresh-clone: note: $src has uncommitted changes; the clone tests HEAD ($sha) without them"
fi

# Command 1, bounded: the tool runs 2 s. Installed into the clone, not over
# the machine's /usr/local.
log1=$top/command1.log
set +e
(cd "$clone" && CWT_PREFIX="$clone/prefix dir" scripts/setup-and-run.sh -d 2) >"$log1" 2>&1
rc=$?
set -e
t1=$(date +%s)
((rc == 0)) || { tail -40 "$log1"; fail "command 1 (scripts/setup-and-run.sh -d 2) exited $rc"; }
grep -q '^setup: installed ' "$log1" || { tail -40 "$log1"; fail "command 1 did not install"; }
grep -q '^closewait-trace: live, tier ' "$log1" || { tail -40 "$log1"; fail "command 1 printed no start line"; }
grep -q '^--- summary after ' "$log1" || { tail -40 "$log1"; fail "command 1 printed no summary"; }
echo "fresh-clone: command 1 ok in $((t1 - t0))s: $(grep '^closewait-trace: live, tier ' "$log1" | cut -c1-100)"

# Command 2, on what command 1 left behind.
log2=$top/command2.log
set +e
(cd "$clone" && CWT_TEST_SUBSET="$subset" scripts/test.sh) >"$log2" 2>&1
rc=$?
set -e
t2=$(date +%s)
((rc == 0)) || { tail -40 "$log2"; fail "command 2 (CWT_TEST_SUBSET=$subset scripts/test.sh) exited $rc"; }
summary=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests failed out of [0-9]+' "$log2" | tail -1)
ran=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$summary")
failed=$(sed -E 's/.*passed, ([0-9]+) tests failed.*/\1/' <<<"$summary")
[[ -n $summary && $ran -gt 0 && $failed -eq 0 ]] || { tail -40 "$log2"; fail "command 2 ran no tests or some failed: '$summary'"; }
echo "fresh-clone: command 2 ok in $((t2 - t1))s: $summary"
echo "fresh_clone_two_commands: ok in $((t2 - t0))s from '$clone'"
