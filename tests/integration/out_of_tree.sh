#!/bin/sh
# tests/integration/out_of_tree.sh BUILD_DIR SOURCE_DIR
#
# The plugin author's path end to end: `cmake --install` into a temporary
# prefix, build docs/examples/sysctl with nothing but
# `pkg-config assay-plugin`, then list and run it with the installed
# assayctl (which must find the installed executor by itself).
set -eu
build=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
pc=$(find "$tmp/prefix" -name assay-plugin.pc)
[ -n "$pc" ] || { echo "FAIL: assay-plugin.pc not installed"; exit 1; }
export PKG_CONFIG_PATH="$(dirname "$pc")"

mkdir "$tmp/plugins"
# shellcheck disable=SC2046 # word splitting of pkg-config output is wanted
cc -Wall -Wextra -Werror $(pkg-config --cflags assay-plugin) \
    -o "$tmp/plugins/sysctl.so" "$src/docs/examples/sysctl/sysctl.c" \
    $(pkg-config --libs assay-plugin)

# Only the entry symbol is exported.
exports=$(nm -D --defined-only "$tmp/plugins/sysctl.so" | awk '$2 == "T" {print $3}')
[ "$exports" = "assay_module_v1" ] || {
    echo "FAIL: exported: $exports"; exit 1; }

"$tmp/prefix/bin/assayctl" plugins --local --plugins-dir "$tmp/plugins" \
    >"$tmp/plugins.txt"
grep -q "sysctl.equals(key: string, expected: string)" "$tmp/plugins.txt" || {
    echo "FAIL: catalogue:"; cat "$tmp/plugins.txt"; exit 1; }

cat >"$tmp/spec.json" <<'SPEC'
{"id": "oot", "action": "sysctl.equals",
 "targets": [{"key": "kernel.ostype", "expected": "Linux"},
             {"key": "kernel.ostype", "expected": "Plan9"}]}
SPEC
set +e
"$tmp/prefix/bin/assayctl" run --local --json --plugins-dir "$tmp/plugins" \
    "$tmp/spec.json" >"$tmp/out.json"
code=$?
set -e
[ "$code" = 1 ] || { echo "FAIL: exit code $code, want 1"; cat "$tmp/out.json"; exit 1; }
python3 - "$tmp/out.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
assert [x["status"] for x in r] == ["pass", "fail"], r
assert r[0]["findings"][0]["evidence"]["actual"] == "Linux", r
PY
echo "1 passed, 0 failed"
