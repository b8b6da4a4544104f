#!/bin/sh
# deps.sh ITEM...: install the Debian packages that are missing; as root with apt-get,
# otherwise print the exact command to run. An ITEM is a package name (checked with dpkg) or
# "command:package" (checked by looking for the command, so that a tool installed some other
# way, such as Node.js from its vendor's repository, is not replaced).
missing=""
for item in "$@"; do
    case "$item" in
    *:*)
        command -v "${item%%:*}" >/dev/null 2>&1 || missing="$missing ${item#*:}"
        ;;
    *)
        dpkg-query -W -f='${Status}' "$item" 2>/dev/null | grep -q "install ok installed" ||
            missing="$missing $item"
        ;;
    esac
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
    echo "deps: installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing >/dev/null || {
        echo "deps: apt-get install$missing failed"; exit 1; }
else
    echo "deps: missing Debian packages; run:"
    echo "  sudo apt-get update && sudo apt-get install -y$missing"
    exit 1
fi
