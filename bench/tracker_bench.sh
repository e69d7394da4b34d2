#!/usr/bin/env bash
# Tracker microbenchmark: builds bench/.build/bench/tracker_bench and runs it with
# 3 repetitions, printing medians (events/s per core, allocations per event).
#
#   bench/tracker_bench.sh [extra Google Benchmark flags]
#
# Target: >= 5 M events/s per core. No root needed; no network.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ensure_built tracker_bench
exec "$BUILD/bench/tracker_bench" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
    --benchmark_min_time=0.5 "$@"
