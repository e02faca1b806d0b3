"""assaykeys.py - CURVE for the bench's Python drivers (docs/security.md).

The members a driver starts on 127.0.0.1 make the cluster's keys on their
first start in ASSAY_KEYS_DIR, which the driver points at a directory of
its run (use_dir); every socket it opens then presents the operator's key
and trusts the cluster's (apply)."""
import os
import re


def use_dir(path):
    """The keys directory of this run, for the members it starts (they
    inherit the environment) and for apply()."""
    os.environ["ASSAY_KEYS_DIR"] = path


def _key(path, field):
    with open(path, encoding="ascii") as f:
        m = re.search(r'^\s*%s\s*=\s*"(.{40})"' % field, f.read(), re.M)
    if not m:
        raise ValueError("%s: no %s (not a zcert key file)" % (path, field))
    return m.group(1).encode()


def apply(sock, key="operator"):
    """Makes `sock` a CURVE client with `key`, trusting the cluster: call
    once a member has started (it makes the keys). Nothing with
    ASSAY_SECURITY=none (a cluster run without security)."""
    if os.environ.get("ASSAY_SECURITY") == "none":
        return
    d = os.environ["ASSAY_KEYS_DIR"]
    own = os.path.join(d, key + ".key_secret")
    sock.curve_serverkey = _key(os.path.join(d, "cluster.key"), "public-key")
    sock.curve_publickey = _key(own, "public-key")
    sock.curve_secretkey = _key(own, "secret-key")


def wait_made(timeout_s=10.0):
    """Waits until a member has made the keys (its first start)."""
    import time
    d = os.environ["ASSAY_KEYS_DIR"]
    end = time.monotonic() + timeout_s
    while not (os.path.exists(os.path.join(d, "cluster.key")) and
               os.path.exists(os.path.join(d, "operator.key_secret"))):
        if time.monotonic() > end:
            raise SystemExit("no keys made in %s within %.0f s" %
                             (d, timeout_s))
        time.sleep(0.05)
