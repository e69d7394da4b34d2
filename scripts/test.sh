#!/usr/bin/env bash
# The second README command: install test dependencies, build everything with
# warnings as errors, and run the whole suite (unit, root integration, and the
# qemu kernel matrix). Tests that cannot run here print SKIPPED with the reason.
#
# It works whatever ran before: it reuses build/ (so after setup-and-run.sh only
# the tests and benchmarks are left to compile) but always switches the tests,
# the benchmarks and -Werror on, and a suite that finds no tests fails.
# Env: CWT_TEST_SUBSET  a ctest -R regex: run only those tests (e.g. "unit")
# Arguments go to ctest.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) -eq 0 ]]; then
    scripts/deps.sh --with-tests
else
    scripts/deps.sh --with-tests || echo "test: not root, so root-only tests will print SKIPPED" >&2
fi
# Ninja, unless build/ was configured by hand with another generator
# (cmake refuses to switch); that one is kept.
gen=(-G Ninja)
[[ -f build/CMakeCache.txt ]] && gen=()
# The same build type and warning flags as setup-and-run.sh, so the two share
# every object file.
cmake -S . -B build "${gen[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCWT_WERROR=ON \
    -DCWT_BUILD_TESTS=ON -DCWT_BUILD_BENCH=ON >/dev/null
cmake --build build
subset=()
[[ -n ${CWT_TEST_SUBSET:-} ]] && subset=(-R "$CWT_TEST_SUBSET")
ctest --test-dir build --output-on-failure --no-tests=error --timeout 1800 "${subset[@]}" "$@"
