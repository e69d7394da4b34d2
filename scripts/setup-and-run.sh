#!/usr/bin/env bash
# The first README command: install the Debian dependencies, build, install,
# and start closewait-trace system-wide. Extra arguments go to the tool.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) -ne 0 ]]; then
    echo "setup: error: loading BPF programs needs root; run: sudo $0 $*" >&2
    exit 2
fi
scripts/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCWT_BUILD_TESTS=OFF -DCWT_BUILD_BENCH=OFF >/dev/null
cmake --build build
cmake --install build --prefix /usr/local >/dev/null
echo "setup: installed /usr/local/sbin/closewait-trace; starting it (Ctrl-C to stop)" >&2
exec /usr/local/sbin/closewait-trace "$@"
