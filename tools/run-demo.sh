#!/bin/sh
# run-demo.sh OPSWATCH: `make run` until the live daemon lands: generate a quarter of traffic,
# replay it, and print the Panel report (the Markdown snapshots).
set -eu
bin=$1
out=${OPSWATCH_DEMO_DIR:-build/demo}
rm -rf "$out"
mkdir -p "$out"
"$bin" gen --seed 1 --start 2021-01 --months 3 --out "$out/input" >/dev/null
echo "generated $(wc -l <"$out/input/events.jsonl") events into $out/input/events.jsonl"
"$bin" replay --input "$out/input/events.jsonl" --out "$out/replay" --close-all
for md in "$out"/replay/snapshots/*.md; do
    echo
    echo "=================================================================="
    cat "$md"
done
echo
echo "outputs: $out/replay/{alerts,aggregates,deadletter}.jsonl and $out/replay/snapshots/"
