#!/bin/sh
# valgrind.sh OPSWATCH: replay a generated stream under valgrind's leak checker; any leak or
# error fails.
set -eu
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bin" gen --seed 5 --months 2 --out "$tmp/g" >/dev/null
valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect,possible \
    --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99 \
    "$bin" replay --input "$tmp/g/events.jsonl" --out "$tmp/r" --close-all
echo "valgrind: replay of $(wc -l <"$tmp/g/events.jsonl") events: 1 passed, 0 failed"
