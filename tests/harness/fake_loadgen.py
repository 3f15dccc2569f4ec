#!/usr/bin/python3
"""A stand-in for muxbench-loadgen, for harness tests of what the real one
should never do. It takes the real one's flags and, by FAKE_LOADGEN_MODE:

  ok       opens the connections, sends lines on the active ones for the
           duration (closed loop, one thread), checks the ROT13 replies and
           writes a contract-shaped --json report (docs/results.md)
  hang     ignores SIGTERM and sleeps forever (the harness must kill it)
  garbage     writes a --json file that is not JSON and exits 0
  failed      writes a report with "status": "failed"
  not-object  writes JSON that is not an object ([]) and exits 0
  bad-status  writes {"status": 1} and exits 0
  bad-field   as ok, but the report's client.client_saturated is "yes"

FAKE_LOADGEN_MODE may list modes ("not-object,ok"): the Nth run takes the
Nth (the last one repeats), counted in the file FAKE_LOADGEN_STATE names.
"""
import argparse
import codecs
import json
import os
import signal
import socket
import sys
import time

p = argparse.ArgumentParser()
p.add_argument("--target", required=True)
p.add_argument("--connections", type=int, default=1)
p.add_argument("--active", type=int, default=-1)
p.add_argument("--message-size", type=int, default=64)
p.add_argument("--pipeline", type=int, default=1)
p.add_argument("--warmup", type=float, default=1.0)
p.add_argument("--duration", type=float, default=10.0)
p.add_argument("--rate", type=float, default=0)
p.add_argument("--reconnect", action="store_true")
p.add_argument("--threads", type=int, default=1)
p.add_argument("--timeout", type=float, default=5.0)
p.add_argument("--cpu", default="")
p.add_argument("--json", required=True)
p.add_argument("--quiet", action="store_true")
a = p.parse_args()
modes = os.environ.get("FAKE_LOADGEN_MODE", "ok").split(",")
mode = modes[0]
if len(modes) > 1:
    state = os.environ["FAKE_LOADGEN_STATE"]
    try:
        with open(state) as f:
            runs = int(f.read() or 0)
    except FileNotFoundError:
        runs = 0
    with open(state, "w") as f:
        f.write(str(runs + 1))
    mode = modes[min(runs, len(modes) - 1)]

if mode == "hang":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        time.sleep(60)
def output():
    """--json FILE, or stdout for "-" (how the harness asks for it)."""
    return sys.stdout if a.json == "-" else open(a.json, "w")


if mode in ("garbage", "not-object", "bad-status"):
    with output() as f:
        f.write({"garbage": "{ not json", "not-object": "[]", "bad-status": '{"status": 1}'}[mode])
    sys.exit(0)

host, port = a.target.rsplit(":", 1)
port = int(port)
active = a.connections if a.active < 0 else min(a.active, a.connections)
line = (b"abcdefghijklmnopqrstuvwxyz" * (a.message_size // 26 + 1))[: a.message_size - 1] + b"\n"
expect = codecs.encode(line.decode(), "rot13").encode()
errors = {k: 0 for k in ["connect_refused", "connect_timeout", "connect_other", "reset",
                         "unexpected_eof", "mismatch", "short_reply", "request_timeout",
                         "addr_not_available", "other"]}
lat = []
attempted = established = 0
mismatched = 0


def connect():
    global attempted, established
    attempted += 1
    try:
        s = socket.create_connection((host, port), timeout=a.timeout)
        established += 1
        return s
    except ConnectionRefusedError:
        errors["connect_refused"] += 1
    except OSError:
        errors["connect_other"] += 1
    return None


def request(s):
    """One line and its reply; returns latency in ns or None."""
    global mismatched
    t0 = time.monotonic_ns()
    try:
        s.sendall(line)
        got = b""
        while len(got) < len(expect):
            chunk = s.recv(len(expect) - len(got))
            if not chunk:
                errors["unexpected_eof"] += 1
                return None
            got += chunk
    except socket.timeout:
        errors["request_timeout"] += 1
        return None
    except ConnectionResetError:
        errors["reset"] += 1
        return None
    if got != expect:
        mismatched += 1
        errors["mismatch"] += 1
    return time.monotonic_ns() - t0


t_ramp = time.monotonic()
socks = [] if a.reconnect else [connect() for _ in range(a.connections)]
ramp_ns = int((time.monotonic() - t_ramp) * 1e9)
t0 = time.monotonic()
measure_start = t0 + a.warmup
end = measure_start + a.duration
completed = 0
i = 0
while time.monotonic() < end and mode != "failed":
    if a.reconnect:
        s = connect()
        if s is None:
            time.sleep(0.01)
            continue
        ns = request(s)
        s.close()
    else:
        s = socks[i % active] if active > 0 else None
        i += 1
        if s is None:
            time.sleep(0.01)
            continue
        ns = request(s)
    if ns is not None and time.monotonic() >= measure_start:
        completed += 1
        lat.append(ns)
    if a.rate > 0:
        time.sleep(1.0 / a.rate)
for s in socks:
    if s is not None:
        s.close()

lat.sort()


def pct(q):
    return lat[min(len(lat) - 1, int(q * len(lat)))] if lat else None


L = {"count": len(lat), "min_ns": lat[0] if lat else None,
     "mean_ns": sum(lat) / len(lat) if lat else None, "stdev_ns": None,
     "p50_ns": pct(0.5), "p90_ns": pct(0.9), "p99_ns": pct(0.99), "p999_ns": pct(0.999),
     "p9999_ns": pct(0.9999), "max_ns": lat[-1] if lat else None,
     "histogram": {"lowest_ns": 1000, "highest_ns": 60000000000, "significant_figures": 3,
                   "buckets": []}}
errors["total"] = sum(errors.values())
report = {
    "schema_version": 1, "tool": "fake-loadgen",
    "config": {"target": a.target, "connections": a.connections, "active": active},
    "status": "failed" if mode == "failed" or completed == 0 else "ok",
    "failure_reason": "fake failure" if mode == "failed" else (None if completed else "no replies"),
    "phases": {"ramp_ns": ramp_ns, "warmup_ns": int(a.warmup * 1e9),
               "measure_ns": int(a.duration * 1e9), "drain_ns": 0},
    "connect": {"attempted": attempted, "established": established,
                "failed": attempted - established, "latency": L},
    "requests": {"completed": completed, "bytes_sent": completed * len(line),
                 "bytes_received": completed * len(line)},
    "throughput": {"requests_per_s": completed / a.duration,
                   "bytes_per_s": completed * len(line) / a.duration},
    "rate": None, "latency": L, "latency_uncorrected": None, "errors": errors,
    "verification": {"verified_replies": completed - mismatched, "mismatched_replies": mismatched},
    "timeseries": [],
    "client": {"threads": 1, "cpu_user_s": 0, "cpu_sys_s": 0, "cpu_us_per_request": None,
               "busy_fraction": None, "client_saturated": "yes" if mode == "bad-field" else False},
    "limits": {"nofile_soft": 0, "nofile_hard": 0, "source_addresses": 1},
}
with output() as f:
    json.dump(report, f)
