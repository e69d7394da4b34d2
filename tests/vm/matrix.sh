#!/usr/bin/env bash
# Kernel x probe-tier matrix: runs the integration scenarios inside Debian
# 5.10, 6.1 and 6.12 guests for every tier, and on the host kernel for the
# tiers it offers, then prints a pass/fail table. Exits non-zero if any
# expected cell fails.
#
# Usage: matrix.sh [BUILD_DIR]       (default: <repo>/build, already built)
# Env:   MATRIX_SUITES   guest suites (default "bullseye bookworm trixie")
#        MATRIX_FILTER   gtest filter of the scenarios to run
#        MATRIX_TIMEOUT  seconds per guest boot (default 900)
#        MATRIX_TIERS    probe tiers (default "fentry kprobe tracepoint")
#        MATRIX_HOST     0: skip the host kernel's rows (default 1)
#        KERNEL_CACHE    kernel cache (default: fetch-kernels.sh's)
# Any clone path works (under /tmp, with spaces): the guest gets the binaries
# in its initramfs at /payload, which nothing mounts over, never at their
# host paths.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$repo/build}" && pwd)
suites=${MATRIX_SUITES:-bullseye bookworm trixie}
# The scenarios of the issue: owned leak, accept-queue CLOSE_WAIT, EMFILE,
# pre-existing sockets, the one-shot audit (SO_REUSEPORT queues too); plus the
# outbound leak and the duplicated fd.
filter=${MATRIX_FILTER:-AcceptedLeak.IPv4*:AcceptQueue.LoopbackListener:*PreexistingCloseWaitsReportedAtAttach:SnapshotMatchesSs.LoopbackListener:Snapshot.PidFilterShowsOnlyThatProcess:Snapshot.ReusePort*:*OutboundClientLeak:*EmfileRetryingServerCountsMatchItsLog:*DupedSocketListsEveryOwnerFd:SharedSocket.*}
timeout=${MATRIX_TIMEOUT:-900}
cache=${KERNEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/closewait-trace/kernels}
tiers=${MATRIX_TIERS:-fentry kprobe tracepoint}
host_tiers=$tiers
[[ ${MATRIX_HOST:-1} == 0 ]] && host_tiers=""

die() { echo "matrix: $*" >&2; exit 2; }

tool=$build/closewait-trace
itests=$build/tests/integration/integration_tests
[[ -x $tool && -x $itests ]] || die "$tool or $itests missing; build first (cmake --build $build)"
[[ $(id -u) -eq 0 ]] || { echo "SKIPPED: matrix: needs root to load BPF programs on the host"; exit 0; }
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing; apt-get install qemu-system-x86"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
results=$work/results
: >"$results"

# ---- Host kernel: the tiers it offers, run directly. -------------------------
host_kernel=$(uname -r)
for tier in $host_tiers; do
    if ! "$tool" --features --probes "$tier" >"$work/features" 2>&1; then
        echo "host $host_kernel $tier n/a" >>"$results"
        continue
    fi
    start=$(date +%s)
    if CWT_TEST_PROBES=$tier "$itests" --gtest_filter="$filter" >"$work/host-$tier.log" 2>&1; then
        r=PASS
    else
        r=FAIL
        tail -40 "$work/host-$tier.log" >&2
    fi
    echo "host $host_kernel $tier $r $(($(date +%s) - start))s" >>"$results"
done

# ---- Guests: the same binaries in the initramfs under /payload (the guest
# mounts a tmpfs over /tmp, so host paths under /tmp would vanish), and their
# shared libraries at their system paths in an overlay laid over /.
"$here/fetch-kernels.sh" "$cache" >&2

