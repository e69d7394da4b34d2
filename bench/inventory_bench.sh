#!/usr/bin/env bash
# Inventory benchmark: `closewait-trace --snapshot --json` against `ss -tanp`
# with N loopback TCP sockets: N/2 leaked CLOSE_WAITs (accepted ends whose
# client closed, held open by cwt_sockfarm workers) and N/4 ESTABLISHED pairs.
#
#   bench/inventory_bench.sh [N...]        (default: 10000 100000)
#
# Both commands run in the same namespace, interleaved, with output to
# /dev/null; median of CWT_INV_REPS (default 3) runs each, after one warm-up run
# each. Also checks that the snapshot's CLOSE_WAIT count equals
# `ss -tan state close-wait | wc -l` - 1.
# Target: N=100000 in <= 0.3 s and >= 5x faster than ss -tanp.
# CWT_REF_BIN=/path/to/closewait-trace also times that build's --snapshot,
# interleaved with this one, and prints the ratio of the two medians.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

require_root
ensure_built closewait-trace cwt_sockfarm
enter_netns "$@"

REPS=${CWT_INV_REPS:-3}
SIZES=("$@")
((${#SIZES[@]})) || SIZES=(10000 100000)
TMP=$(mktemp -d /tmp/cwt-inventory.XXXXXX)
FARM_PID=
finish() {
    cleanup_pids
    rm -rf "$TMP"
}
trap finish EXIT
trap 'exit 130' INT TERM


tool_snapshot() { "$CWT_BIN" --snapshot --json; }
ref_snapshot() { "$CWT_REF_BIN" --snapshot --json; }
# The fallback where BPF iterators are unavailable (sock_diag + /proc).
tool_sock_diag() { "$CWT_BIN" --snapshot --json --inventory sock_diag; }
ss_tanp() { ss -tanp; }
ss_tan() { ss -tan; }

state_count() { ss -Htan state "$1" | wc -l; }

log "closewait-trace: $CWT_BIN; netns: $([[ ${_CWT_IN_NETNS:-0} == 1 ]] && echo private || echo host); load: $(loadavg)"

# Fixed cost: the snapshot with no sockets at all (BPF load + attach + exit).
empty=()
time_cmd /dev/null tool_snapshot >/dev/null
for ((r = 0; r < REPS; r++)); do empty+=("$(time_cmd /dev/null tool_snapshot)"); done
EMPTY_MED=$(median "${empty[@]}")

RESULTS=()
REF_RESULTS=()
for N in "${SIZES[@]}"; do
    leaks=$((N / 2))
    pairs=$(((N - leaks) / 2))
    log "N=$N: creating $leaks CLOSE_WAIT leaks and $pairs ESTABLISHED pairs"
    "$SOCKFARM" --leaks "$leaks" --pairs "$pairs" >"$TMP/farm.out" 2>"$TMP/farm.err" &
    FARM_PID=$!
    track_pid "$FARM_PID"
    wait_for "$TMP/farm.out" '^ready' 600 "$FARM_PID" || die "cwt_sockfarm failed: $(cat "$TMP/farm.err")"
    log "$(cat "$TMP/farm.out")"
    # Let the orphaned client ends (FIN_WAIT2) expire, so the set is stable.
    for _ in $(seq 100); do
        [[ $(state_count fin-wait-2) -eq 0 ]] && break
        sleep 0.1
    done
    cw_ss=$(state_count close-wait)
    est_ss=$(state_count established)
    total_ss=$(($(ss -Htan | wc -l)))
    log "ss sees: $cw_ss CLOSE_WAIT, $est_ss ESTABLISHED, $total_ss TCP sockets in all"

    # Warm-up runs; the tool's one also feeds the count check.
    time_cmd "$TMP/snap.json" tool_snapshot >/dev/null
    time_cmd /dev/null ss_tanp >/dev/null
    tool_t=()
    ss_t=()
    tan_t=()
    diag_t=()
    ref_t=()
    for ((r = 0; r < REPS; r++)); do
        [[ -n ${CWT_REF_BIN:-} ]] && ref_t+=("$(time_cmd /dev/null ref_snapshot)")
        # Alternate the order so neither always runs on a warmer cache.
        if ((r % 2 == 0)); then
            tool_t+=("$(time_cmd /dev/null tool_snapshot)")
            ss_t+=("$(time_cmd /dev/null ss_tanp)")
        else
            ss_t+=("$(time_cmd /dev/null ss_tanp)")
            tool_t+=("$(time_cmd /dev/null tool_snapshot)")
        fi
    done
    # For reference: ss without -p (no /proc walk for the owning processes).
    for ((r = 0; r < REPS; r++)); do tan_t+=("$(time_cmd /dev/null ss_tan)"); done
    for ((r = 0; r < REPS; r++)); do diag_t+=("$(time_cmd /dev/null tool_sock_diag)"); done
    diag_med=$(median "${diag_t[@]}")
    tool_med=$(median "${tool_t[@]}")
    tan_med=$(median "${tan_t[@]}")
    ss_med=$(median "${ss_t[@]}")
    ratio=$(awk -v s="$ss_med" -v t="$tool_med" 'BEGIN {printf "%.2f", s/t}')

    cw_rows=$(grep -c '"type":"close_wait"' "$TMP/snap.json" || true)
    cw_summary=$(summary_field "$TMP/snap.json" open_close_wait)
    cw_ss_after=$(($(ss -tan state close-wait | wc -l) - 1))
    if [[ $cw_rows -eq $cw_ss_after && $cw_summary -eq $cw_ss_after ]]; then count_ok=OK; else count_ok=MISMATCH; fi
    target=""
    if [[ $N -ge 100000 ]]; then
        target=$(awk -v t="$tool_med" -v r="$ratio" 'BEGIN {print (t <= 0.3 && r >= 5) ? "PASS" : "FAIL"}')
    fi
    if [[ -n ${CWT_REF_BIN:-} ]]; then
        ref_med=$(median "${ref_t[@]}")
        REF_RESULTS+=("N=$N snapshot ${tool_med} s, reference $CWT_REF_BIN ${ref_med} s (runs: ${ref_t[*]}), ratio $(awk -v t="$tool_med" -v r="$ref_med" 'BEGIN {printf "%.2f", t/r}')")
    fi
    log "N=$N tool runs: ${tool_t[*]}  ss -tanp runs: ${ss_t[*]}  ss -tan runs: ${tan_t[*]}  sock_diag runs: ${diag_t[*]}"
    RESULTS+=("$(printf '%-8s %9s %10s %11s %7s %9s %11s  %6s/%-6s/%-6s %-8s %s' "$N" "$total_ss" "$tool_med" \
        "$ss_med" "${ratio}x" "$tan_med" "$diag_med" "$cw_rows" "$cw_summary" "$cw_ss_after" "$count_ok" "$target")")

    kill -TERM "$FARM_PID" 2>/dev/null || true
    wait "$FARM_PID" 2>/dev/null || true
    FARM_PID=
done

echo
echo "inventory_bench: closewait-trace --snapshot --json vs ss -tanp (median of $REPS, seconds, output to /dev/null)"
echo "empty namespace (fixed cost of the snapshot): ${EMPTY_MED} s; load average now: $(loadavg)"
printf '%-8s %9s %10s %11s %7s %9s %11s  %-20s %-8s %s\n' "N" "ss_lines" "snapshot_s" "ss_tanp_s" "ratio" "ss_tan_s" \
    "sock_diag_s" "CW snap/summ/ss" "count" "target(<=0.3s,>=5x)"
printf '%s\n' "${RESULTS[@]}"
((${#REF_RESULTS[@]} == 0)) || printf 'against the reference build: %s\n' "${REF_RESULTS[@]}"
