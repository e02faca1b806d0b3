#!/bin/sh
# tests/integration/test_deb.sh BUILD_DIR - the Debian package CPack makes
# from this build, installed into a throwaway root (dpkg --root, the
# maintainer scripts run outside it and leave the host alone), started
# from the installed files, a job run through it, then removed and
# purged: nothing of it left behind.
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
echo "ok made $(basename "$deb")"

root=$tmp/root
mkdir -p "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/info"
touch "$root/var/lib/dpkg/status"
dpkg() {
    command dpkg --root="$root" --log="$tmp/dpkg.log" \
        --force-script-chrootless --force-depends --force-not-root "$@"
}
dpkg -i "$deb" >"$tmp/dpkg.out" 2>&1 || fail "dpkg -i: $(cat "$tmp/dpkg.out")"
for f in usr/bin/assayd usr/bin/assayctl usr/lib/systemd/system/assayd.service \
    usr/lib/systemd/system/assayd@.service usr/share/man/man8/assayd.8 \
    usr/share/man/man5/assayd.conf.5 usr/share/bash-completion/completions/assayctl \
    usr/include/assay/action.h; do
    [ -e "$root/$f" ] || [ -e "$root/$f.gz" ] || fail "not installed: /$f"
done
ls "$root"/usr/lib/*/assay/plugins/assay-action_noop.so "$root"/usr/lib/assay/plugins/assay-action_noop.so 2>/dev/null | grep -q . ||
    fail "no noop plugin installed"
echo "ok installed"

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

dpkg -r assay >"$tmp/dpkg.out" 2>&1 || fail "dpkg -r: $(cat "$tmp/dpkg.out")"
[ -e "$root/usr/bin/assayd" ] && fail "dpkg -r left /usr/bin/assayd"
dpkg -P assay >"$tmp/dpkg.out" 2>&1 || fail "dpkg -P: $(cat "$tmp/dpkg.out")"
left=$(find "$root" -type f ! -path "$root/var/lib/dpkg/*" | head -5)
[ -z "$left" ] || fail "left after purge: $left"
echo "ok removed and purged"
