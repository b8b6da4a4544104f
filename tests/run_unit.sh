#!/bin/sh
# run_unit.sh BIN...: run each cmocka test binary under a timeout ($OW_TEST_TIMEOUT seconds,
# default 120); print a closing line.
pass=0
fail=0
for t in "$@"; do
    if timeout "${OW_TEST_TIMEOUT:-120}" "$t"; then
        pass=$((pass + 1))
    else
        echo "FAILED: $t"
        fail=$((fail + 1))
    fi
done
echo "unit test binaries: $pass passed, $fail failed"
[ "$fail" = 0 ]
