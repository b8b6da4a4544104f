#!/bin/sh
# run.sh OPSWATCH COMPARE: end to end through the command line.
#  - `opswatch gen` streams for several seeds, replayed with --close-all and compared with the
#    figures and alerts the generator planned (tests/e2e/compare.c);
#  - the same events in another arrival order give the same figures;
#  - the command line's contract: exit codes, validate-config messages, stdin input.
set -u
bin=$1
compare=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0

ok() { pass=$((pass + 1)); }
bad() { echo "FAILED: $*"; fail=$((fail + 1)); }

for run in 1:2021-01 2:2021-03 3:2021-09 17:2022-02 2021:2021-05; do
    seed=${run%%:*}
    start=${run#*:}
    g=$tmp/gen$seed
    r=$tmp/replay$seed
    if ! "$bin" gen --seed "$seed" --start "$start" --out "$g" >/dev/null 2>"$tmp/gen.log"; then
        bad "gen --seed $seed: $(cat "$tmp/gen.log")"
        continue
    fi
    if ! "$bin" replay --input "$g/events.jsonl" --out "$r" --close-all 2>"$r.log"; then
        bad "replay seed $seed: $(cat "$r.log")"
        continue
    fi
    if "$compare" "$g/expected.json" "$r" >"$r.cmp"; then ok; else
        bad "seed $seed differs from the plan:"; head -40 "$r.cmp"
    fi
    # Arrival order never matters to the figures: the same events (without duplicates, whose
    # first copy wins, and beyond the 7-day id memory in reverse) give the same snapshots read
    # backwards.
    "$bin" gen --seed "$seed" --start "$start" --no-duplicates --no-invalid --out "$g.clean" \
        >/dev/null 2>&1
    tac "$g.clean/events.jsonl" >"$g.clean/reversed.jsonl"
    if "$bin" replay --input "$g.clean/events.jsonl" --out "$r.fwd" --close-all 2>/dev/null &&
        "$bin" replay --input "$g.clean/reversed.jsonl" --out "$r.rev" --close-all 2>/dev/null &&
        "$compare" --same "$r.fwd" "$r.rev" >"$r.rev.cmp"; then ok; else
        bad "seed $seed: reversed arrival changes figures:"; head -20 "$r.rev.cmp"
    fi
done

# The summary line names every count.
if grep -Eq '^replay: [0-9]+ events, [0-9]+ applied, [0-9]+ duplicates, [0-9]+ dead letters.*events/s$' \
    "$tmp/replay1.log"; then ok; else bad "summary line: $(cat "$tmp/replay1.log")"; fi

# Input from stdin; exit 0 with dead letters.
printf '{"not json\n\n{"event_id":"x"}\n' | "$bin" replay --input - --out "$tmp/stdin" 2>/dev/null
if [ $? -eq 0 ] && [ "$(wc -l <"$tmp/stdin/deadletter.jsonl")" -eq 2 ]; then ok; else
    bad "stdin replay with two bad lines (blank line skipped)"; fi

# An unreadable input: exit 2 and a clear message.
"$bin" replay --input "$tmp/missing.jsonl" --out "$tmp/x" 2>"$tmp/err"
rc=$?
if [ $rc -eq 2 ] && grep -q "missing.jsonl: cannot read" "$tmp/err"; then ok; else
    bad "unreadable input: rc=$rc $(cat "$tmp/err")"; fi

# A bad config: exit 1, every error with file, path and expectation.
printf '{"windows": {"grace": "soon"}, "dedup": {"span": 7}}' >"$tmp/bad.json"
"$bin" replay --config "$tmp/bad.json" --input "$tmp/gen1/events.jsonl" --out "$tmp/y" 2>"$tmp/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "bad.json: \$.windows.grace: expected Working Days" "$tmp/err" &&
    grep -q "bad.json: \$.dedup.span: expected a duration" "$tmp/err"; then ok; else
    bad "bad config: rc=$rc $(cat "$tmp/err")"; fi

"$bin" validate-config "$tmp/bad.json" >/dev/null 2>"$tmp/err"
if [ $? -eq 1 ] && grep -q "^2 errors$" "$tmp/err"; then ok; else
    bad "validate-config bad: $(cat "$tmp/err")"; fi
if "$bin" validate-config config/default.json >/dev/null; then ok; else
    bad "validate-config config/default.json"; fi
printf '{"windows": ' >"$tmp/trunc.json"
"$bin" validate-config "$tmp/trunc.json" 2>"$tmp/err"
if [ $? -eq 1 ] && grep -q "trunc.json: \$: cannot read" "$tmp/err"; then ok; else
    bad "validate-config truncated: $(cat "$tmp/err")"; fi
if "$bin" validate-config --explain | grep -q '^\$.windows.grace'; then ok; else
    bad "validate-config --explain"; fi

# The example site configuration: valid once its secrets exist; a missing one is named.
printf 's3cret\n' >"$tmp/kafka-password"
sed "s|file:/run/secrets/kafka-password|file:$tmp/kafka-password|" config/examples/site.json \
    >"$tmp/site.json"
if KAFKA_BROKERS=127.0.0.1:9092 KAFKA_USER=ops "$bin" validate-config "$tmp/site.json" >/dev/null;
then ok; else bad "config/examples/site.json with its secrets"; fi
if ! KAFKA_USER=ops "$bin" validate-config "$tmp/site.json" 2>"$tmp/err" &&
    grep -q 'kafka.brokers: environment variable KAFKA_BROKERS is not set' "$tmp/err" &&
    ! grep -q s3cret "$tmp/err"; then ok; else bad "missing secret: $(cat "$tmp/err")"; fi

echo "e2e: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
