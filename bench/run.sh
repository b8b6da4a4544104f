#!/bin/sh
# run.sh OPSWATCH: `make bench`. Replay throughput and memory on one core, against reference
# rates measured on the same file in the same run. The input (>= 5 million mixed events,
# mostly service requests and CSRs) is generated once and cached in build/bench/.
set -eu
bin=$1
dir=$(dirname "$bin")
out=${OPSWATCH_BENCH_DIR:-build/bench}
scale=${OPSWATCH_BENCH_SCALE:-200}
mkdir -p "$out"
input=$out/events-scale$scale.jsonl
if [ ! -s "$input" ]; then
    echo "bench: generating $input (once; cached)"
    "$bin" gen --seed 4242 --start 2021-01 --months 3 --scale "$scale" --out "$out/gen$scale" >/dev/null
    mv "$out/gen$scale/events.jsonl" "$input"
fi
lines=$(wc -l <"$input")
bytes=$(wc -c <"$input")
core="taskset -c 0"
command -v taskset >/dev/null || core=""

$core "$dir/bench/jansson_ref" "$input" >"$out/ref.txt"
read_rate=$(awk '$1 == "read" {print $2}' "$out/ref.txt")
jansson_rate=$(awk '$1 == "jansson" {print $2}' "$out/ref.txt")

best=0
rss=0
for run in 1 2 3; do
    rm -rf "$out/replay"
    $core "$bin" replay --input "$input" --out "$out/replay" --close-all 2>"$out/replay.log"
    rate=$(sed -n 's/.* \([0-9][0-9]*\) events\/s$/\1/p' "$out/replay.log")
    rss=$(sed -n 's/.*peak RSS \([0-9][0-9]*\) MiB.*/\1/p' "$out/replay.log")
    [ "$rate" -gt "$best" ] && best=$rate
done

echo
echo "input: $input: $lines events, $((bytes / lines)) bytes/event on average"
cat "$out/replay.log"
echo
printf '| %-44s | %14s | %14s |\n' "measure (one core: $core)" "events/s" "vs jansson"
printf '|%s|%s|%s|\n' "----------------------------------------------" "----------------" "----------------"
printf '| %-44s | %14s | %14s |\n' "read lines only (getline)" "$read_rate" \
    "$(awk "BEGIN {printf \"%.2fx\", $read_rate / $jansson_rate}")"
printf '| %-44s | %14s | %14s |\n' "read + jansson json_loadb (reference)" "$jansson_rate" "1.00x"
printf '| %-44s | %14s | %14s |\n' "opswatch replay --close-all (best of 3)" "$best" \
    "$(awk "BEGIN {printf \"%.2fx\", $best / $jansson_rate}")"
echo
echo "peak RSS of opswatch replay: $rss MiB"
