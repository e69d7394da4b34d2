#!/usr/bin/env bash
# Churn benchmark: loopback connections/s under each tracer, interleaved.
#
#   bench/churn_bench.sh
#
# Configurations (CWT_CHURN_CONFIGS, default all, in this order):
#   none          no tracer
#   tool          closewait-trace --json (defaults; output to a file for the summary)
#   tool_pid      closewait-trace --json -p <churn server pid>
#   tool_pid_other closewait-trace --json -p <this script's pid>: every socket is
#                 another process's, so every probe returns early in the kernel
#   tool_verbose  closewait-trace --json -v (every CLOSE_WAIT and close crosses the ring buffer)
#   tool_site     closewait-trace --json --leak-site (issue #12: the read()=0 and accept() stack
#                 captures; here every connection reads EOF in CLOSE_WAIT, the worst case)
#   tool_ref      $CWT_REF_BIN --json: another build (say, an older commit) at its
#                 defaults, to compare two builds in one interleaved run
#   floor         cwt_floor (bench/floor.bpf.c): the tool's own hooks and program
#                 types (tp_btf set_state, accept syscall tracepoints), counting only
#   bt_count      bpftrace bench/floor.bt: same tracepoints, counting in the kernel only
#   bt_print      bpftrace bench/print.bt: prints every inet_sock_set_state transition
# Each repetition runs every configuration once, in an order rotated by one per
# repetition; figures are medians over repetitions, and each ratio is the median
# of the per-repetition ratios to the no-tracer run of the same repetition
# (ratio) and to the floor (floor, else bt_count) of the same repetition (vs_floor).
#
# Environment: CWT_CHURN_SECONDS (10) per run, CWT_CHURN_REPS (5),
# CWT_CHURN_CLIENTS (2) client threads, CWT_CHURN_SERVER_THREADS (2),
# CWT_CHURN_CLOSE_FIRST (client|server, default client: every accepted socket
# passes through CLOSE_WAIT). Default total: 6 configs x 5 reps x ~12 s = ~6 min.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

require_root
ensure_built closewait-trace cwt_churn cwt_mapstat cwt_floor
command -v bpftrace >/dev/null || die "bpftrace is not installed (apt-get install bpftrace)"
enter_netns "$@"

DUR=${CWT_CHURN_SECONDS:-10}
REPS=${CWT_CHURN_REPS:-5}
CLIENTS=${CWT_CHURN_CLIENTS:-2}
SRV_THREADS=${CWT_CHURN_SERVER_THREADS:-2}
CLOSE_FIRST=${CWT_CHURN_CLOSE_FIRST:-client}
PORT=${CWT_CHURN_PORT:-9400}
read -r -a CONFIGS <<<"${CWT_CHURN_CONFIGS:-none floor tool tool_site tool_pid tool_pid_other tool_verbose bt_count bt_print}"
TMP=$(mktemp -d /tmp/cwt-churn.XXXXXX)
finish() {
    cleanup_pids
    rm -rf "$TMP"
}
trap finish EXIT
trap 'exit 130' INT TERM

log "load: $(loadavg); $(nproc) CPUs; ${DUR}s x $REPS reps x ${#CONFIGS[@]} configs; clients=$CLIENTS server_threads=$SRV_THREADS close_first=$CLOSE_FIRST"

"$CHURN" server --port "$PORT" --threads "$SRV_THREADS" --close-first "$CLOSE_FIRST" >"$TMP/server.out" 2>&1 &
SERVER_PID=$!
track_pid "$SERVER_PID"
wait_for "$TMP/server.out" '^ready' 10 "$SERVER_PID" || die "churn server did not start"

declare -A RATE RATIO FRATIO CPU LOST RECS ACC TP
TRACER_PID=

