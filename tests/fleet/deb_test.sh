#!/usr/bin/env bash
# cpack -G DEB builds a .deb with the binary, man page, unit, completion and
# rules; dpkg installs it into a scratch root (its own dpkg database, so the
# machine's is not touched), the installed binary runs, dpkg removes it again.
#   deb_test.sh BUILD_DIR
set -euo pipefail
build=$1
for t in cpack dpkg dpkg-deb; do
    command -v $t >/dev/null || { echo "SKIPPED: $t not installed"; exit 77; }
done
t0=$(date +%s.%N)
out=$(mktemp -d /tmp/cwt-deb.XXXXXX)
trap 'rm -rf "$out"' EXIT
(cd "$build" && cpack -G DEB -B "$out/pkg" >"$out/cpack.log" 2>&1) || { cat "$out/cpack.log"; exit 1; }
deb=$(ls "$out"/pkg/*.deb)
echo "deb_test: built $(basename "$deb") ($(stat -c %s "$deb") bytes)"
dpkg-deb -I "$deb" | sed -n 's/^ \(Package\|Version\|Depends\|Recommends\):/  \1:/p'
contents=$(dpkg-deb -c "$deb" | awk '{print $NF}')
fail=0
for f in ./usr/sbin/closewait-trace ./usr/share/man/man8/closewait-trace.8 \
         ./usr/lib/systemd/system/closewait-trace.service \
         ./usr/share/bash-completion/completions/closewait-trace \
         ./usr/share/closewait-trace/closewait-trace.rules.yml; do
    grep -qxF "$f" <<<"$contents" || { echo "deb_test: $f not in the package"; fail=1; }
done
# The unit names the binary where the package puts it.
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/lib/systemd/system/closewait-trace.service |
    grep -q '^ExecStart=/usr/sbin/closewait-trace ' || { echo "deb_test: ExecStart does not name /usr/sbin/closewait-trace"; fail=1; }

root="$out/root"
mkdir -p "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/info"
touch "$root/var/lib/dpkg/status" "$root/var/lib/dpkg/available"
# The scratch database knows none of the machine's packages: the library
# dependencies are satisfied by the machine itself, hence --force-depends.
dpkg --root="$root" --force-depends --force-not-root --force-script-chrootless -i "$deb" >"$out/dpkg.log" 2>&1 ||
    { cat "$out/dpkg.log"; exit 1; }
dpkg --root="$root" -s closewait-trace | grep -q '^Status: install ok installed' || { echo "deb_test: not installed"; exit 1; }
version=$("$root/usr/sbin/closewait-trace" --version)
echo "deb_test: installed; $version"
[[ "$version" == "closewait-trace "* ]] || { echo "deb_test: unexpected --version output"; fail=1; }
dpkg --root="$root" --force-depends --force-not-root --force-script-chrootless -r closewait-trace >>"$out/dpkg.log" 2>&1 ||
    { cat "$out/dpkg.log"; exit 1; }
if [[ -e "$root/usr/sbin/closewait-trace" ]]; then
    echo "deb_test: binary left behind after dpkg -r"
    fail=1
fi
((fail == 0)) || { echo "deb_test: FAILED"; exit 1; }
echo "deb_test: installed, ran, removed in $(echo "$(date +%s.%N) - $t0" | bc 2>/dev/null || echo '?') s"
