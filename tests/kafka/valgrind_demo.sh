#!/bin/sh
# valgrind_demo.sh OPSWATCHD: `opswatchd --demo` for 30 s under valgrind's leak checker (HTTP on
# a free port); any definite, indirect or possible leak, or any memory error, fails. The
# suppressions file only covers still-reachable or possible noise inside librdkafka, OpenSSL
# and libwebsockets; a leak with one of our frames on top is never suppressed. opswatchd links
# jemalloc: --soname-synonyms makes valgrind replace that allocator as it would glibc's.
set -eu
bin=$1
here=$(dirname "$0")
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect,possible \
    --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99 \
    --suppressions="$here/valgrind.supp" --log-file="$log" --soname-synonyms='somalloc=*jemalloc*' \
    "$bin" --demo --http 127.0.0.1:0 --exit-after 30 --log-level warn; then
    echo "valgrind: opswatchd --demo for 30 s: 1 passed, 0 failed"
else
    rc=$?
    cat "$log" >&2
    echo "valgrind: opswatchd --demo for 30 s: exit $rc: 0 passed, 1 failed" >&2
    exit 1
fi
