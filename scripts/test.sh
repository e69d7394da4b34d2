#!/usr/bin/env bash
# The second README command: install test dependencies, build everything with
# warnings as errors, and run the whole suite (unit, root integration, and the
# qemu kernel matrix). Tests that cannot run here print SKIPPED with the reason.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) -eq 0 ]]; then
    scripts/deps.sh --with-tests
else
    scripts/deps.sh --with-tests || echo "test: not root, so root-only tests will print SKIPPED" >&2
fi
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCWT_WERROR=ON >/dev/null
cmake --build build
ctest --test-dir build --output-on-failure --timeout 1800 "$@"
