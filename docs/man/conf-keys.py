#!/usr/bin/python3
"""conf-keys.py - assayd.conf(5)'s KEYS section from `assayd
--help-config`, so that the page and the program can never disagree.

  conf-keys.py TEMPLATE.scd.in OUT.scd < help-config-output
"""
import sys


def keys(text):
    out, key = [], None
    for line in text.splitlines()[1:]:
        if line and not line[0].isspace():
            name, typ, rest = line.split(None, 2)
            default, allowed = rest.rsplit("  ", 1) if "  " in rest \
                else (rest, "")
            key = f"*{name}* ({typ}, default {default.strip()}" + \
                (f", {allowed.strip()}" if allowed.strip() else "") + ")"
        elif line.strip() and key:
            out.append(f"{key}\n\t{line.strip()}\n")
            key = None
    return "\n".join(out)


if __name__ == "__main__":
    template = open(sys.argv[1]).read()
    text = keys(sys.stdin.read()).replace("\\", "\\\\")
    open(sys.argv[2], "w").write(template.replace("@KEYS@", text))
