#!/usr/bin/env bash
# promtool accepts the example alerting rules, and they name the metrics the tool writes.
#   rules_test.sh RULES_FILE
set -euo pipefail
rules=$1
command -v promtool >/dev/null || { echo "SKIPPED: promtool not installed (Debian prometheus; scripts/deps.sh --with-tests)"; exit 77; }
promtool check rules "$rules"
for a in ClosewaitTraceLeak ClosewaitTraceCloseWaitGrowth ClosewaitTraceAcceptStall ClosewaitTraceAcceptEmfile ClosewaitTraceLostEvents; do
    grep -q "alert: $a\$" "$rules" || { echo "rules_test: alert $a missing"; exit 1; }
done
echo "rules_test: promtool check rules OK"
