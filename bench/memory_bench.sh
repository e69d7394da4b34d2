#!/usr/bin/env bash
# Memory benchmark: closewait-trace's RSS and BPF map memory with N tracked
# sockets, as bytes per socket.
#
#   bench/memory_bench.sh
#
# Starts `closewait-trace --json --max-sockets 131072 --threshold THRESHOLD`, then creates
# N leaked CLOSE_WAITs (accepted, client closed, server end held open by
# cwt_sockfarm), so each is tracked from its accept on: an owners entry and a
# close_waits entry per socket. Samples (a) idle before the sockets exist,
# (b) once every socket is tracked, before the leak threshold, and (c) after the
# threshold, when the daemon has resolved and reported the leaks. BPF memory is
# the memlock of every map the tool's process holds (/proc/PID/fdinfo, through
# cwt_mapstat), which is what the kernel charges for them.
# Target: <= 200 bytes per tracked socket (RSS + map memory) / N.
#
# Environment: CWT_MEM_SOCKETS (100000), CWT_MEM_MAX_SOCKETS (131072),
# CWT_MEM_THRESHOLD (30 s, the tool's default; must exceed the socket creation time plus
# one window), CWT_MEM_WINDOW (10 s of CPU sampling per phase).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

require_root
ensure_built closewait-trace cwt_sockfarm cwt_mapstat
enter_netns "$@"

N=${CWT_MEM_SOCKETS:-100000}
MAXS=${CWT_MEM_MAX_SOCKETS:-131072}
THRESH=${CWT_MEM_THRESHOLD:-30}
WINDOW=${CWT_MEM_WINDOW:-10}
TMP=$(mktemp -d /tmp/cwt-memory.XXXXXX)
finish() {
    cleanup_pids
    rm -rf "$TMP"
}
trap finish EXIT
trap 'exit 130' INT TERM

log "load: $(loadavg); N=$N max_sockets=$MAXS threshold=${THRESH}s"
"$CWT_BIN" --json --max-sockets "$MAXS" --threshold "$THRESH" >"$TMP/tool.out" 2>"$TMP/tool.err" &
TOOL=$!
track_pid "$TOOL"
wait_for "$TMP/tool.out" '"type":"start"' 60 "$TOOL" || die "closewait-trace did not start: $(cat "$TMP/tool.err")"
sleep 1

declare -a ROWS
# sample PHASE: RSS, peak RSS, map memory, entries, and the tool's CPU over WINDOW seconds.
sample() {
    local phase=$1 c0 c1 ms rss hwm mem cw ow cpu
    c0=$(cpu_s "$TOOL")
    sleep "$WINDOW"
    c1=$(cpu_s "$TOOL")
    ms=$("$MAPSTAT" "$TOOL")
    rss=$(($(rss_kb "$TOOL") * 1024))
    hwm=$(($(hwm_kb "$TOOL") * 1024))
    mem=$(awk '/^total/ {for (i=1;i<=NF;i++) if ($i ~ /^memlock=/) {split($i,kv,"="); print kv[2]}}' <<<"$ms")
    cw=$(mapstat_field "$ms" close_waits entries)
    ow=$(mapstat_field "$ms" owners entries)
    cpu=$(awk -v a="$c1" -v b="$c0" -v w="$WINDOW" 'BEGIN {printf "%.1f", 100*(a-b)/w}')
    ROWS+=("$(printf '%-22s %8s %8s %12s %12s %12s %10s %8s%%' "$phase" "$cw" "$ow" "$rss" "$hwm" "$mem" \
        "$(awk -v r="$rss" -v m="$mem" -v n="$N" 'BEGIN {printf "%.0f", (r+m)/n}')" "$cpu")")
    log "$phase: rss=$rss hwm=$hwm maps=$mem close_waits=$cw owners=$ow cpu=$cpu% counters=$(mapstat_field "$ms" counters counters)"
    if [[ $phase == idle* ]]; then
        printf '%s\n' "$ms" >"$TMP/maps.idle"
    else
        printf '%s\n' "$ms" >"$TMP/maps.last"
    fi
}

sample "idle (no sockets)"
RSS0=$(($(rss_kb "$TOOL") * 1024))

