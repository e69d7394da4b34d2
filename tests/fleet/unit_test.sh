#!/usr/bin/env bash
# systemd-analyze verify accepts closewait-trace.service (configured for the
# built binary), including its man: reference; and the hardening the issue
# asks for is there.
#   unit_test.sh UNIT_IN SBINDIR MANDIR
set -euo pipefail
in=$1 sbindir=$2 mandir=$3
command -v systemd-analyze >/dev/null || { echo "SKIPPED: systemd-analyze not installed (scripts/deps.sh --with-tests)"; exit 77; }
dir=$(mktemp -d /tmp/cwt-unit.XXXXXX)
trap 'rm -rf "$dir"' EXIT
# As cmake --install writes it: a path with white space is quoted.
exec="$sbindir/closewait-trace"
[[ $exec == *[[:space:]]* ]] && exec="\"$exec\""
sed "s|@CWT_EXEC@|$exec|" "$in" >"$dir/closewait-trace.service"
# The Documentation=man: line is checked against the built man page.
MANPATH="$mandir" systemd-analyze verify "$dir/closewait-trace.service"
u="$dir/closewait-trace.service"
fail=0
need() { grep -qxE "$1" "$u" || { echo "unit_test: missing: $1"; fail=1; }; }
need 'ExecStart=("[^"]*/closewait-trace"|[^" ]*/closewait-trace) --prometheus-textfile /var/lib/prometheus/node-exporter/closewait_trace\.prom'
need 'Restart=on-failure'
need 'CapabilityBoundingSet=CAP_BPF CAP_PERFMON CAP_DAC_READ_SEARCH CAP_SYS_PTRACE CAP_SYS_ADMIN CAP_SYS_RESOURCE'
need 'NoNewPrivileges=yes'
need 'ProtectSystem=strict'
need 'ReadWritePaths=-/var/lib/prometheus/node-exporter'
need 'ProtectHome=yes'
if grep -qE '^(PrivateNetwork|NetworkNamespacePath)=' "$u"; then
    echo "unit_test: the service must share the host's network namespace"
    fail=1
fi
((fail == 0)) || { echo "unit_test: FAILED"; exit 1; }
exposure=$(systemd-analyze security --offline=yes "$u" 2>/dev/null | grep -o 'Overall exposure level.*' || true)
echo "unit_test: systemd-analyze verify OK; hardening present; $exposure"
