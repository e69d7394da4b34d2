#!/usr/bin/env bash
# Fetch Debian cloud-amd64 kernels (bullseye 5.10, bookworm 6.1, trixie 6.12)
# into a cache, without installing them.
#
# Usage: fetch-kernels.sh [CACHE_DIR]
# Result: CACHE_DIR/<suite>/vmlinuz, .../version (uname -r), .../package,
# .../modules/{inet_diag,tcp_diag}.ko (for ss inside the guest).
# Env:    KERNEL_SUITES  suites to fetch (default "bullseye bookworm trixie")
#         KERNEL_MIRROR  archive URI (default: taken from the system's apt sources)
#         KERNEL_KEYRING keyring for Signed-By (default: the system source's,
#                        else /usr/share/keyrings/debian-archive-keyring.gpg)
set -euo pipefail

cache=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/closewait-trace/kernels}
suites=${KERNEL_SUITES:-bullseye bookworm trixie}

die() { echo "fetch-kernels: $*" >&2; exit 1; }

for tool in apt-get apt-cache dpkg-deb; do
    command -v "$tool" >/dev/null ||
        die "$tool not found; this script needs a Debian/Ubuntu host with apt and dpkg"
done

# Find the archive URI (and keyring) of the system's bookworm entry, so the
# repo never names a host: the same mirror serves every suite.
mirror=${KERNEL_MIRROR:-}
keyring=${KERNEL_KEYRING:-}
if [[ -z $mirror ]]; then
    # deb822 sources: take the stanza whose Suites: has the word "bookworm".
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -r $f ]] || continue
        read -r mirror sys_key < <(awk '
            function flush() { if (hit && uri != "") print uri, (key == "" ? "-" : key); hit = 0; uri = ""; key = "" }
            /^[ \t]*$/ { flush(); next }
            tolower($1) == "suites:"    { for (i = 2; i <= NF; i++) if ($i == "bookworm") hit = 1 }
            tolower($1) == "uris:"      { uri = $2 }
            tolower($1) == "signed-by:" { key = $2 }
            END { flush() }' "$f" | head -n1) || true
        [[ -n $mirror ]] && break
    done
fi
if [[ -z $mirror ]]; then
    # One-line sources: "deb [opts] URI bookworm components...".
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -r $f ]] || continue
        read -r mirror sys_key < <(awk '
            $1 != "deb" { next }
            { key = "-"; i = 2
              if ($2 ~ /^\[/) { while (i <= NF) { if ($i ~ /^\[?signed-by=/) { key = $i; sub(/^\[?signed-by=/, "", key); sub(/\]$/, "", key) }
                                                 if ($i ~ /\]$/) { i++; break }; i++ } }
              if ($(i + 1) == "bookworm") { print $i, key; exit } }' "$f") || true
        [[ -n $mirror ]] && break
    done
fi
[[ -n $mirror ]] ||
    die "no bookworm entry in /etc/apt/sources.list{,.d/*}; set KERNEL_MIRROR=<debian archive URI>"

if [[ -z $keyring ]]; then
    keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    # Reuse the system source's keyring only if it is a file (not an inline key).
    [[ ${sys_key:--} != - && -f ${sys_key:-} ]] && keyring=$sys_key
fi
[[ -r $keyring ]] ||
    die "keyring $keyring not readable; apt-get install debian-archive-keyring or set KERNEL_KEYRING"

mkdir -p "$cache"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# fetch SUITE: private apt state per suite, so "newest" means newest in that
# suite and the host's dpkg database, sources and pinning are never touched.
fetch() {
    local suite=$1 out=$cache/$1 st=$work/$1 pkg cand deb kimg="" debs imgs
    mkdir -p "$st/lists/partial" "$st/cache/archives/partial" "$st/parts" "$st/prefs" "$st/dl"
    : >"$st/status"
    printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: %s\n' \
        "$mirror" "$suite" "$keyring" >"$st/parts/kernel.sources"
    local -a apt=(
        -o "Dir::State=$st" -o "Dir::State::Lists=$st/lists" -o "Dir::State::status=$st/status"
        -o "Dir::Cache=$st/cache" -o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$st/parts"
        -o "Dir::Etc::Preferences=/dev/null" -o "Dir::Etc::PreferencesParts=$st/prefs"
        -o "APT::Architecture=amd64" -o "APT::Architectures=amd64" -o "Debug::NoLocking=1"
        # Our temp dir is private (0700); the _apt sandbox user could not write it.
        -o "APT::Sandbox::User=$(id -un)"
    )

    # apt-get update exits 100 when the Release signature does not verify
    # (insecure repositories are refused by default); never fall back to
    # [trusted=yes]: an unverified kernel is not worth testing against.
    if ! apt-get "${apt[@]}" -qq update >"$st/update.log" 2>&1 ||
        grep -q 'GPG error' "$st/update.log"; then
        sed 's/^/  /' "$st/update.log" >&2
        if grep -qiE 'GPG error|NO_PUBKEY|not signed' "$st/update.log"; then
            echo "fetch-kernels: $suite: Release signature not verifiable with $keyring;" \
                "install a newer debian-archive-keyring or set KERNEL_KEYRING" >&2
        else
            echo "fetch-kernels: $suite: apt-get update from $mirror failed; check network/mirror" >&2
        fi
        return 1
    fi

    # The metapackage depends on the newest versioned image; fall back to
    # version-sorting the package names if it is missing.
    pkg=$(apt-cache "${apt[@]}" show --no-all-versions linux-image-cloud-amd64 2>/dev/null |
        sed -n 's/^Depends: \(linux-image-[^ ,]*-cloud-amd64\).*/\1/p' | head -n1)
    [[ -n $pkg ]] || pkg=$(apt-cache "${apt[@]}" pkgnames linux-image- |
        grep -E '^linux-image-[0-9].*-cloud-amd64$' | sort -V | tail -n1)
    [[ -n $pkg ]] || { echo "fetch-kernels: $suite: no linux-image-*-cloud-amd64 in $mirror" >&2; return 1; }

    # The signed image holds boot/vmlinuz; try -unsigned if a suite ever differs.
    for cand in "$pkg" "$pkg-unsigned"; do
        (cd "$st/dl" && apt-get "${apt[@]}" -qq download "$cand") >&2 || continue
        debs=("$st/dl/${cand}_"*.deb)
        deb=${debs[0]}
        rm -rf "$st/x" && dpkg-deb -x "$deb" "$st/x" || return 1
        imgs=("$st/x"/boot/vmlinuz-*)
        [[ -f ${imgs[0]} ]] && { kimg=${imgs[0]}; break; }
    done
    [[ -n $kimg ]] || { echo "fetch-kernels: $suite: no boot/vmlinuz-* in $pkg{,-unsigned}" >&2; return 1; }

    # ss needs the sock_diag modules for listener backlogs and socket owners;
    # the cloud kernels build them as modules, so ship them (uncompressed, for
    # busybox insmod) beside the kernel.
    mkdir -p "$out/modules.tmp" || return 1
    local ko
    while IFS= read -r ko; do
        case $ko in
        *.xz) xz -dc "$ko" >"$out/modules.tmp/$(basename "${ko%.xz}")" ;;
        *.zst) zstd -qdc "$ko" >"$out/modules.tmp/$(basename "${ko%.zst}")" ;;
        *) cp "$ko" "$out/modules.tmp/" ;;
        esac || return 1
    done < <(find "$st/x" "$st/x/usr" -path '*/lib/modules/*' \( -name 'inet_diag.ko*' -o -name 'tcp_diag.ko*' \) 2>/dev/null | sort -u)
    rm -rf "$out/modules" && mv "$out/modules.tmp" "$out/modules" || return 1

    # Metadata first, vmlinuz last: its presence is what marks the suite cached.
    mkdir -p "$out" &&
        echo "${kimg##*/vmlinuz-}" >"$out/version" &&
        echo "$(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version)" >"$out/package" &&
        cp "$kimg" "$out/vmlinuz.tmp" && mv "$out/vmlinuz.tmp" "$out/vmlinuz" || return 1
    rm -rf "$st"
    echo "fetch-kernels: $suite: $(cat "$out/package") -> $out/vmlinuz"
}

rc=0
for suite in $suites; do
    if [[ -s $cache/$suite/vmlinuz && -d $cache/$suite/modules ]]; then
        echo "fetch-kernels: $suite: cached $(cat "$cache/$suite/version" 2>/dev/null)"
        continue
    fi
    fetch "$suite" || rc=1
done
exit "$rc"