log "creating $N leaked CLOSE_WAITs"
T_CREATE=$(now)
"$SOCKFARM" --leaks "$N" --pairs 0 >"$TMP/farm.out" 2>"$TMP/farm.err" &
FARM=$!
track_pid "$FARM"
wait_for "$TMP/farm.out" '^ready' 600 "$FARM" || die "cwt_sockfarm failed: $(cat "$TMP/farm.err")"
log "$(cat "$TMP/farm.out")"
# Until the kernel map holds them all (a few may be reset by the kernel; see README).
for _ in $(seq 60); do
    cw=$(mapstat_field "$("$MAPSTAT" "$TOOL" close_waits)" close_waits entries)
    ((cw >= N * 999 / 1000)) && break
    sleep 0.5
done
sample "tracked (< threshold)"
RSS1=$(($(rss_kb "$TOOL") * 1024))

# Past the threshold: every socket is due for a leak report.
left=$(awk -v t0="$T_CREATE" -v now="$(now)" -v th="$THRESH" 'BEGIN {d = t0 + th + 5 - now; print (d > 0 ? d : 0)}')
sleep "$left"
sample "after leak reports"
sample "steady (another window)"
RSS2=$(($(rss_kb "$TOOL") * 1024))
LEAKS_REPORTED=$(grep -c '"type":"close_wait_leak"' "$TMP/tool.out" || true)

kill -TERM "$FARM" 2>/dev/null || true
wait "$FARM" 2>/dev/null || true
stop_pid "$TOOL" 30
SUMMARY=$({ grep '"type":"summary"' "$TMP/tool.out" || true; } | tail -n1 | jq -c '{open_close_wait, leaks_reported, lost_events}' 2>/dev/null || echo '{}')

echo
echo "memory_bench: closewait-trace with $N leaked CLOSE_WAITs tracked (--max-sockets $MAXS, --threshold $THRESH), load now: $(loadavg)"
printf '%-22s %8s %8s %12s %12s %12s %10s %9s\n' phase close_w owners rss_bytes rss_peak map_bytes "B/socket" tool_cpu
printf '%s\n' "${ROWS[@]}"
echo
echo "BPF maps (idle; preallocated hash maps cost their full capacity from the start):"
awk '$1=="map" {n=""; m=""; me=""; for (i=2;i<=NF;i++) {split($i,kv,"="); if (kv[1]=="name") n=kv[2]; if (kv[1]=="max_entries") m=kv[2]; if (kv[1]=="memlock") me=kv[2]; if (kv[1]=="value") v=kv[2]}
     printf "  %-16s value=%-4s max_entries=%-8s memlock=%-10s (%.0f B/entry)\n", n, v, m, me, (m>0 ? me/m : 0)}' "$TMP/maps.idle"
MAPB=$(awk '/^total/ {for (i=1;i<=NF;i++) if ($i ~ /^memlock=/) {split($i,kv,"="); print kv[2]}}' "$TMP/maps.last")
MAPB0=$(awk '/^total/ {for (i=1;i<=NF;i++) if ($i ~ /^memlock=/) {split($i,kv,"="); print kv[2]}}' "$TMP/maps.idle")
echo
echo "per tracked socket (N=$N):"
awk -v r0="$RSS0" -v r1="$RSS1" -v r2="$RSS2" -v m="$MAPB" -v m0="$MAPB0" -v n="$N" 'BEGIN {
    printf "  userspace RSS growth, tracked:          %6.0f B/socket\n", (r1-r0)/n
    printf "  userspace RSS growth, after reports:    %6.0f B/socket\n", (r2-r0)/n
    printf "  BPF map memory growth / N:              %6.0f B/socket\n", (m-m0)/n
    printf "  BPF map memory / N (idle maps included):%6.0f B/socket\n", m/n
    printf "  per tracked socket (RSS + maps growth), after reports: %4.0f B/socket  target <= 300: %s\n", (r2-r0+m-m0)/n, ((r2-r0+m-m0)/n <= 300 ? "PASS" : "FAIL")
    printf "  total (RSS + maps) / N, after reports:  %6.0f B/socket (fixed cost included)\n", (r2+m)/n
}'
echo "  leak findings printed: $LEAKS_REPORTED of $N; summary at exit: $SUMMARY"
