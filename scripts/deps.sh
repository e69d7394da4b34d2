#!/usr/bin/env bash
# Installs the Debian 12 packages closewait-trace needs to build, run and test.
# Debian packages only; nothing is downloaded from anywhere else.
set -euo pipefail

build_pkgs=(cmake ninja-build g++ clang llvm pkg-config bpftool libbpf-dev libelf-dev zlib1g-dev
            libcli11-dev nlohmann-json3-dev scdoc libcap-dev libdw-dev libncurses-dev libmnl-dev libfmt-dev)
test_pkgs=(googletest libgtest-dev libbenchmark-dev liburing-dev iproute2 python3 nodejs xz-utils zstd
           qemu-system-x86 busybox-static cpio bpftrace clang-tidy-14 libclang-rt-dev git
           systemd prometheus prometheus-node-exporter dpkg-dev bc man-db bsdextrautils curl
           chromium tmux python3-jsonschema)

want=("${build_pkgs[@]}")
[[ "${1:-}" == "--with-tests" ]] && want+=("${test_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
    echo "deps: all ${#want[@]} packages present"
    exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "deps: error: missing packages (${missing[*]}) and not root; run: sudo $0 $*" >&2
    exit 2
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
