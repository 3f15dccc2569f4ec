"""Issue 16's table from scripts/modes-study.sh's results (and the cores
suite's, if results/reference/cores.json or DIR/cores.json exists): median
requests/s and server CPU per request, each with its ratio to epoll in the
same run.

  /usr/bin/python3 scripts/modes_table.py DIR [VARIANT ...]
"""
import json
import os
import statistics
import sys

CELLS = [("pingpong", 100), ("pingpong", 1000), ("idle", 10000)]
MODES = ["epoll", "epoll-reuseport", "epoll-exclusive", "epoll-handoff", "libevent",
         "libevent-handoff", "libuv", "asio", "io_uring"]


def load(path):
    out = {}
    for c in json.load(open(path))["cells"]:
        if c["status"] != "ok":
            continue
        t = c["params"].get("server_threads")
        name = c["strategy"] + (f"/t{t}" if t else "")
        out.setdefault((name, c["workload"], c["connections"]), []).append(c["metrics"])
    return out


def med(ms, key):
    xs = [m[key] for m in ms if m.get(key) is not None]
    return statistics.median(xs) if xs else None


def entry(data, name, w, n):
    ms, base = data.get((name, w, n)), data.get(("epoll", w, n))
    if not ms or not base:
        return "-"
    rps, cpu = med(ms, "requests_per_s"), med(ms, "server_cpu_us_per_request")
    brps, bcpu = med(base, "requests_per_s"), med(base, "server_cpu_us_per_request")
    return f"{rps / 1e3:.1f}k ({rps / brps:.2f}×), {cpu:.1f} µs ({cpu / bcpu:.2f}×)"


def main():
    d = sys.argv[1]
    variants = sys.argv[2:] or ["default", "fixed-files", "sqpoll", "taskrun=none",
                                "recv-bundle", "send-zc"]
    print("requests/s (ratio to epoll in the same run), server µs CPU/request (ratio)")
    print()
    print("| strategy / mode | " + " | ".join(f"{w} c{n}" for w, n in CELLS) + " |")
    print("|---" * (len(CELLS) + 1) + "|")
    m = load(os.path.join(d, "modes.json"))
    for s in MODES:
        label = s + (" (1 thread)" if "-" in s and s not in ("epoll",) else "")
        print(f"| {label} | " + " | ".join(entry(m, s, w, n) for w, n in CELLS) + " |")
    for v in variants:
        p = os.path.join(d, f"uring-{v.replace('=', '-')}.json")
        if not os.path.exists(p):
            continue
        u = load(p)
        label = "io_uring (defaults)" if v == "default" else f"io_uring --uring-{v}"
        print(f"| {label} | " + " | ".join(entry(u, "io_uring", w, n) for w, n in CELLS) + " |")
    for p in (os.path.join(d, "cores.json"), "results/reference/cores.json"):
        if os.path.exists(p):
            c = load(p)
            names = sorted({k[0] for k in c}, key=lambda s: (s != "epoll", s))
            print()
            print(f"cores suite ({p}): 1 and 2 server threads")
            print()
            print("| mode | pingpong c100 | pingpong c1000 |")
            print("|---|---|---|")
            for s in names:
                print(f"| {s} | " + " | ".join(entry(c, s, "pingpong", n) for n in (100, 1000)) + " |")
            break


if __name__ == "__main__":
    main()
