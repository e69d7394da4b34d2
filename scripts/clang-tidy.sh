#!/bin/sh
# Runs clang-tidy (.clang-tidy's check set) over userspace/ with the build's
# compile_commands.json; fails on any warning. Usage: clang-tidy.sh SRC BUILD
src=${1:?source dir}
build=${2:?build dir}
tidy=$(command -v clang-tidy-14 || command -v clang-tidy) || {
    echo "SKIPPED: clang-tidy not installed (scripts/deps.sh --with-tests installs clang-tidy-14)"
    exit 0
}
[ -f "$build/compile_commands.json" ] || { echo "no $build/compile_commands.json: configure with CMake first"; exit 2; }
files=$(find "$src/userspace" -name '*.cpp' | sort)
out=$(printf '%s\n' $files | xargs -P 2 -n 1 "$tidy" -p "$build" --quiet --extra-arg=-Wno-error 2>/dev/null)
printf '%s\n' "$out" | grep -E 'warning:|error:' && {
    printf '%s\n' "$out"
    exit 1
}
echo "clang-tidy: $(echo $files | wc -w) files clean"
