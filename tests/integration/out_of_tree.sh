#!/bin/sh
# tests/integration/out_of_tree.sh BUILD_DIR SOURCE_DIR
#
# The newcomer's path end to end, on an install moved to another prefix:
# - `cmake --install --prefix P1` writes only under P1, and a second
#   install keeps an edited assayd.conf;
# - the install, moved to P2, finds its executor, modules, plugins and
#   configuration by itself (assayd --check, assayctl plugins --local);
# - docs/examples/sysctl builds with nothing but `pkg-config assay-plugin`
#   and installs into its `plugindir`, where the installed daemon reads;
# - `assayctl plugin new` makes a project that builds with
#   find_package(Assay) and passes its own libassay-testing test, and the
#   same sources build with pkg-config;
# - the plugin runs with inline params (`run --local --action`);
# - examples/client builds with nothing but `pkg-config assay-client` and
#   runs its JobSpec on the installed daemon; the library exports only its
#   API.
set -eu
build=$1
src=$2
tmp=$(mktemp -d)
# shellcheck source=member.sh
. "$src/tests/integration/member.sh"
member_cleanup "$tmp"
fail() { echo "FAIL: $*"; exit 1; }

# ---- install: only under the prefix; the operator's config is kept ----
cmake --install "$build" --prefix "$tmp/p1" >"$tmp/install.log"
while read -r f; do
    case $f in "$tmp/p1/"*) ;; *) fail "installed outside the prefix: $f" ;; esac
done <"$build/install_manifest.txt"
conf=$tmp/p1/etc/assay/assayd.conf
[ -f "$conf" ] || fail "no assayd.conf under the prefix"
echo 'log_level = "warn";  # edited by the operator' >>"$conf"
cmake --install "$build" --prefix "$tmp/p1" >"$tmp/install2.log"
grep -q 'edited by the operator' "$conf" || fail "a reinstall overwrote assayd.conf"
[ -f "$conf.new" ] || fail "the shipped config was not put beside it as assayd.conf.new"
grep -q "Kept: $conf" "$tmp/install2.log" || fail "the reinstall did not say it kept assayd.conf"

# A staged install (packagers' DESTDIR) writes only under the stage.
DESTDIR="$tmp/stage" cmake --install "$build" --prefix /opt/assay >"$tmp/stage.log"
[ -f "$tmp/stage/opt/assay/etc/assay/assayd.conf" ] || fail "DESTDIR: no assayd.conf under the stage"
[ -x "$tmp/stage/opt/assay/bin/assayd" ] || fail "DESTDIR: no assayd under the stage"
[ ! -e /opt/assay ] || fail "DESTDIR: /opt/assay was written"
rm -rf "$tmp/stage"

# ---- the install moved elsewhere works on its own ----
mv "$tmp/p1" "$tmp/p2"
p=$tmp/p2
"$p/bin/assayd" --check >"$tmp/check.txt" 2>&1 || {
    cat "$tmp/check.txt"; fail "assayd --check of the moved install"; }
grep -q "configuration OK ($p/etc/assay/assayd.conf); 4 plugins loaded, 0 refused, from $p/lib/assay/plugins" \
    "$tmp/check.txt" || { cat "$tmp/check.txt"; fail "assayd --check did not use the moved install"; }

export PKG_CONFIG_PATH="$p/lib/pkgconfig"
plugindir=$(pkg-config --variable=plugindir assay-plugin)
[ -d "$plugindir" ] || fail "plugindir $plugindir is not a directory"

# ---- the guide's example, with pkg-config, into plugindir ----
# shellcheck disable=SC2046 # word splitting of pkg-config output is wanted
cc -Wall -Wextra -Werror $(pkg-config --cflags assay-plugin) \
    -o "$tmp/sysctl.so" "$src/docs/examples/sysctl/sysctl.c" \
    $(pkg-config --libs assay-plugin)
exports=$(nm -D --defined-only "$tmp/sysctl.so" | awk '$2 == "T" {print $3}')
[ "$exports" = "assay_module_v1" ] || fail "exported: $exports"
install -m 0755 "$tmp/sysctl.so" "$plugindir/"
"$p/bin/assayctl" plugins --local >"$tmp/plugins.txt" || {
    cat "$tmp/plugins.txt"; fail "plugins --local"; }
grep -q "sysctl.equals(key: string, expected: string)" "$tmp/plugins.txt" || {
    cat "$tmp/plugins.txt"; fail "sysctl is not in the installed catalogue"; }

cat >"$tmp/spec.json" <<'SPEC'
{"id": "oot", "action": "sysctl.equals",
 "targets": [{"key": "kernel.ostype", "expected": "Linux"},
             {"key": "kernel.ostype", "expected": "Plan9"}]}
SPEC
set +e
"$p/bin/assayctl" run --local --json "$tmp/spec.json" >"$tmp/out.json"
code=$?
set -e
[ "$code" = 1 ] || { cat "$tmp/out.json"; fail "exit code $code, want 1"; }
/usr/bin/python3 - "$tmp/out.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
assert [x["status"] for x in r] == ["pass", "fail"], r
assert r[0]["findings"][0]["evidence"]["actual"] == "Linux", r
PY

