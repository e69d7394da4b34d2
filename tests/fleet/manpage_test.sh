#!/usr/bin/env bash
# The built man page has every section the project promises, documents every
# option --help lists, and every metric name the source declares.
#   manpage_test.sh TOOL MAN_PAGE SOURCE_DIR
set -euo pipefail
tool=$1 page=$2 src=$3
[[ -s "$page" ]] || { echo "manpage_test: $page missing or empty; build the 'manpage' target"; exit 1; }
text=$(MANWIDTH=200 man -l "$page" 2>/dev/null | col -b)
fail=0
for s in NAME SYNOPSIS DESCRIPTION OPTIONS OUTPUT "EXIT STATUS" OVERHEAD EXAMPLES FILES "SEE ALSO"; do
    grep -qx "$s" <<<"$text" || { echo "manpage_test: section $s missing"; fail=1; }
done
for opt in $("$tool" --help | grep -E '^  -' | sed -E 's/^  ([^ ]+).*/\1/' | tr ',' '\n' | grep -- '^--'); do
    grep -qF -- "$opt" <<<"$text" || { echo "manpage_test: option $opt not documented"; fail=1; }
done
# Metric names: every "closewait_trace_*" string in the reporter sources.
metrics=$(grep -rhoE '"closewait_trace_[a-z_]+"' "$src/userspace" 2>/dev/null | tr -d '"' | sort -u || true)
for m in $metrics; do
    grep -qF -- "$m" <<<"$text" || { echo "manpage_test: metric $m not documented"; fail=1; }
done
((fail == 0)) || { echo "manpage_test: FAILED"; exit 1; }
echo "manpage_test: 10 sections, every --help option and $(wc -w <<<"$metrics") metric names documented"
