#!/usr/bin/python3
"""metrics_probe.py - what tests/integration/test_metrics.c asks of a
metrics endpoint, with a real Prometheus text parser (Debian's
python3-prometheus-client).

  metrics_probe.py scrape HOST:PORT
      prints {"name": {"label=value,...": value}} of every sample
  metrics_probe.py status HOST:PORT METHOD PATH [HEADER_BYTES]
      prints the HTTP status code (0: the connection was closed)

With $AUTH set, scrape and status send it as the Authorization header.
  metrics_probe.py idle HOST:PORT N SECONDS
      holds N idle connections (those it can open) for SECONDS
"""
import http.client
import json
import os
import socket
import sys
import time

from prometheus_client.parser import text_string_to_metric_families


def hostport(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


def auth():
    """$AUTH, when set, as the Authorization header."""
    return {"Authorization": os.environ["AUTH"]} if os.environ.get("AUTH") else {}


def scrape(where):
    c = http.client.HTTPConnection(*hostport(where), timeout=10)
    c.request("GET", "/metrics", headers=auth())
    r = c.getresponse()
    assert r.status == 200, r.status
    assert r.getheader("Content-Type").startswith("text/plain; version=0.0.4")
    out = {}
    for fam in text_string_to_metric_families(r.read().decode()):
        for s in fam.samples:
            key = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            out.setdefault(s.name, {})[key] = s.value
    print(json.dumps(out))


def status(where, method, path, header_bytes=0):
    try:
        c = http.client.HTTPConnection(*hostport(where), timeout=10)
        headers = auth()
        if header_bytes:
            headers["X-Big"] = "a" * int(header_bytes)
        c.request(method, path, body=b"x=1" if method == "POST" else None,
                  headers=headers)
        print(c.getresponse().status)
    except (ConnectionError, http.client.HTTPException, OSError):
        print(0)


def idle(where, n, seconds):
    socks = []
    for _ in range(int(n)):
        try:
            socks.append(socket.create_connection(hostport(where), timeout=2))
        except OSError:
            break
    print(f"held {len(socks)}", flush=True)
    time.sleep(float(seconds))


if __name__ == "__main__":
    {"scrape": scrape, "status": status, "idle": idle}[sys.argv[1]](
        *sys.argv[2:])
