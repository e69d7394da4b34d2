#!/usr/bin/env bash
# Namespace benchmark: `closewait-trace --snapshot --json` with K network
# namespaces (K = 1, 10, 100 by default), each holding a few hundred loopback
# TCP sockets made by cwt_sockfarm inside it (`ip netns add` + `ip netns exec`):
# CWT_NS_LEAKS (default 150) CLOSE_WAIT leaks and CWT_NS_PAIRS (default 75)
# ESTABLISHED pairs, i.e. 300 sockets per namespace.
#
#   bench/netns_bench.sh [K...]           (default: 1 10 100)
#
# Every K runs in the same invocation; the figures are printed against K=1
# (the reference, measured in the same run), median of CWT_NS_REPS (default 5)
# runs after one warm-up. The snapshot also walks the host's namespace (and any
# other namespace on the machine: their count is printed). Checks that the
# snapshot's CLOSE_WAIT count is K * leaks (plus what the host and other
# namespaces hold, counted by ss inside each).
# Target: 100 namespaces add at most 0.2 s to the 1-namespace snapshot.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

require_root
ensure_built closewait-trace cwt_sockfarm
command -v ip >/dev/null || die "needs ip (iproute2)"

REPS=${CWT_NS_REPS:-5}
LEAKS=${CWT_NS_LEAKS:-150}
PAIRS=${CWT_NS_PAIRS:-75}
SIZES=("$@")
((${#SIZES[@]})) || SIZES=(1 10 100)
TMP=$(mktemp -d /tmp/cwt-netns-bench.XXXXXX)
PREFIX="cwtb$$-"
MADE=0

remove_namespaces() {
    cleanup_pids
    local i
    for ((i = 0; i < MADE; i++)); do ip netns del "${PREFIX}$i" 2>/dev/null || true; done
    MADE=0
}
finish() {
    remove_namespaces
    rm -rf "$TMP"
}
trap finish EXIT
trap 'exit 130' INT TERM

tool_snapshot() { "$CWT_BIN" --snapshot --json; }

# grow_to K: namespaces 0..K-1 exist, each with its sockfarm ready.
grow_to() {
    local k=$1 i
    for ((i = MADE; i < k; i++)); do
        local ns="${PREFIX}$i"
        ip netns add "$ns"
        MADE=$((i + 1))
        ip -n "$ns" link set lo up
        # Orphaned client ends (FIN_WAIT2) expire in 1 s; the set is then stable.
        ip netns exec "$ns" sysctl -qw net.ipv4.tcp_fin_timeout=1
        ip netns exec "$ns" "$SOCKFARM" --leaks "$LEAKS" --pairs "$PAIRS" >"$TMP/farm$i.out" 2>"$TMP/farm$i.err" &
        track_pid $!
    done
    for ((i = 0; i < k; i++)); do
        wait_for "$TMP/farm$i.out" '^ready' 120 || die "cwt_sockfarm in ${PREFIX}$i failed: $(cat "$TMP/farm$i.err")"
    done
    sleep 1.5 # FIN_WAIT2 ends gone
}

# CLOSE_WAITs in every namespace on the machine, counted by ss inside each.
ss_close_waits() {
    local total n
    total=$(($(ss -Htan state close-wait | wc -l)))
    for ns in $(ip netns list | awk '{print $1}'); do
        n=$(ip netns exec "$ns" ss -Htan state close-wait 2>/dev/null | wc -l)
        total=$((total + n))
    done
    echo "$total"
}

other_ns=$(lsns -n -t net -o NS 2>/dev/null | wc -l || echo "?")
log "closewait-trace: $CWT_BIN; network namespaces before the run: $other_ns; load: $(loadavg)"

RESULTS=()
REF=
for K in "${SIZES[@]}"; do
    log "K=$K: $K namespaces x ($LEAKS CLOSE_WAIT + $PAIRS ESTABLISHED pairs)"
    grow_to "$K"
    time_cmd "$TMP/snap.json" tool_snapshot >/dev/null
    t=()
    for ((r = 0; r < REPS; r++)); do t+=("$(time_cmd /dev/null tool_snapshot)"); done
    med=$(median "${t[@]}")
    [[ -n $REF ]] || REF=$med
    added=$(awk -v m="$med" -v r="$REF" 'BEGIN {printf "%+.3f", m-r}')
    per_ns=$(awk -v m="$med" -v r="$REF" -v k="$K" 'BEGIN {if (k>1) printf "%.2f", (m-r)/(k-1)*1000; else print "-"}')
    cw_rows=$(grep -c '"type":"close_wait"' "$TMP/snap.json" || true)
    cw_ss=$(ss_close_waits)
    if [[ $cw_rows -eq $cw_ss ]]; then count_ok=OK; else count_ok=MISMATCH; fi
    target=""
    if [[ $K -ge 100 ]]; then target=$(awk -v a="$added" 'BEGIN {print (a <= 0.2) ? "PASS" : "FAIL"}'); fi
    log "K=$K runs: ${t[*]}"
    RESULTS+=("$(printf '%-6s %8s %10s %10s %12s  %6s/%-6s %-8s %s' "$K" "$((K * (LEAKS + 2 * PAIRS)))" "$med" \
        "$added" "$per_ns" "$cw_rows" "$cw_ss" "$count_ok" "$target")")
done

echo
echo "netns_bench: closewait-trace --snapshot --json with K namespaces of $((LEAKS + 2 * PAIRS)) sockets each"
echo "(median of $REPS, seconds; reference: K=${SIZES[0]} in the same run; load average now: $(loadavg))"
printf '%-6s %8s %10s %10s %12s  %-13s %-8s %s\n' "K" "sockets" "snapshot_s" "vs_ref_s" "ms_per_extra" \
    "CW snap/ss" "count" "target(100 ns: <=+0.2s)"
printf '%s\n' "${RESULTS[@]}"
