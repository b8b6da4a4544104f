#!/bin/sh
# deps.sh PKG...: install the Debian packages that are missing; as root with apt-get,
# otherwise print the exact command to run.
missing=""
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
    echo "deps: installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing >/dev/null || {
        echo "deps: apt-get install failed"; exit 1; }
else
    echo "deps: missing Debian packages; run:"
    echo "  sudo apt-get update && sudo apt-get install -y$missing"
    exit 1
fi
