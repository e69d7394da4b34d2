#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in their own build directory, or
# runs one of them for a bounded time from its committed seeds. A crash, a
# leak or a sanitizer report makes the run exit non-zero.
#
# Usage: run.sh build FUZZ_BUILD_DIR
#        run.sh run FUZZ_BUILD_DIR TARGET SECONDS
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
mode=$1 dir=$2
skip=$dir/SKIPPED

if [[ $mode == build ]]; then
    rm -f "$skip"
    mkdir -p "$dir"
    cxx=$(command -v clang++ || true)
    if [[ -z $cxx ]]; then
        echo "SKIPPED: fuzz: clang++ not found (apt-get install clang libclang-rt-dev)" | tee "$skip"
        exit 0
    fi
    probe=$dir/probe.cpp
    echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' >"$probe"
    if ! "$cxx" -fsanitize=fuzzer,address,undefined "$probe" -o "$dir/probe" 2>"$dir/probe.log"; then
        echo "SKIPPED: fuzz: $cxx cannot link libFuzzer ($(head -c 200 "$dir/probe.log")); apt-get install libclang-rt-dev" | tee "$skip"
        exit 0
    fi
    cmake -S "$here" -B "$dir" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" >/dev/null
    exec cmake --build "$dir"
fi

target=$3 secs=$4
[[ -f $skip ]] && { cat "$skip"; exit 0; }
bin=$dir/$target
[[ -x $bin ]] || { echo "fuzz: $bin missing; the fuzz_build test builds it" >&2; exit 2; }
seeds=$here/seeds/${target#fuzz_}
[[ -d $seeds ]] || { echo "fuzz: no seed corpus $seeds" >&2; exit 2; }
# New inputs go to the build tree; the committed seeds stay read-only.
corpus=$dir/corpus/$target artifacts=$dir/artifacts
mkdir -p "$corpus" "$artifacts"
set +e
"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -close_fd_mask=3 \
    -artifact_prefix="$artifacts/$target-" "$corpus" "$seeds" >"$dir/$target.log" 2>&1
rc=$?
set -e
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/$target.log")
if ((rc != 0)); then
    tail -60 "$dir/$target.log"
    echo "$target: FAILED (exit $rc); reproduce: '$bin' $artifacts/$target-*"
    exit 1
fi
cov=$(grep -Eo 'cov: [0-9]+' "$dir/$target.log" | tail -1)
echo "$target: ok, ${runs:-?} runs in ${secs}s ($(( ${runs:-0} / secs )) execs/s), $cov, corpus $(ls "$corpus" | wc -l) + $(ls "$seeds" | wc -l) seeds"
