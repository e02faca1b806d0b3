#!/bin/sh
# tests/integration/test_man.sh BUILD_DIR - the man pages the build made
# render without a warning, and assayd.conf(5) lists every key assayd
# knows (its KEYS section is generated from --help-config).
set -u
build=$1
fail=0
for page in assayd.8 assayctl.1 assayd.conf.5 assay-plugin.7; do
    f=$build/man/$page
    if [ ! -s "$f" ]; then
        echo "FAIL $page: not made"; fail=1; continue
    fi
    warn=$(MANWIDTH=80 man --warnings -l "$f" 2>&1 >/dev/null)
    if [ -n "$warn" ]; then
        echo "FAIL $page: $warn"; fail=1
    else
        echo "ok $page renders"
    fi
done
text=$(MANWIDTH=200 man -l "$build/man/assayd.conf.5" 2>/dev/null)
missing=0
for key in $("$build/bin/assayd" --help-config | awk 'NR > 1 && /^[a-z]/ {print $1}'); do
    case "$text" in
    *"$key ("*) ;;
    *) echo "FAIL assayd.conf.5 lacks $key"; missing=1 ;;
    esac
done
[ $missing = 0 ] && echo "ok assayd.conf.5 lists every key"
[ $fail = 0 ] && [ $missing = 0 ]
