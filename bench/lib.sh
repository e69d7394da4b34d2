# shellcheck shell=bash disable=SC2034
# Shared helpers of the bench/*.sh scripts. Source it; do not run it.
#
# Environment (all optional):
#   CWT_BENCH_BUILD_DIR  build directory with CWT_BUILD_BENCH=ON (default bench/.build)
#   CWT_BIN              closewait-trace binary to measure (default: the one built there)
#   CWT_BENCH_NO_NETNS=1 run in the current network namespace instead of a private one
#   CWT_BENCH_NO_BUILD=1 do not (re)build; use what is there

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
BUILD=${CWT_BENCH_BUILD_DIR:-$BENCH_DIR/.build}
CWT_BIN=${CWT_BIN:-$BUILD/closewait-trace}
CHURN=$BUILD/bench/cwt_churn
SOCKFARM=$BUILD/bench/cwt_sockfarm
MAPSTAT=$BUILD/bench/cwt_mapstat

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

require_root() {
    [[ $(id -u) -eq 0 ]] || die "run as root (BPF, network namespaces)"
}

# Builds the tool and the bench programs in $BUILD (RelWithDebInfo, as shipped).
ensure_built() {
    [[ ${CWT_BENCH_NO_BUILD:-0} == 1 ]] && return 0
    if [[ ! -f $BUILD/build.ninja ]]; then
        cmake -S "$REPO" -B "$BUILD" -G Ninja -DCWT_BUILD_BENCH=ON -DCWT_BUILD_TESTS=OFF >/dev/null ||
            die "cmake configure failed"
    fi
    cmake --build "$BUILD" --target "$@" >/dev/null || die "build failed: cmake --build $BUILD --target $*"
}

# Re-executes the calling script in a private network namespace (loopback only),
# unless CWT_BENCH_NO_NETNS=1. A private namespace keeps the sockets away from
# whatever else runs on the machine (and theirs out of the counts), lets the
# script set per-namespace sysctls without touching the host, and disappears
# with the last process in it. Tracepoints are global, so tracers still see
# everything.
enter_netns() {
    if [[ ${CWT_BENCH_NO_NETNS:-0} != 1 && ${_CWT_IN_NETNS:-0} != 1 ]]; then
        export _CWT_IN_NETNS=1
        local x=""
        [[ $- == *x* ]] && x=-x
        exec unshare --net -- bash $x "$0" "$@"
    fi
    if [[ ${_CWT_IN_NETNS:-0} == 1 ]]; then
        ip link set lo up
        # Orphaned FIN_WAIT2 ends of the leaked connections go away after 1 s
        # instead of 60 s, so that both tools list the same stable set.
        sysctl -qw net.ipv4.tcp_fin_timeout=1
        sysctl -qw net.core.somaxconn=8192
    fi
}

# Current time in seconds with microseconds (bash 5 EPOCHREALTIME).
now() { printf '%s\n' "${EPOCHREALTIME/,/.}"; }

# time_cmd OUT CMD...: wall seconds of CMD (stdout to OUT, stderr appended to
# $TMP/stderr), exit status ignored.
time_cmd() {
    local out=$1 t0 t1
    shift
    t0=$(now)
    "$@" >"$out" 2>>"$TMP/stderr" || true
    t1=$(now)
    awk -v a="$t1" -v b="$t0" 'BEGIN {printf "%.4f\n", a-b}'
}

# Median of the arguments (numbers).
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {if (NR==0) {print "nan"; exit} if (NR%2) print a[(NR+1)/2]; else printf "%.6g\n", (a[NR/2]+a[NR/2+1])/2}'; }

# wait_for FILE REGEX TIMEOUT_S [PID]: until FILE has a line matching REGEX.
# Fails if PID (when given) exits first.
wait_for() {
    local file=$1 re=$2 timeout=$3 pid=${4:-} t0
    t0=$(now)
    until grep -qE -- "$re" "$file" 2>/dev/null; do
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
            log "process $pid exited while waiting for /$re/ in $file"
            return 1
        fi
        if awk -v a="$(now)" -v b="$t0" -v t="$timeout" 'BEGIN {exit !(a-b > t)}'; then
            log "timed out after ${timeout}s waiting for /$re/ in $file"
            return 1
        fi
        sleep 0.05
    done
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || true; }
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || true; }
# utime+stime of a process, in seconds.
# Prints nothing (and still succeeds) when the process is gone.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{print ($14+$15)/hz}' "/proc/$1/stat" 2>/dev/null || true; }

# Processes started by the script, killed (by pid) on exit.
_CWT_PIDS=()
track_pid() { _CWT_PIDS+=("$1"); }
cleanup_pids() {
    local p
    for p in "${_CWT_PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in "${_CWT_PIDS[@]}"; do
        # Give each a moment, then make sure.
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            kill -0 "$p" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    _CWT_PIDS=()
}

# Stops one tracked process with SIGINT (tools print their summary on it) and
# waits up to $2 seconds (default 15) before SIGKILL.
stop_pid() {
    local p=$1 t=${2:-15} i
    kill -INT "$p" 2>/dev/null || true
    for ((i = 0; i < t * 10; i++)); do
        kill -0 "$p" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
}

# One field of a cwt_mapstat line: mapstat_field OUTPUT MAP FIELD
mapstat_field() {
    printf '%s\n' "$1" | awk -v m="$2" -v f="$3" '$1=="map" && $2=="name="m {
        for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1]==f) print kv[2] } }'
}

# A value of the tool's JSON summary line: summary_field FILE FIELD
summary_field() { { grep '"type":"summary"' "$1" || true; } | tail -n1 | jq -r ".$2"; }

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
