#!/bin/sh
# Fake containers from real namespaces and cgroups, for the tests and the
# namespace benchmark (real runtimes do not start on a hybrid v1/v2 host).
#
#   fakectr.sh run ROOT RUNTIME NAME netns|unshare -- CMD [ARG...]
#       Creates the cgroup ROOT/<path named like RUNTIME's>/ under the unified
#       (v2) hierarchy, enters it, then runs CMD (exec, so its pid is this
#       shell's for `netns`):
#         netns    in the bind-mounted namespace `ip netns add cwt-NAME`, via
#                  `ip netns exec` (created if missing, loopback up);
#         unshare  in `unshare --net --pid --fork`: CMD is pid 1 of a new pid
#                  namespace, and the host pid is unshare's child.
#       RUNTIME: docker | cri-containerd | crio | libpod
#   fakectr.sh join ROOT RUNTIME NAME HOSTPID -- CMD [ARG...]
#       A second process in the container of HOSTPID (made by `run ... unshare`):
#       enters the same cgroup, then its network and pid namespaces (nsenter
#       forks: CMD's host pid is nsenter's child).
#   fakectr.sh path ROOT RUNTIME NAME   prints "CGROUP=<path> ID=<id> POD=<uid>"
#   fakectr.sh exec NAME -- CMD...      runs CMD in netns cwt-NAME (a client)
#   fakectr.sh enter HOSTPID -- CMD...  runs CMD in the network namespace of HOSTPID
#   fakectr.sh cleanup ROOT [NAME...]   kills every process under ROOT, removes
#                                       its cgroups and the cwt-NAME namespaces
# ROOT is a directory name under /sys/fs/cgroup/unified (e.g. cwt-itest-123);
# ids are derived from NAME, so a test knows them in advance.
set -eu

CG=${CWT_CGROUP2:-/sys/fs/cgroup/unified}
[ -f "$CG/cgroup.procs" ] || CG=/sys/fs/cgroup
die() { echo "fakectr: $*" >&2; exit 2; }

ids() { # NAME -> 64-hex container id and a pod uid, both fixed by NAME
    id=$(printf 'ctr:%s' "$1" | sha256sum | cut -c1-64)
    h=$(printf 'pod:%s' "$1" | sha256sum)
    uid=$(echo "$h" | sed -E 's/^(.{8})(.{4})(.{4})(.{4})(.{12}).*/\1-\2-\3-\4-\5/')
}

cgpath() { # ROOT RUNTIME NAME -> $rel (under $CG), $id, $uid
    ids "$3"
    u=$(echo "$uid" | tr - _)
    case "$2" in
    docker) rel="$1/system.slice/docker-$id.scope"; uid= ;;
    cri-containerd) rel="$1/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod$u.slice/cri-containerd-$id.scope" ;;
    crio) rel="$1/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod$u.slice/crio-$id.scope" ;;
    libpod) rel="$1/machine.slice/libpod-$id.scope"; uid= ;;
    *) die "unknown runtime $2 (docker, cri-containerd, crio, libpod)" ;;
    esac
}

cmd=${1:-}; [ $# -gt 0 ] && shift
case "$cmd" in
path)
    [ $# -eq 3 ] || die "usage: path ROOT RUNTIME NAME"
    cgpath "$1" "$2" "$3"
    echo "CGROUP=/$rel ID=$id POD=$uid"
    ;;
run)
    [ $# -ge 6 ] && [ "$5" = "--" ] || die "usage: run ROOT RUNTIME NAME netns|unshare -- CMD..."
    root=$1 runtime=$2 name=$3 kind=$4
    shift 5
    cgpath "$root" "$runtime" "$name"
    mkdir -p "$CG/$rel"
    echo $$ > "$CG/$rel/cgroup.procs"
    case "$kind" in
    netns)
        ns="cwt-$name"
        [ -e "/run/netns/$ns" ] || ip netns add "$ns"
        ip -n "$ns" link set lo up
        exec ip netns exec "$ns" "$@"
        ;;
    unshare)
        exec unshare --net --pid --fork --kill-child sh -c 'ip link set lo up && exec "$@"' fakectr "$@"
        ;;
    *) die "unknown kind $kind (netns, unshare)" ;;
    esac
    ;;
join)
    [ $# -ge 7 ] && [ "$5" = "--" ] || die "usage: join ROOT RUNTIME NAME HOSTPID -- CMD..."
    cgpath "$1" "$2" "$3"
    pid=$4
    shift 5
    echo $$ > "$CG/$rel/cgroup.procs"
    exec nsenter --net=/proc/$pid/ns/net --pid=/proc/$pid/ns/pid -- "$@"
    ;;
enter)
    [ $# -ge 3 ] && [ "$2" = "--" ] || die "usage: enter HOSTPID -- CMD..."
    pid=$1
    shift 2
    exec nsenter --net=/proc/$pid/ns/net -- "$@"
    ;;
exec)
    [ $# -ge 3 ] && [ "$2" = "--" ] || die "usage: exec NAME -- CMD..."
    ns="cwt-$1"
    shift 2
    exec ip netns exec "$ns" "$@"
    ;;
cleanup)
    [ $# -ge 1 ] || die "usage: cleanup ROOT [NAME...]"
    root=$1
    shift
    case "$root" in "" | */* | . | ..) die "ROOT must be one directory name" ;; esac
    if [ -d "$CG/$root" ]; then
        # cgroup.kill (5.14+) kills the whole subtree at once; else signal each pid.
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            if [ -f "$CG/$root/cgroup.kill" ]; then
                echo 1 > "$CG/$root/cgroup.kill" 2>/dev/null || true
            else
                find "$CG/$root" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -9 2>/dev/null || true
            fi
            find "$CG/$root" -depth -type d -exec rmdir {} + 2>/dev/null || true
            [ -d "$CG/$root" ] || break
            sleep 0.2
        done
        [ -d "$CG/$root" ] && echo "fakectr: could not remove $CG/$root" >&2
    fi
    for name in "$@"; do
        [ -e "/run/netns/cwt-$name" ] && ip netns del "cwt-$name" 2>/dev/null || true
    done
    ;;
*)
    die "usage: fakectr.sh run|join|path|exec|enter|cleanup ... (see the header)"
    ;;
esac