start_tracer() { # cfg out err
    local cfg=$1 out=$2 err=$3
    TRACER_PID=
    case $cfg in
    none) return 0 ;;
    tool) "$CWT_BIN" --json >"$out" 2>"$err" & ;;
    tool_pid) "$CWT_BIN" --json -p "$SERVER_PID" >"$out" 2>"$err" & ;;
    tool_pid_other) "$CWT_BIN" --json -p $$ >"$out" 2>"$err" & ;;
    tool_verbose) "$CWT_BIN" --json -v >"$out" 2>"$err" & ;;
    tool_site) "$CWT_BIN" --json --leak-site >"$out" 2>"$err" & ;;
    tool_ref) "${CWT_REF_BIN:?tool_ref needs CWT_REF_BIN}" --json >"$out" 2>"$err" & ;;
    floor) "$BUILD/bench/cwt_floor" >"$out" 2>"$err" & ;;
    bt_count) bpftrace "$BENCH_DIR/floor.bt" >"$out" 2>"$err" & ;;
    bt_print) bpftrace "$BENCH_DIR/print.bt" >"$out" 2>"$err" & ;;
    *) die "unknown config $cfg" ;;
    esac
    TRACER_PID=$!
    track_pid "$TRACER_PID"
    local re='"type":"start"'
    [[ $cfg == bt_* || $cfg == floor ]] && re='^READY'
    wait_for "$out" "$re" 120 "$TRACER_PID" || die "$cfg did not start: $(tail -n3 "$err")"
    sleep 0.5 # let the daemon settle (first scan, listener refresh)
}

run_one() { # cfg rep
    local cfg=$1 rep=$2 out=$TMP/$1.$2.out err=$TMP/$1.$2.err
    start_tracer "$cfg" "$out" "$err"
    local ms0="" ms1="" cpu0=0 cpu1=0
    if [[ $cfg == tool* ]]; then ms0=$("$MAPSTAT" "$TRACER_PID" events counters); fi
    [[ -n $TRACER_PID ]] && cpu0=$(cpu_s "$TRACER_PID")
    local res
    res=$("$CHURN" client --port "$PORT" --threads "$CLIENTS" --duration "$DUR" --close-first "$CLOSE_FIRST")
    [[ -n $TRACER_PID ]] && cpu1=$(cpu_s "$TRACER_PID")
    if [[ $cfg == tool* ]]; then ms1=$("$MAPSTAT" "$TRACER_PID" events counters); fi
    [[ -n $TRACER_PID ]] && stop_pid "$TRACER_PID" 30

    local conns rate
    conns=$(sed -n 's/.*connections=\([0-9]*\).*/\1/p' <<<"$res")
    rate=$(sed -n 's/.*conn_per_s=\([0-9]*\).*/\1/p' <<<"$res")
    RATE[$cfg]+=" $rate"
    CPU[$cfg]+=" $(awk -v a="$cpu1" -v b="$cpu0" -v d="$DUR" 'BEGIN {printf "%.1f", 100*(a-b)/d}')"
    local extra=""
    case $cfg in
    tool*)
        local lost rb0 rb1 rec c0 c1
        lost=$(summary_field "$out" lost_events)
        LOST[$cfg]+=" $lost"
        rb0=$(mapstat_field "$ms0" events ring_bytes)
        rb1=$(mapstat_field "$ms1" events ring_bytes)
        rec=$(awk '/^total/ {for (i=1;i<=NF;i++) if ($i ~ /^sock_record_bytes=/) {split($i,kv,"="); print kv[2]}}' <<<"$ms1")
        RECS[$cfg]+=" $(awk -v a="$rb1" -v b="$rb0" -v r="$rec" -v n="$conns" 'BEGIN {printf "%.3f", (a-b)/r/n}')"
        c0=$(mapstat_field "$ms0" counters counters)
        c1=$(mapstat_field "$ms1" counters counters)
        # counters[5] = accepts seen by the kernel side.
        ACC[$cfg]+=" $(awk -v a="$c1" -v b="$c0" -v n="$conns" 'BEGIN {split(a,x,","); split(b,y,","); printf "%.3f", (x[6]-y[6])/n}')"
        extra="lost_events=$lost ring_bytes=$((rb1 - rb0))"
        ;;
    floor | bt_count)
        local ss
        ss=$(awk '/^@set_state:/ {print $2}' "$out")
        TP[$cfg]+=" $(awk -v a="${ss:-0}" -v n="$conns" 'BEGIN {printf "%.2f", a/n}')"
        extra="set_state=$ss $({ grep -E '^@accept' "$out" || true; } | tr '\n' ' ')"
        ;;
    bt_print)
        local lines lostbt
        lines=$(($(wc -l <"$out") - 1))
        lostbt=$({ grep -hoE 'Lost [0-9]+ events' "$out" "$err" || true; } | awk '{s+=$2} END {print s+0}')
        TP[$cfg]+=" $(awk -v a="$lines" -v n="$conns" 'BEGIN {printf "%.2f", a/n}')"
        LOST[$cfg]+=" $lostbt"
        extra="printed=$lines lost=$lostbt"
        ;;
    esac
    log "rep $rep $(printf '%-12s' "$cfg") $res $extra"
    rm -f "$out" "$err"
}

