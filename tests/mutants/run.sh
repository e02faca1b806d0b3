#!/bin/sh
# tests/mutants/run.sh [BUILD_DIR] - `make mutants`: for each mutant in
# mutants.list, remove or invert its guard line in a private copy of the
# working tree, rebuild, and run the suites that must catch it. A mutant
# that no suite catches "survived": the guard has no test. Exit 0 only
# when every mutant was killed. Not part of `make test` (it rebuilds once
# per mutant); writes only under BUILD_DIR (default build-mutants).
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
work=${1:-$top/build-mutants}
mkdir -p "$work"
work=$(cd "$work" && pwd)
src=$work/src
build=$work/build
log=$work/log
rm -rf "$src"
mkdir -p "$src" "$log"
# The working tree as it is (committed or not), without build trees.
(cd "$top" && git ls-files -z | tar --null -T - -cf -) | tar -xf - -C "$src"

echo "mutants: building a sanitized copy in $build (log: $log/build.txt)"
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DASSAY_SANITIZE=ON \
    -DASSAY_WERROR=ON >"$log/build.txt" 2>&1
cmake --build "$build" -j"$(nproc)" >>"$log/build.txt" 2>&1 || {
    echo "mutants: the unmutated copy does not build"; tail -20 "$log/build.txt"; exit 1; }

/usr/bin/python3 - "$top/tests/mutants/mutants.list" "$src" "$build" "$log" <<'PY'
import os, subprocess, sys
listfile, src, build, log = sys.argv[1:5]
blocks = open(listfile).read().split("\n%%\n")[1:]
killed, survived = [], []
for b in blocks:
    lines = b.split("\n")
    meta, i = {}, 0
    while not lines[i].startswith("from:"):
        k, v = lines[i].split(":", 1)
        meta[k.strip()] = v.strip()
        i += 1
    j = lines.index("to:", i)
    frm = "\n".join(lines[i + 1:j]) + "\n"
    to = "\n".join(l for l in lines[j + 1:] if l != "") + ("\n" if any(lines[j + 1:]) else "")
    path = os.path.join(src, meta["file"])
    text = open(path).read()
    if text.count(frm) != 1:
        sys.exit(f"mutant {meta['id']}: its 'from' lines occur {text.count(frm)} times in {meta['file']} (want 1): update mutants.list")
    open(path, "w").write(text.replace(frm, to))
    try:
        b_ok = subprocess.run(["cmake", "--build", build, "-j", str(os.cpu_count())],
                              stdout=open(os.path.join(log, meta["id"] + ".build.txt"), "w"),
                              stderr=subprocess.STDOUT).returncode == 0
        if not b_ok:
            sys.exit(f"mutant {meta['id']}: does not compile (see {log}/{meta['id']}.build.txt): fix its 'to' lines")
        r = subprocess.run(["ctest", "-R", meta["tests"], "--timeout", "300", "-j", "2",
                            "--output-on-failure"],
                           cwd=build, stdout=open(os.path.join(log, meta["id"] + ".txt"), "w"),
                           stderr=subprocess.STDOUT)
        (killed if r.returncode != 0 else survived).append(meta["id"])
        print(f"{meta['id']:32s} {'killed' if r.returncode else 'SURVIVED'}  ({meta['tests']})", flush=True)
    finally:
        open(path, "w").write(text)
subprocess.run(["cmake", "--build", build, "-j", str(os.cpu_count())],
               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
print(f"{len(killed)} killed, {len(survived)} survived" + (": " + ", ".join(survived) if survived else ""))
sys.exit(1 if survived else 0)
PY
