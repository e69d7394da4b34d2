#!/usr/bin/env bash
# The first README command: install the Debian dependencies, build, install,
# and start closewait-trace system-wide. Extra arguments go to the tool.
# Env: CWT_PREFIX  install prefix (default /usr/local)
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) -ne 0 ]]; then
    echo "setup: error: loading BPF programs needs root; run: sudo $0 $*" >&2
    exit 2
fi
prefix=${CWT_PREFIX:-/usr/local}
scripts/deps.sh
# Ninja, unless build/ was configured by hand with another generator
# (cmake refuses to switch); that one is kept.
gen=(-G Ninja)
[[ -f build/CMakeCache.txt ]] && gen=()
# The same build type and warning flags as test.sh, so the two share build/;
# tests and benchmarks off here (their packages come with test.sh).
cmake -S . -B build "${gen[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCWT_WERROR=ON \
    -DCWT_BUILD_TESTS=OFF -DCWT_BUILD_BENCH=OFF >/dev/null
cmake --build build
cmake --install build --prefix "$prefix" >/dev/null
echo "setup: installed $prefix/sbin/closewait-trace; starting it (Ctrl-C to stop)" >&2
exec "$prefix/sbin/closewait-trace" "$@"
