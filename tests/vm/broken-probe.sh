#!/usr/bin/env bash
# Proves the matrix can fail: builds a copy of the tool whose fexit program
# reads inet_csk_accept's return value from the wrong slot (the 6.10 signature
# change, kernel-notes.md), runs the matrix on a kernel where fentry works, and
# succeeds only if the matrix goes red.
#
# Usage: broken-probe.sh        Env: BROKEN_SUITE (default trixie)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
suite=${BROKEN_SUITE:-trixie}
[[ $(id -u) -eq 0 ]] || { echo "SKIPPED: broken-probe: needs root"; exit 0; }

# Not under /tmp: the guest mounts a tmpfs there, which would hide the binaries.
work=$(mktemp -d /var/tmp/cwt-broken-probe.XXXXXX)
trap 'rm -rf "$work"' EXIT
git -C "$repo" ls-files -z | (cd "$repo" && xargs -0 cp --parents -t "$work")
bpf=$work/bpf/closewait.bpf.c
# Swap the two slots: each kernel now reads the other signature's slot.
# (Either pointer spacing: the source is clang-formatted.)
grep -Eq 'return \(struct sock ?\*\)ctx\[2\];' "$bpf" || { echo "broken-probe: slot read not found in $bpf" >&2; exit 2; }
sed -E -i 's/return \(struct sock ?\*\)ctx\[2\];/return (struct sock*)ctx[@OLD@];/; s/return \(struct sock ?\*\)ctx\[4\];/return (struct sock*)ctx[2];/; s/@OLD@/4/' "$bpf"
grep -Eq 'return \(struct sock\*\)ctx\[4\];' "$bpf" || { echo "broken-probe: slots not swapped in $bpf" >&2; exit 2; }

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
