#!/usr/bin/env bash
# The kernel matrix, short, run from a clone under /tmp whose path has a space
# (the one fresh-clone.sh made and built): one guest kernel, the tracepoint
# tier, one scenario. Proves the guest gets its binaries wherever the clone is.
#
# Usage: clone-smoke.sh CLONE_DIR
# Env:   SMOKE_SUITE (default bookworm), SMOKE_FILTER (default AcceptedLeak.IPv4*)
set -euo pipefail

clone=$1
[[ $(id -u) -eq 0 ]] || { echo "SKIPPED: kernel_matrix_clone_smoke: needs root"; exit 0; }
[[ -x $clone/build/tests/integration/integration_tests ]] ||
    { echo "clone-smoke: $clone has no test build; fresh_clone_two_commands makes it" >&2; exit 2; }
start=$(date +%s)
MATRIX_SUITES=${SMOKE_SUITE:-bookworm} MATRIX_TIERS=tracepoint MATRIX_HOST=0 \
    MATRIX_FILTER=${SMOKE_FILTER:-AcceptedLeak.IPv4*} MATRIX_TIMEOUT=300 \
    "$clone/tests/vm/matrix.sh" "$clone/build"
echo "kernel_matrix_clone_smoke: ok in $(($(date +%s) - start))s from '$clone'"
