#!/usr/bin/env bash
# The bash completion offers exactly the options --help lists, and for the
# options with a fixed set of values, exactly the values --help lists.
#   completion_test.sh TOOL COMPLETION_FILE
set -euo pipefail
tool=$1 comp=$2

help=$("$tool" --help)
# Option names as CLI11 prints them: "  -p,--pid UINT ..." / "  --features ...".
from_help=$(grep -E '^  -' <<<"$help" | sed -E 's/^  ([^ ]+).*/\1/' | tr ',' '\n' | sort -u)

# Ask the completion function itself, as bash would after "closewait-trace -".
complete_words() { # words... (the last one is being completed)
    bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _closewait_trace; printf "%s\n" "${COMPREPLY[@]}"' \
        _ "$comp" closewait-trace "$@" | sort -u
}
from_comp=$(complete_words -)

fail=0
if [[ "$from_help" != "$from_comp" ]]; then
    echo "completion_test: options differ (< --help only, > completion only):"
    diff <(echo "$from_help") <(echo "$from_comp") || true
    fail=1
fi
# Values: "--probes TEXT:{auto,fentry,kprobe,tracepoint}" -> auto fentry kprobe tracepoint
for opt in $(grep -oE -- '--[a-z-]+ TEXT:\{[^}]*\}' <<<"$help" | cut -d' ' -f1); do
    want=$(grep -oE -- "$opt TEXT:\{[^}]*\}" <<<"$help" | sed -E 's/.*\{(.*)\}/\1/' | tr ',' '\n' | sort -u)
    got=$(complete_words "$opt" "")
    if [[ "$want" != "$got" ]]; then
        echo "completion_test: values of $opt differ: --help '$(echo $want)' completion '$(echo $got)'"
        fail=1
    fi
done
n=$(wc -l <<<"$from_help")
if ((fail)); then
    echo "completion_test: FAILED"
    exit 1
fi
echo "completion_test: $n option names and every value set match --help"