for ((rep = 0; rep < REPS; rep++)); do
    n=${#CONFIGS[@]}
    for ((k = 0; k < n; k++)); do
        cfg=${CONFIGS[$(((k + rep) % n))]}
        run_one "$cfg" "$rep"
    done
    # Ratios are paired within the repetition.
    if [[ " ${CONFIGS[*]} " == *" none "* ]]; then
        base=$(awk '{print $NF}' <<<"${RATE[none]}")
        for cfg in "${CONFIGS[@]}"; do
            r=$(awk '{print $NF}' <<<"${RATE[$cfg]}")
            RATIO[$cfg]+=" $(awk -v a="$r" -v b="$base" 'BEGIN {printf "%.3f", a/b}')"
        done
    fi
    fl=""
    [[ " ${CONFIGS[*]} " == *" bt_count "* ]] && fl=bt_count
    [[ " ${CONFIGS[*]} " == *" floor "* ]] && fl=floor
    if [[ -n $fl ]]; then
        base=$(awk '{print $NF}' <<<"${RATE[$fl]}")
        for cfg in "${CONFIGS[@]}"; do
            r=$(awk '{print $NF}' <<<"${RATE[$cfg]}")
            FRATIO[$cfg]+=" $(awk -v a="$r" -v b="$base" 'BEGIN {printf "%.3f", a/b}')"
        done
    fi
done
stop_pid "$SERVER_PID" 5

med() { [[ -n ${1// /} ]] && median $1 || echo "-"; }
echo
echo "churn_bench: loopback connect/request/reply/close, ${CLIENTS} client + ${SRV_THREADS} server threads, ${DUR}s runs, median of $REPS (load now: $(loadavg))"
printf '%-15s %10s %8s %8s %-26s %9s %12s %11s %12s %s\n' config conn_per_s ratio vs_floor "runs (conn/s)" tracer_cpu lost_events ringbuf/conn accepts/conn tp_hits/conn
for cfg in "${CONFIGS[@]}"; do
    printf '%-15s %10s %8s %8s %-26s %8s%% %12s %12s %12s %s\n' "$cfg" "$(med "${RATE[$cfg]}")" "$(med "${RATIO[$cfg]:-}")" "$(med "${FRATIO[$cfg]:-}")" \
        "$(sed 's/^ //' <<<"${RATE[$cfg]}")" "$(med "${CPU[$cfg]}")" "$(sed 's/^ //' <<<"${LOST[$cfg]:--}")" \
        "$(med "${RECS[$cfg]:-}")" "$(med "${ACC[$cfg]:-}")" "$(med "${TP[$cfg]:-}")"
done
# The leak-site rule (issue #12): on by default only if its ratio stays within
# 0.01 of the floor (floor: the tool's own hooks, counting only; else
# bt_count: counting on the same tracepoints; else the tool without --leak-site).
if [[ -n ${RATIO[tool_site]:-} ]]; then
    floor_cfg=floor
    [[ -n ${RATIO[floor]:-} ]] || floor_cfg=bt_count
    [[ -n ${RATIO[$floor_cfg]:-} ]] || floor_cfg=tool
    if [[ -n ${RATIO[$floor_cfg]:-} ]]; then
        a=$(med "${RATIO[$floor_cfg]}")
        b=$(med "${RATIO[tool_site]}")
        d=$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.3f", a-b}')
        verdict=$(awk -v d="$d" 'BEGIN {print (d <= 0.01 ? "within 0.01 of the floor: on by default is allowed" : "more than 0.01 below the floor: opt-in (--leak-site)")}')
        echo "leak site: floor ($floor_cfg) ratio $a, tool_site $b (tool $(med "${RATIO[tool]:-}")): $d below the floor; $verdict"
    fi
fi
cat <<'EOF'
  ratio        median over repetitions of conn/s divided by the no-tracer run of the same repetition
  vs_floor     the same, divided by the floor run (floor, else bt_count) of the same repetition
  tracer_cpu   CPU time of the tracer process (user+sys) / run length; kernel-side probe cost lands on the workload
  lost_events  closewait-trace: lost_events of its summary (must be 0); bt_print: bpftrace "Lost N events"
  ringbuf/conn closewait-trace ring-buffer records per connection (producer position / record size)
  accepts/conn accepts the tool's kernel side recorded per connection (counters[CWT_CNT_ACCEPTS])
  tp_hits/conn floor, bt_count: inet_sock_set_state hits per connection; bt_print: lines printed per connection
EOF
