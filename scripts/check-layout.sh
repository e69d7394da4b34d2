#!/bin/sh
# Fails if a userspace/ folder includes a folder it may not depend on:
#   common <- core <- kernel, report <- app   (see userspace/README.md)
root=${1:-$(dirname "$0")/..}
cd "$root/userspace" || exit 2
allowed() {
    case $1 in
    common) echo "common" ;;
    core) echo "common core" ;;
    kernel) echo "common core kernel" ;;
    report) echo "common core report" ;;
    app) echo "common core kernel report app" ;;
    esac
}
bad=0
for dir in common core kernel report app; do
    ok=$(allowed $dir)
    for f in $(find "$dir" -name '*.cpp' -o -name '*.hpp'); do
        for inc in $(sed -n 's/^#include "\([a-z_]*\)\/.*"/\1/p' "$f"); do
            case " $ok closewait_trace " in
            *" $inc "*) ;;
            *) echo "layout: userspace/$f includes $inc/, which $dir/ may not depend on"; bad=1 ;;
            esac
        done
    done
done
[ $bad = 0 ] && echo "layout: every include follows common <- core <- kernel, report <- app"
exit $bad
