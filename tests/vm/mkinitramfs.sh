#!/usr/bin/env bash
# Build a busybox initramfs that runs PAYLOAD_DIR/run.sh inside the guest,
# prints "VM-EXIT-STATUS=<n>" on the console and powers off.
#
# Usage: mkinitramfs.sh OUT.cpio.gz PAYLOAD_DIR
# The payload is copied whole to /payload. The guest has only busybox, so
# binaries must be statically linked (or their libraries given in EXTRA_ROOT)
# and scripts must use /bin/sh.
# Env: BUSYBOX     static busybox binary (default: busybox from PATH)
#      EXTRA_ROOT  a directory laid over / (e.g. shared libraries at their
#                  absolute paths, so dynamically linked payloads run)
set -euo pipefail

die() { echo "mkinitramfs: $*" >&2; exit 1; }

[[ $# -eq 2 ]] || die "usage: $0 OUT.cpio.gz PAYLOAD_DIR"
out=$1 payload=$2
[[ -f $payload/run.sh ]] || die "$payload/run.sh not found; the payload dir must contain run.sh"
command -v cpio >/dev/null || die "cpio not found; apt-get install cpio"
busybox=${BUSYBOX:-$(command -v busybox || true)}
[[ -x $busybox ]] || die "busybox not found; apt-get install busybox-static (or set BUSYBOX)"
# A dynamic busybox would fail in the guest with a cryptic "No such file"; ldd
# exits non-zero for static binaries.
if ldd "$busybox" >/dev/null 2>&1; then
    die "$busybox is dynamically linked; apt-get install busybox-static (or set BUSYBOX)"
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,etc}
cp "$busybox" "$root/bin/busybox"
# Applet links at build time (not "busybox --install" at boot): saves boot time.
"$busybox" --list-full | while read -r applet; do
    [[ -e $root/$applet ]] || ln -s /bin/busybox "$root/$applet"
done
cp -a "$payload" "$root/payload"
if [[ -n ${EXTRA_ROOT:-} ]]; then
    [[ -d $EXTRA_ROOT ]] || die "EXTRA_ROOT=$EXTRA_ROOT is not a directory"
    cp -a "$EXTRA_ROOT"/. "$root"/
fi
echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"

cat >"$root/init" <<'EOF'
#!/bin/sh
# PID 1: set up the mounts BPF tooling expects, run the payload, power off.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
# Firmware leaves the cursor mid-line ("Booting from ROM.."); start afresh.
echo
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /root
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /tmp
mount -t bpf bpf /sys/fs/bpf || echo "init: WARNING: cannot mount bpffs"
mount -t tracefs tracefs /sys/kernel/tracing || echo "init: WARNING: cannot mount tracefs"
mount -t debugfs debugfs /sys/kernel/debug || echo "init: WARNING: cannot mount debugfs"
[ -e /sys/kernel/btf/vmlinux ] || echo "init: WARNING: /sys/kernel/btf/vmlinux missing (no CONFIG_DEBUG_INFO_BTF)"
# Keep kernel chatter (e.g. audit, warnings) from splitting payload lines.
echo 1 >/proc/sys/kernel/printk
ip link set lo up
hostname vm
# Payloads open many sockets/fds and lock BPF memory (pre-5.11 memlock accounting).
ulimit -n 65536
ulimit -l unlimited
cd /payload
sh /payload/run.sh
rc=$?
echo
echo "VM-EXIT-STATUS=$rc"
sync
poweroff -f
EOF
chmod 755 "$root/init"

mkdir -p "$(dirname "$out")"
# newc is the format the kernel unpacks; root-owned files so the guest sees uid 0.
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"
