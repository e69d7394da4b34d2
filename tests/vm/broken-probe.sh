#!/usr/bin/env bash
# Proves the matrix can fail: builds a copy of the tool whose fexit program
# reads inet_csk_accept's return value from the wrong slot (the 6.10 signature
# change, kernel-notes.md), runs the matrix on a kernel where fentry works, and
# succeeds only if the matrix goes red.
#
# Usage: broken-probe.sh        Env: BROKEN_SUITE (default trixie),
#                               BROKEN_PATCH_ONLY=1 (check the source patch only)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
suite=${BROKEN_SUITE:-trixie}
[[ $(id -u) -eq 0 ]] || { echo "SKIPPED: broken-probe: needs root"; exit 0; }

# Not under /tmp: the guest mounts a tmpfs there, which would hide the binaries.
work=$(mktemp -d /var/tmp/cwt-broken-probe.XXXXXX)
trap 'rm -rf "$work"' EXIT
git -C "$repo" ls-files -z | (cd "$repo" && xargs -0 cp --parents -t "$work")
# The two slot reads (accept_ret_new, then accept_ret_old) live with the other
# kernel-version fixes.
bpf=$work/bpf/core_fixes.bpf.h
# The slot each read returns, in file order: "2 4" before the swap, "4 2" after.
# (Either pointer spacing: the source is clang-formatted.)
slots() { grep -Eo 'return \(struct sock ?\*\)ctx\[[0-9]+\];' "$bpf" | grep -Eo '\[[0-9]+\]' | tr -d '[]' | xargs; }
[[ $(slots) == "2 4" ]] || { echo "broken-probe: slot reads ctx[2], ctx[4] not found in $bpf (got: $(slots))" >&2; exit 2; }
# Swap the two slots: each kernel now reads the other signature's slot.
sed -E -i 's/return \(struct sock ?\*\)ctx\[2\];/return (struct sock*)ctx[@OLD@];/; s/return \(struct sock ?\*\)ctx\[4\];/return (struct sock*)ctx[2];/; s/@OLD@/4/' "$bpf"
[[ $(slots) == "4 2" ]] || { echo "broken-probe: slots not swapped in $bpf (got: $(slots))" >&2; exit 2; }
if [[ ${BROKEN_PATCH_ONLY:-0} == 1 ]]; then
    echo "broken-probe: patch step ok: $bpf now reads $(slots)"
    exit 0
fi

cmake -S "$work" -B "$work/build" -G Ninja -DCWT_BUILD_BENCH=OFF >/dev/null
cmake --build "$work/build" >/dev/null
set +e
MATRIX_SUITES=$suite "$work/tests/vm/matrix.sh" "$work/build" >"$work/matrix.log" 2>&1
rc=$?
set -e
grep -E '^(SUITE|host|'"$suite"') ' "$work/matrix.log" || true
# Red for the right reason: the fentry cell fails, the tracepoint cell passes.
fentry=$(awk -v s="$suite" '$1 == s && $3 == "fentry" {print $4}' "$work/matrix.log")
tracepoint=$(awk -v s="$suite" '$1 == s && $3 == "tracepoint" {print $4}' "$work/matrix.log")
if ((rc == 0)) || [[ $fentry == PASS || $tracepoint != PASS ]]; then
    echo "broken-probe: FAILED: expected $suite fentry red and tracepoint green, got fentry=$fentry tracepoint=$tracepoint (matrix exit $rc)"
    tail -60 "$work/matrix.log"
    exit 1
fi
echo "broken-probe: ok, the broken fexit probe turned $suite/fentry red and left tracepoint green"