# ---- a new plugin from the scaffold, with the CMake package ----
"$p/bin/assayctl" plugin new sshd --dir "$tmp/sshd" >"$tmp/new.txt"
grep -q "wrote $tmp/sshd/sshd.c" "$tmp/new.txt" || { cat "$tmp/new.txt"; fail "plugin new"; }
"$p/bin/assayctl" plugin new sshd --dir "$tmp/sshd" 2>"$tmp/again.txt" && fail "plugin new overwrote a project"
grep -q "exists and is not empty; nothing written" "$tmp/again.txt" || { cat "$tmp/again.txt"; fail "plugin new again"; }
cmake -S "$tmp/sshd" -B "$tmp/sshd/build" -DCMAKE_PREFIX_PATH="$p" >"$tmp/cmake.log" 2>&1 || {
    cat "$tmp/cmake.log"; fail "the scaffold does not configure"; }
cmake --build "$tmp/sshd/build" >>"$tmp/cmake.log" 2>&1 || {
    cat "$tmp/cmake.log"; fail "the scaffold does not build"; }
ctest --test-dir "$tmp/sshd/build" --output-on-failure >"$tmp/ctest.log" 2>&1 || {
    cat "$tmp/ctest.log"; fail "the scaffold's own test fails"; }

# ---- the same sources with pkg-config, and its test with assay-testing ----
# shellcheck disable=SC2046
cc -Wall -Wextra -Werror $(pkg-config --cflags assay-plugin) \
    -o "$tmp/sshd-pc.so" "$tmp/sshd/sshd.c" $(pkg-config --libs assay-plugin)
# shellcheck disable=SC2046
cc -Wall -Wextra -Werror $(pkg-config --cflags assay-testing) \
    -o "$tmp/test_sshd" "$tmp/sshd/test_sshd.c" $(pkg-config --libs assay-testing)
"$tmp/test_sshd" "$tmp/sshd-pc.so" >"$tmp/test.log" 2>&1 || {
    cat "$tmp/test.log"; fail "test_sshd with pkg-config"; }

# ---- inline params: no JSON file ----
printf 'Port 22\nPermitRootLogin no\n' >"$tmp/sshd_config"
set +e
"$p/bin/assayctl" run --local --plugins-dir "$tmp/sshd/build" \
    --action sshd.contains --param text="PermitRootLogin no" \
    --target path="$tmp/sshd_config" --target path=/nonexistent >"$tmp/inline.txt"
code=$?
set -e
[ "$code" = 2 ] || { cat "$tmp/inline.txt"; fail "inline run exited $code, want 2"; }
grep -q "has the line 'PermitRootLogin no'" "$tmp/inline.txt" || {
    cat "$tmp/inline.txt"; fail "inline run output"; }
# ---- a control plane in C, with pkg-config assay-client ----
# shellcheck disable=SC2046
cc -Wall -Wextra -Werror $(pkg-config --cflags assay-client) \
    -o "$tmp/submit_wait" "$src/examples/client/submit_wait.c" \
    $(pkg-config --libs assay-client)
lib=$(pkg-config --variable=libdir assay-client)/libassay-client.so
leaked=$(nm -D --defined-only "$lib" | awk '$2 == "T" && $3 !~ /^assay_client_/ {print $3}')
[ -z "$leaked" ] || fail "libassay-client exports more than its API: $leaked"
# A member of the moved install, running its own jobs.
member_start "$tmp/assayd.log" "$p/bin/assayd" --executors 1
# A sanitized build installs sanitized modules: the example, a plain
# program, loads the transport module only with the sanitizer runtimes
# loaded first.
if ldd "$p/bin/assayd" | grep -q libasan; then
    LD_PRELOAD="$(cc -print-file-name=libasan.so) $(cc -print-file-name=libubsan.so)"
    export LD_PRELOAD
fi
echo '{"action": "noop.pass", "targets": [{}, {}]}' >"$tmp/noop.json"
"$tmp/submit_wait" "$ep" "$tmp/noop.json" >"$tmp/client.txt" 2>&1 || {
    cat "$tmp/client.txt" "$tmp/assayd.log"; fail "submit_wait"; }
[ "$(grep -c ' completed pass$' "$tmp/client.txt")" = 2 ] || {
    cat "$tmp/client.txt"; fail "submit_wait did not see two passing jobs"; }
echo '{"action": "nope.pass"}' >"$tmp/nope.json"
set +e
"$tmp/submit_wait" "$ep" "$tmp/nope.json" >"$tmp/nope.txt" 2>&1
code=$?
set -e
[ "$code" = 2 ] || { cat "$tmp/nope.txt"; fail "submit_wait of nope exited $code, want 2"; }
grep -q "assay.submit: no runtime offers plugin 'nope'" "$tmp/nope.txt" || {
    cat "$tmp/nope.txt"; fail "submit_wait's refusal"; }
unset LD_PRELOAD

echo "1 passed, 0 failed"
