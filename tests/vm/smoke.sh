#!/usr/bin/env bash
# End-to-end check of the VM harness: fetch the kernels, boot each with a
# payload that checks uname, BTF, the BPF mounts and loopback TCP, and print
# a table "suite kernel result seconds". Exits 1 if any kernel fails.
#
# Usage: smoke.sh [CACHE_DIR]      Env: KERNEL_SUITES, VM_TIMEOUT (default 120)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/closewait-trace/kernels}
suites=${KERNEL_SUITES:-bullseye bookworm trixie}

KERNEL_SUITES=$suites "$here/fetch-kernels.sh" "$cache"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/payload"
cat >"$work/payload/run.sh" <<'EOF'
#!/bin/sh
# Runs in the guest (busybox sh). Prints "SMOKE key=value" lines.
fail=0
echo "SMOKE uname=$(uname -r)"
if [ -e /sys/kernel/btf/vmlinux ]; then echo "SMOKE btf=ok"; else echo "SMOKE btf=missing"; fail=1; fi
for fs in bpf tracefs; do
    if grep -q " $fs " /proc/mounts; then echo "SMOKE $fs=mounted"; else echo "SMOKE $fs=missing"; fail=1; fi
done
if command -v nc >/dev/null; then
    timeout 10 nc -l -p 7777 </dev/null >/tmp/got &
    srv=$!
    # Retry: the listener may not be up yet.
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        echo ping | timeout 5 nc 127.0.0.1 7777 2>/dev/null && break
        usleep 200000
    done
    wait "$srv"
    if grep -q ping /tmp/got; then echo "SMOKE tcp=ok"; else echo "SMOKE tcp=failed"; fail=1; fi
else
    echo "SMOKE tcp=skipped (no nc)"
fi
exit "$fail"
EOF
"$here/mkinitramfs.sh" "$work/initrd.cpio.gz" "$work/payload"

rc=0
rows=()
for suite in $suites; do
    want=$(cat "$cache/$suite/version")
    start=$(date +%s.%N)
    if "$here/run-vm.sh" "$cache/$suite/vmlinuz" "$work/initrd.cpio.gz" "${VM_TIMEOUT:-120}" \
        >"$work/$suite.log" 2>&1; then
        result=PASS
    else
        result="FAIL(rc=$?)"
    fi
    secs=$(echo "$start $(date +%s.%N)" | awk '{ printf "%.1f", $2 - $1 }')
    # The guest must really be running the kernel we fetched.
    if [[ $result == PASS ]] && ! grep -qx "SMOKE uname=$want" "$work/$suite.log"; then
        result="FAIL(uname)"
    fi
    if [[ $result != PASS ]]; then
        rc=1
        echo "--- $suite: last lines of console output ---" >&2
        tail -n 30 "$work/$suite.log" >&2
    fi
    rows+=("$suite $want $result $secs")
done

printf '%-10s %-28s %-14s %s\n' suite kernel result seconds
for row in "${rows[@]}"; do
    # shellcheck disable=SC2086 # split the row into its columns
    printf '%-10s %-28s %-14s %s\n' $row
done
exit "$rc"
