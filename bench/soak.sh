#!/usr/bin/env bash
# Soak: closewait-trace (defaults, --json) attached during maximum loopback churn
# for CWT_SOAK_SECONDS (default 600), sampling its RSS and CPU every
# CWT_SOAK_INTERVAL (10) seconds. Then, with the tool still attached and the
# churn stopped, checks that no per-socket state is left for the closed
# sockets: entries of the close_waits and owners maps (all, and those whose
# owner is the churn server), counted by id through cwt_mapstat and
# cross-checked with `bpftool map dump id`.
#
#   bench/soak.sh
#
# RSS is "flat" when, after a warm-up (the first quarter, at most 60 s), the
# samples stay within 2 MiB of each other and the least-squares slope is under
# 1 MiB per 10 minutes.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

require_root
ensure_built closewait-trace cwt_churn cwt_mapstat
enter_netns "$@"

SECS=${CWT_SOAK_SECONDS:-600}
STEP=${CWT_SOAK_INTERVAL:-10}
CLIENTS=${CWT_CHURN_CLIENTS:-2}
SRV_THREADS=${CWT_CHURN_SERVER_THREADS:-2}
PORT=${CWT_CHURN_PORT:-9400}
TMP=$(mktemp -d /tmp/cwt-soak.XXXXXX)
finish() {
    cleanup_pids
    rm -rf "$TMP"
}
trap finish EXIT
trap 'exit 130' INT TERM

log "load: $(loadavg); soak ${SECS}s, samples every ${STEP}s, clients=$CLIENTS server_threads=$SRV_THREADS"
"$CHURN" server --port "$PORT" --threads "$SRV_THREADS" >"$TMP/server.out" 2>&1 &
SERVER=$!
track_pid "$SERVER"
wait_for "$TMP/server.out" '^ready' 10 "$SERVER" || die "churn server did not start"

"$CWT_BIN" --json >"$TMP/tool.out" 2>"$TMP/tool.err" &
TOOL=$!
track_pid "$TOOL"
wait_for "$TMP/tool.out" '"type":"start"' 60 "$TOOL" || die "closewait-trace did not start: $(cat "$TMP/tool.err")"
sleep 1
MS0=$("$MAPSTAT" "$TOOL" events counters)

"$CHURN" client --port "$PORT" --threads "$CLIENTS" --duration "$SECS" >"$TMP/client.out" 2>&1 &
CLIENT=$!
track_pid "$CLIENT"

T0=$(now)
SAMPLES=()
printf '%8s %10s %9s\n' "t_s" "rss_kB" "tool_cpu" >&2
cpu_prev=$(cpu_s "$TOOL")
t_prev=$T0
next=$STEP
while kill -0 "$CLIENT" 2>/dev/null; do
    t=$(awk -v a="$(now)" -v b="$T0" 'BEGIN {printf "%.0f", a-b}')
    if ((t >= next)); then
        kill -0 "$TOOL" 2>/dev/null || die "closewait-trace exited during the soak: $(tail -n3 "$TMP/tool.err")"
        rss=$(rss_kb "$TOOL")
        c=$(cpu_s "$TOOL")
        tn=$(now)
        cpu=$(awk -v a="$c" -v b="$cpu_prev" -v x="$tn" -v y="$t_prev" 'BEGIN {printf "%.1f", 100*(a-b)/(x-y)}')
        cpu_prev=$c
        t_prev=$tn
        SAMPLES+=("$t $rss $cpu")
        printf '%8s %10s %8s%%\n' "$t" "$rss" "$cpu" >&2
        next=$((next + STEP))
    fi
    sleep 0.5
done
wait "$CLIENT" || true
CLIENT_RES=$(cat "$TMP/client.out")
log "churn done: $CLIENT_RES"

