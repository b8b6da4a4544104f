#!/bin/sh
# run.sh [OPSWATCH]: schema agreement test (see check.js). Called by `make test-schemas` as
# `sh tests/schema/run.sh build/opswatch`; the binary is not needed yet and is ignored.
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
exec node "$dir/check.js"
