#!/usr/bin/env bash
# Boot KERNEL with INITRAMFS (from mkinitramfs.sh) in qemu, stream the serial
# console to stdout and exit with the payload's status.
#
# Usage: run-vm.sh KERNEL INITRAMFS [TIMEOUT_S]   (default timeout 120 s)
# Exit:  payload status from "VM-EXIT-STATUS=<n>"; 124 timeout; 125 no marker.
# Env:   VM_ACCEL  tcg|kvm to skip autodetection;  VM_MEM (MiB, default 1024)
#        VM_SMP (default 1);  VM_APPEND extra kernel command line
set -euo pipefail

die() { echo "run-vm: $*" >&2; exit 125; }

[[ $# -ge 2 && $# -le 3 ]] || die "usage: $0 KERNEL INITRAMFS [TIMEOUT_S]"
kernel=$1 initrd=$2 tmo=${3:-120}
[[ -r $kernel ]] || die "kernel $kernel not readable; run tests/vm/fetch-kernels.sh"
[[ -r $initrd ]] || die "initramfs $initrd not readable; build it with tests/vm/mkinitramfs.sh"
[[ $tmo =~ ^[0-9]+$ ]] || die "TIMEOUT_S must be whole seconds, got '$tmo'"
qemu="qemu-system-x86_64"
command -v "$qemu" >/dev/null || die "$qemu not found; apt-get install qemu-system-x86"

# KVM only if the CPU has hardware virtualisation AND a guest actually runs:
# some hosts expose a /dev/kvm that opens but cannot run ordinary guests.
kvm_works() {
    grep -qwE 'vmx|svm' /proc/cpuinfo && [[ -w /dev/kvm ]] || return 1
    # Start paused, resume the firmware for a second, check it is still running.
    { echo cont; sleep 1; echo 'info status'; echo quit; } |
        timeout 10 "$qemu" -machine q35,accel=kvm -cpu max -m 64 -display none \
            -nodefaults -monitor stdio -S 2>/dev/null | grep -qa 'VM status: running'
}
accel=${VM_ACCEL:-}
if [[ -z $accel ]]; then
    if kvm_works; then accel=kvm; else accel=tcg; fi
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
# stdin from /dev/null: under timeout qemu is not in the terminal's foreground
# process group and would be stopped (SIGTTIN) if it read the tty.
# -nic none: only loopback is used, and it skips loading the iPXE ROM.
# The sed drops CRs and SeaBIOS's terminal resets (ESC c, ESC[?7l = no wrap).
set +e
timeout -k 5 "$tmo" "$qemu" -machine "q35,accel=$accel" -cpu max -m "${VM_MEM:-1024}" \
    -smp "${VM_SMP:-1}" -nographic -no-reboot -nic none -kernel "$kernel" -initrd "$initrd" \
    -append "console=ttyS0 panic=-1 quiet ${VM_APPEND:-}" </dev/null |
    sed -u 's/\r$//; s/\x1b\(c\|\[[0-9;?]*[A-Za-z]\)//g' | tee "$log"
qrc=${PIPESTATUS[0]}
set -e

if [[ $qrc -eq 124 || $qrc -eq 137 ]]; then
    echo "run-vm: timed out after ${tmo}s ($accel); the guest hung or is slow: raise TIMEOUT_S" >&2
    exit 124
fi
# Take the last marker, in case the payload itself printed one.
status=$(sed -n 's/^VM-EXIT-STATUS=\([0-9]\+\).*/\1/p' "$log" | tail -n1)
if [[ -z $status ]]; then
    echo "run-vm: no VM-EXIT-STATUS marker (qemu exit $qrc); the guest panicked or init failed: see output above" >&2
    exit 125
fi
exit "$status"
