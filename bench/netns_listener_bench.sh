#!/usr/bin/env bash
# Issue #13 item 2: the live mode's periodic listener / accept-queue check must
# not visit every established and TIME_WAIT socket each cycle. K namespaces
# (default 100, `ip netns add`), each with one listener and CWT_TW (default
# 1000) TIME_WAIT sockets (bench/tools/netns_timewait.py). The tool runs live
# with --stall 2 (a listener check every second) and its CPU (user + system,
# from /proc/PID/stat: the kernel's sock_diag walk runs in its syscalls) is
# measured over a steady window of CWT_LB_SECONDS (default 15) that starts
# CWT_LB_WARMUP (default 5) s after it starts (start-up walks every socket
# once). The reference, measured in the same run over an equal window: the
# machine's busy CPU without the tool, and with it.
#
#   bench/netns_listener_bench.sh [K]
#
# Target: <= 2 % of one core with 100 namespaces of 1000 TIME_WAIT each.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

require_root
ensure_built closewait-trace
command -v ip >/dev/null || die "needs ip (iproute2)"
command -v python3 >/dev/null || die "needs python3"

K=${1:-100}
TW=${CWT_TW:-1000}
WIN=${CWT_LB_SECONDS:-15}
WARM=${CWT_LB_WARMUP:-5}
PORT=18555
TMP=$(mktemp -d /tmp/cwt-lb-bench.XXXXXX)
PREFIX="cwtl$$-"
MADE=0
finish() {
    cleanup_pids
    local i
    for ((i = 0; i < MADE; i++)); do ip netns del "${PREFIX}$i" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap finish EXIT
trap 'exit 130' INT TERM

# Busy CPU of the whole machine, in core-seconds (user nice system irq softirq steal).
busy_s() { awk -v hz="$(getconf CLK_TCK)" '/^cpu / {print ($2+$3+$4+$7+$8+$9)/hz}' /proc/stat; }
pct() { awk -v a="$1" -v b="$2" -v w="$3" 'BEGIN {printf "%.2f", (b-a)/w*100}'; }

log "K=$K namespaces x (1 listener + $TW TIME_WAIT); window ${WIN}s after ${WARM}s; load: $(loadavg)"
names=()
for ((i = 0; i < K; i++)); do
    ns="${PREFIX}$i"
    ip netns add "$ns"
    MADE=$((i + 1))
    ip -n "$ns" link set lo up
    names+=("$ns")
done
t0=$(now)
mkfifo "$TMP/in"
CWT_TW=$TW python3 "$BENCH_DIR/tools/netns_timewait.py" "$PORT" "${names[@]}" <"$TMP/in" >"$TMP/tw.out" 2>"$TMP/tw.err" &
track_pid $!
exec 9>"$TMP/in" # holds the listeners open until the end
wait_for "$TMP/tw.out" '^ready' 120 || die "netns_timewait.py failed: $(cat "$TMP/tw.err")"
made_s=$(awk -v a="$(now)" -v b="$t0" 'BEGIN {printf "%.1f", a-b}')
tw_one=$(ip netns exec "${PREFIX}0" ss -Htan state time-wait | wc -l)
log "made in ${made_s}s (TIME_WAIT last 60 s); ${PREFIX}0 holds $tw_one TIME_WAIT"
((WARM + WIN + made_s < 55)) 2>/dev/null || true

# Reference: the machine without the tool.
b0=$(busy_s)
sleep "$WIN"
b1=$(busy_s)
ref=$(pct "$b0" "$b1" "$WIN")

"$CWT_BIN" --json --stall 2 -d $((WARM + WIN + 2)) >"$TMP/live.json" 2>"$TMP/live.err" &
tool=$!
track_pid $tool
sleep "$WARM"
c0=$(cpu_s $tool)
b0=$(busy_s)
sleep "$WIN"
c1=$(cpu_s $tool)
b1=$(busy_s)
with=$(pct "$b0" "$b1" "$WIN")
own=$(pct "$c0" "$c1" "$WIN")
wait $tool || true
tw_end=$(ip netns exec "${PREFIX}0" ss -Htan state time-wait | wc -l)
netns_seen=$(summary_field "$TMP/live.json" netns)

echo
echo "netns_listener_bench: live mode, --stall 2 (listener check every 1 s), $K namespaces x (1 listener + $TW TIME_WAIT)"
echo "(window ${WIN}s, after ${WARM}s of start-up; TIME_WAIT in ${PREFIX}0 at the end: $tw_end; namespaces the tool walked: $netns_seen; load now: $(loadavg))"
printf '%-34s %8s\n' "measure" "%core"
printf '%-34s %8s\n' "machine busy, no tracer (ref)" "$ref"
printf '%-34s %8s\n' "machine busy, tracer running" "$with"
printf '%-34s %8s\n' "tracer's own CPU (user+sys)" "$own"
awk -v o="$own" 'BEGIN {printf "target (tracer <= 2%% of a core): %s\n", (o <= 2.0) ? "PASS" : "FAIL"}'
