#!/bin/sh
# run.sh [OPSWATCH]: schema agreement test (see check.js). Called by `make test-schemas` as
# `sh tests/schema/run.sh build/opswatch`. With the binary it also checks that
# schemas/config.schema.json is what `opswatch validate-config --schema` generates from the
# configuration maps, and that every record of a generated replay matches the output schemas.
# Installs the locked npm packages (ajv, ajv-formats) on first use.
dir=$(cd "$(dirname "$0")" && pwd) || exit 1
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "schema agreement: node and npm are needed; run:"
    echo "  sudo apt-get update && sudo apt-get install -y nodejs npm"
    exit 1
fi
if [ ! -d "$dir/node_modules/ajv" ] || [ ! -d "$dir/node_modules/ajv-formats" ]; then
    (cd "$dir" && npm ci --no-audit --no-fund --silent) || {
        echo "schema agreement: npm ci failed in $dir"
        exit 1
    }
fi
bin=${1:-}
if [ -z "$bin" ]; then
    exec node "$dir/check.js"
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bin" validate-config --schema >"$tmp/config.schema.json"
if ! cmp -s "$tmp/config.schema.json" "$dir/../../schemas/config.schema.json"; then
    echo "FAIL: schemas/config.schema.json is stale: regenerate it with"
    echo "  build/opswatch validate-config --schema > schemas/config.schema.json"
    exit 1
fi
"$bin" gen --seed 11 --start 2021-03 --months 4 --out "$tmp/gen" >/dev/null
"$bin" replay --input "$tmp/gen/events.jsonl" --out "$tmp/out" 2>/dev/null
node "$dir/check.js" --replay "$tmp/out"