# Churn stopped, tool still attached: the last sockets finish closing (LAST_ACK ->
# CLOSE takes one loopback round trip), then count what is left.
sleep 3
MS=$("$MAPSTAT" "$TOOL" --tgid "$SERVER")
cw_all=$(mapstat_field "$MS" close_waits entries)
cw_srv=$(mapstat_field "$MS" close_waits tgid_entries)
ow_all=$(mapstat_field "$MS" owners entries)
ow_srv=$(mapstat_field "$MS" owners tgid_entries)
aa_all=$(mapstat_field "$MS" accept_args entries)
cw_id=$(mapstat_field "$MS" close_waits id)
ow_id=$(mapstat_field "$MS" owners id)
cw_bpftool=$(bpftool -j map dump id "$cw_id" 2>/dev/null | jq length 2>/dev/null || echo "?")
ow_bpftool=$(bpftool -j map dump id "$ow_id" 2>/dev/null | jq length 2>/dev/null || echo "?")
MS1=$("$MAPSTAT" "$TOOL" events counters)
RSS_END=$(rss_kb "$TOOL")
HWM_END=$(hwm_kb "$TOOL")
stop_pid "$TOOL" 30
stop_pid "$SERVER" 5
LOST=$(summary_field "$TMP/tool.out" lost_events)
OPEN=$(summary_field "$TMP/tool.out" open_close_wait)
FINDINGS=$(grep -vcE '"type":"(start|summary)"' "$TMP/tool.out" || true)
BY_TYPE=$(jq -r 'select(.type != "start" and .type != "summary") | .type' "$TMP/tool.out" 2>/dev/null | sort | uniq -c |
    awk '{printf "%s%s=%s", (NR>1 ? ", " : ""), $2, $1}')
rb=$(($(mapstat_field "$MS1" events ring_bytes) - $(mapstat_field "$MS0" events ring_bytes)))
CONNS=$(sed -n 's/.*connections=\([0-9]*\).*/\1/p' <<<"$CLIENT_RES")

echo
echo "soak: ${SECS}s of loopback churn with closewait-trace --json attached (load now: $(loadavg))"
echo "churn: $CLIENT_RES"
echo "RSS samples (t_s rss_kB tool_cpu%):"
printf '  %s\n' "${SAMPLES[@]}"
printf '%s\n' "${SAMPLES[@]}" | awk -v secs="$SECS" '
    { t[NR]=$1; r[NR]=$2 }
    END {
        warm = secs/4; if (warm > 60) warm = 60
        n=0; min=1e18; max=0; sx=sy=sxx=sxy=0
        for (i=1;i<=NR;i++) if (t[i] > warm) { n++; x=t[i]; y=r[i]; sx+=x; sy+=y; sxx+=x*x; sxy+=x*y; if (y<min) min=y; if (y>max) max=y }
        if (n < 2) { print "RSS: too few samples after warm-up"; exit }
        slope = (n*sxy - sx*sy) / (n*sxx - sx*sx)       # kB per second
        per10 = slope*600/1024                          # MiB per 10 minutes
        flat = (max-min <= 2048 && per10 < 1) ? "FLAT" : "NOT FLAT"
        printf "RSS after %ds warm-up: min %d kB, max %d kB, spread %d kB, slope %.3f MiB/10min -> %s\n", warm, min, max, max-min, per10, flat
    }'
echo "RSS at end ${RSS_END} kB (peak ${HWM_END} kB)"
echo "state left 3 s after churn stopped (tool still attached):"
echo "  close_waits: $cw_all entries (bpftool: $cw_bpftool), of the churn server: $cw_srv"
echo "  owners:      $ow_all entries (bpftool: $ow_bpftool), of the churn server: $ow_srv"
echo "  accept_args: $aa_all entries (one per thread blocked in accept: the churn server had $SRV_THREADS)"
echo "summary at exit: lost_events=$LOST open_close_wait=$OPEN; ring buffer: $rb bytes for $CONNS connections"
echo "findings printed: $FINDINGS (${BY_TYPE:-none}); the churn itself is healthy and should cause none"
if [[ $cw_srv == 0 && $ow_srv == 0 && $LOST == 0 ]]; then echo "RESULT: no state left for closed sockets, no loss"; else echo "RESULT: state left or loss (see above)"; fi