overlay=$work/overlay
payload=$work/payload
mkdir -p "$overlay" "$payload/bin" "$payload/scenarios" "$payload/src/tests/integration"
cp -L "$tool" "$itests" "$payload/bin/"
cp -L "$build"/tests/integration/scenarios/* "$payload/scenarios/"
# Scripts some tests start (python, node): the guest has neither, so those
# tests skip, but CWT_TEST_SOURCE_DIR is right.
cp -r "$repo/tests/integration/servers" "$payload/src/tests/integration/"
# ss and bpftool at their system paths (/usr/bin, /usr/sbin: the guest's PATH).
sys_tools=("$(command -v ss)" "$(command -v bpftool)")
for f in "${sys_tools[@]}"; do
    mkdir -p "$overlay$(dirname "$f")"
    cp -L "$f" "$overlay$f"
done
for f in "$payload"/bin/* "$payload"/scenarios/* "${sys_tools[@]}"; do
    # ldd prints "name => /path (addr)" and the loader as "/path (addr)".
    ldd "$f" 2>/dev/null | awk '/=> \//{print $3} /^[[:space:]]*\//{print $1}' | while read -r lib; do
        [[ -e $overlay$lib ]] && continue
        mkdir -p "$overlay$(dirname "$lib")"
        cp -L "$lib" "$overlay$lib"
    done
done

# Inside the guest (busybox sh, started in /payload by init): every tier, one
# result line each. Paths are relative to /payload; the tests get them from
# the environment instead of their build-tree defaults.
{
    echo '#!/bin/sh'
    echo "tiers='$tiers'"
    echo "filter='$filter'"
    cat <<'EOF'
cd /payload || exit 1
export CWT_TEST_TOOL="$PWD/bin/closewait-trace"
export CWT_TEST_SCENARIO_DIR="$PWD/scenarios"
export CWT_TEST_SOURCE_DIR="$PWD/src"
rc=0
# ss reads listener backlogs and owners through sock_diag.
for m in modules/inet_diag.ko modules/tcp_diag.ko; do
    [ -f "$m" ] && insmod "$m"
done
for tier in $tiers; do
    if ! bin/closewait-trace --features --probes "$tier" >/tmp/features 2>&1; then
        echo "MATRIX $tier n/a $(head -c 200 /tmp/features)"
        rc=1
        continue
    fi
    start=$(date +%s)
    if CWT_TEST_PROBES=$tier bin/integration_tests --gtest_filter="$filter" >/tmp/itests.log 2>&1; then
        echo "MATRIX $tier PASS $(($(date +%s) - start))s"
    else
        echo "MATRIX $tier FAIL $(($(date +%s) - start))s"
        grep -E 'Failure|FAILED|Expected|Which is|actual|not found' /tmp/itests.log | head -40
        rc=1
    fi
done
exit $rc
EOF
} >"$payload/run.sh"

for suite in $suites; do
    kernel=$cache/$suite/vmlinuz
    version=$(cat "$cache/$suite/version" 2>/dev/null || echo "$suite")
    rm -rf "$payload/modules" && cp -r "$cache/$suite/modules" "$payload/modules"
    EXTRA_ROOT=$overlay "$here/mkinitramfs.sh" "$work/$suite.cpio.gz" "$payload" >&2
    start=$(date +%s)
    # A boot that prints no result at all is the emulator's failure, not a
    # verdict on the tool: try it once more before counting it.
    for attempt in 1 2; do
        set +e
        "$here/run-vm.sh" "$kernel" "$work/$suite.cpio.gz" "$timeout" >"$work/$suite.log" 2>&1
        vm_rc=$?
        set -e
        grep -aq "^MATRIX " "$work/$suite.log" && break
        echo "matrix: $suite: no result from the guest (run-vm exit $vm_rc, attempt $attempt)" >&2
        tail -20 "$work/$suite.log" >&2
    done
    secs=$(($(date +%s) - start))
    for tier in $tiers; do
        line=$(grep -a "^MATRIX $tier " "$work/$suite.log" | tail -1 || true)
        r=$(awk '{print $3}' <<<"$line")
        [[ -n $r ]] || r=FAIL
        echo "$suite $version $tier $r $(awk '{print $4}' <<<"$line")" >>"$results"
    done
    if grep -aq "^MATRIX .* \(FAIL\|n/a\)" "$work/$suite.log" || ! grep -aq "^MATRIX" "$work/$suite.log"; then
        echo "---- $suite console (failures) ----" >&2
        grep -a -v "^\[" "$work/$suite.log" | tail -60 >&2
    fi
    echo "matrix: $suite done in ${secs}s" >&2
done

# ---- Table. A guest tier must pass; on the host, n/a is expected for tiers the
# kernel refuses (fentry/kprobes here), but every offered tier must pass.
echo
printf '%-10s %-28s %-11s %-6s %s\n' SUITE KERNEL TIER RESULT TIME
fail=0
while read -r suite version tier r t; do
    printf '%-10s %-28s %-11s %-6s %s\n' "$suite" "$version" "$tier" "$r" "${t:-}"
    if [[ $r == FAIL ]] || { [[ $suite != host ]] && [[ $r != PASS ]]; }; then
        fail=1
    fi
done <"$results"
if ((fail)); then
    echo "matrix: FAILED"
    exit 1
fi
echo "matrix: all expected cells passed"
