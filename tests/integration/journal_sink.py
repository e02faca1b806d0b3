#!/usr/bin/python3
"""journal_sink.py SOCKET OUT - stands in for journald in
tests/integration/test_systemd.c: binds the journal's native socket
(a datagram socket; systemd's journal-native protocol) and appends each
entry it receives to OUT as its fields, one per line, then a blank line.
Fields in the binary form (NAME, newline, 64-bit length, data) are
written as NAME=data. Runs until killed."""
import os
import socket
import struct
import sys


def fields(dgram):
    out, i = [], 0
    while i < len(dgram):
        nl = dgram.index(b"\n", i)
        line = dgram[i:nl]
        if b"=" in line:
            out.append(line)
            i = nl + 1
        else:  # NAME\n<u64 le length><data>\n
            n = struct.unpack("<Q", dgram[nl + 1:nl + 9])[0]
            out.append(line + b"=" + dgram[nl + 9:nl + 9 + n])
            i = nl + 9 + n + 1
    return out


def main(path, out):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    os.chmod(path, 0o666)
    with open(out, "ab", buffering=0) as f:
        while True:
            d = s.recv(1 << 20)
            f.write(b"\n".join(fields(d)) + b"\n\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
