#!/bin/sh
# tests/integration/test_deb.sh BUILD_DIR - the two Debian packages CPack
# makes from this build, assay and libassay-plugin-dev, installed into a
# throwaway root (dpkg --root, the maintainer scripts run outside it and
# leave the host alone): each has its own files, a job runs through the
# installed programs, a plugin builds with the installed pkg-config files
# and passes its libassay-testing test, then both are removed (dev first)
# and purged: nothing of them left behind.
set -u
build=$1
tmp=$(mktemp -d /tmp/assay-deb-XXXXXX)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL $*"; [ -f "$tmp/m.log" ] && tail -5 "$tmp/m.log"; exit 1; }

(cd "$build" && cpack -B "$tmp/pkg" >"$tmp/cpack.log" 2>&1) ||
    fail "cpack: $(tail -5 "$tmp/cpack.log")"
deb=$(ls "$tmp"/pkg/assay_*_*.deb 2>/dev/null | head -1)
[ -n "$deb" ] || fail "no assay_<version>_<arch>.deb"
dev=$(ls "$tmp"/pkg/libassay-plugin-dev_*_*.deb 2>/dev/null | head -1)
[ -n "$dev" ] || fail "no libassay-plugin-dev_<version>_<arch>.deb"
n=$(ls "$tmp"/pkg/*.deb | wc -l)
[ "$n" = 2 ] || fail "$n packages, want 2: $(ls "$tmp"/pkg/*.deb)"
version=$(dpkg-deb -f "$deb" Version)
# Takes the headers over from the single package of release 1.
for f in Breaks Replaces; do
    dpkg-deb -f "$dev" $f | grep -q "assay (<< 0.1.0-2)" ||
        fail "libassay-plugin-dev $f: $(dpkg-deb -f "$dev" $f)"
done
dpkg-deb -f "$dev" Depends | grep -q "assay (= $version)" ||
    fail "libassay-plugin-dev does not depend on assay (= $version): $(dpkg-deb -f "$dev" Depends)"
[ "$(dpkg-deb -f "$deb" Section)/$(dpkg-deb -f "$dev" Section)" = admin/libdevel ] ||
    fail "sections: $(dpkg-deb -f "$deb" Section)/$(dpkg-deb -f "$dev" Section)"
echo "ok made $(basename "$deb") $(basename "$dev")"

root=$tmp/root
mkdir -p "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/info"
touch "$root/var/lib/dpkg/status"
dpkg() {
    command dpkg --root="$root" --log="$tmp/dpkg.log" \
        --force-script-chrootless --force-depends --force-not-root "$@"
}
dpkg -i "$deb" "$dev" >"$tmp/dpkg.out" 2>&1 || fail "dpkg -i: $(cat "$tmp/dpkg.out")"
dpkg -L assay >"$tmp/assay.list" || fail "dpkg -L assay"
dpkg -L libassay-plugin-dev >"$tmp/dev.list" || fail "dpkg -L libassay-plugin-dev"
# has LIST PATTERN: the package's file list has a path matching PATTERN.
has() { grep -Eq "$2" "$tmp/$1.list"; }
for f in /usr/bin/assayd /usr/bin/assayctl /usr/bin/assay-bench \
    /usr/libexec/assay/assay-executor /assay/plugins/assay-action_noop.so \
    /assay/modules/assay-consensus_raft.so /assay/modules/assay-transport_zmq.so \
    /libassay-client.so.0 /usr/lib/systemd/system/assayd.service \
    /usr/lib/systemd/system/assayd@.service /usr/share/man/man8/assayd.8 \
    /usr/share/man/man5/assayd.conf.5 /usr/share/bash-completion/completions/assayctl \
    /assay/assayd.conf; do
    has assay "$f(\.gz)?\$" || fail "not in assay: $f"
done
for f in /usr/include/assay/action.h /usr/include/assay/testing.h \
    /usr/include/assay/client.h /pkgconfig/assay-plugin.pc /pkgconfig/assay-testing.pc \
    /pkgconfig/assay-client.pc /cmake/Assay/AssayConfig.cmake \
    /usr/share/assay/plugin-template/plugin.c.in /libassay-testing.so.0 \
    /libassay-testing.so /libassay-client.so; do
    has dev "$f\$" || fail "not in libassay-plugin-dev: $f"
done
! has assay '/usr/include/|\.pc$|/cmake/|plugin-template|libassay-testing|libassay-[a-z]+\.so$' ||
    fail "development files in assay: $(grep -E '/usr/include/|\.pc$|/cmake/|plugin-template|libassay-testing|libassay-[a-z]+\.so$' "$tmp/assay.list" | head -3)"
! has dev '/bin/|/libexec/|/assay/plugins/|/assay/modules/|/systemd/|/man/|/etc/|libassay-client\.so\.' ||
    fail "runtime files in libassay-plugin-dev: $(grep -E '/bin/|/libexec/|/assay/plugins/|/assay/modules/|/systemd/|/man/|/etc/|libassay-client\.so\.' "$tmp/dev.list" | head -3)"
cat "$tmp/assay.list" "$tmp/dev.list" >"$tmp/all.list"
while read -r f; do
    [ -e "$root$f" ] || [ -L "$root$f" ] || fail "listed, not installed: $f"
done <"$tmp/all.list"
echo "ok installed: $(grep -c . "$tmp/assay.list") paths in assay, $(grep -c . "$tmp/dev.list") in libassay-plugin-dev"

# Started from the installed files: they find their plugins, modules and
# executor beside their own bin/.
port=$(( 20000 + $$ % 20000 ))
export ASSAY_KEYS_DIR="$tmp/keys"
"$root/usr/bin/assayd" --no-config --node-id pkg --listen "tcp://127.0.0.1:$port" \
    --events "tcp://127.0.0.1:$((port + 1))" --executors 1 \
    --set min_mem_free_percent=0 --set max_cpu_percent=100 \
    --set cgroup_root= >"$tmp/m.log" 2>&1 &
pid=$!
i=0
until grep -q "registered with" "$tmp/m.log" 2>/dev/null; do
    i=$((i + 1)); [ $i -gt 100 ] && fail "the installed assayd did not start"
    sleep 0.1
done
printf '{"id": "pkg", "action": "noop.pass"}\n' >"$tmp/spec.json"
"$root/usr/bin/assayctl" --endpoint "tcp://127.0.0.1:$port" --wait-ms 20000 \
    submit "$tmp/spec.json" --wait >"$tmp/run.out" 2>&1 ||
    fail "a job through the installed files: $(cat "$tmp/run.out")"
grep -q "pass" "$tmp/run.out" || fail "no pass: $(cat "$tmp/run.out")"
kill "$pid"; wait "$pid" 2>/dev/null; pid=
echo "ok a job ran through the installed files"

# A plugin from the installed template (libassay-plugin-dev, found by the
# installed assayctl), built with nothing but the installed .pc files
# (relocatable: they work inside the root), and its own test run through
# the installed libassay-testing and executor.
pc=$(dirname "$(grep '/assay-plugin\.pc$' "$tmp/dev.list")")
export PKG_CONFIG_PATH="$root$pc"
"$root/usr/bin/assayctl" plugin new tiny --dir "$tmp/tiny" >"$tmp/new.out" 2>&1 ||
    fail "plugin new from the installed template: $(cat "$tmp/new.out")"
# shellcheck disable=SC2046 # word splitting of pkg-config output is wanted
cc -Wall -Wextra -Werror $(pkg-config --cflags assay-plugin) -o "$tmp/tiny.so" \
    "$tmp/tiny/tiny.c" $(pkg-config --libs assay-plugin) >"$tmp/cc.out" 2>&1 ||
    fail "a plugin with the installed assay-plugin.pc: $(cat "$tmp/cc.out")"
# shellcheck disable=SC2046
cc -Wall -Wextra -Werror $(pkg-config --cflags assay-testing) -o "$tmp/test_tiny" \
    "$tmp/tiny/test_tiny.c" $(pkg-config --libs assay-testing) >"$tmp/cc.out" 2>&1 ||
    fail "its test with the installed assay-testing.pc: $(cat "$tmp/cc.out")"
"$tmp/test_tiny" "$tmp/tiny.so" >"$tmp/test.out" 2>&1 ||
    fail "the plugin's test: $(cat "$tmp/test.out")"
echo "ok a plugin built and tested with the installed libassay-plugin-dev"

# Development files first, as apt would (it depends on assay): assay
# still works without them.
dpkg -r libassay-plugin-dev >"$tmp/dpkg.out" 2>&1 ||
    fail "dpkg -r libassay-plugin-dev: $(cat "$tmp/dpkg.out")"
while read -r f; do
    if [ -f "$root$f" ] || [ -L "$root$f" ]; then
        fail "dpkg -r libassay-plugin-dev left $f"
    fi
done <"$tmp/dev.list"
"$root/usr/bin/assayctl" plugins --local >"$tmp/plugins.out" 2>&1 ||
    fail "assayctl without libassay-plugin-dev: $(cat "$tmp/plugins.out")"
dpkg -r assay >"$tmp/dpkg.out" 2>&1 || fail "dpkg -r assay: $(cat "$tmp/dpkg.out")"
[ -e "$root/usr/bin/assayd" ] && fail "dpkg -r left /usr/bin/assayd"
dpkg -P libassay-plugin-dev assay >"$tmp/dpkg.out" 2>&1 || fail "dpkg -P: $(cat "$tmp/dpkg.out")"
info=$(find "$root/var/lib/dpkg/info" -name 'assay.*' -o -name 'libassay-plugin-dev.*')
[ -z "$info" ] || fail "dpkg still has, after purge: $info"
left=$(find "$root" -type f ! -path "$root/var/lib/dpkg/*" | head -5)
[ -z "$left" ] || fail "left after purge: $left"
echo "ok removed and purged"
