"""How close does muxbench-loadgen come to a minimal hand-written client?

Driven by scripts/loadgen-overhead.sh (which builds and finds the binaries).
Against one `muxbench-server --strategy epoll`, for every connection count,
REPS repetitions; each repetition runs muxbench-minclient and
muxbench-loadgen with the same settings (64-byte ping-pong, closed loop,
pipeline 1, same warm-up and duration, same CPU), in alternating order
(ABBA: min,lg then lg,min ...), so that the machine's drift falls on both
alike. Reported per connection count: the median (min-max) of

  rps ratio     loadgen requests/s / minclient requests/s, per repetition
  CPU/req       each client's CPU (user + sys, measurement only) per request

and whether the goal holds (issue 15): ratio >= 0.95 and loadgen CPU/req
<= minclient's + 10 %. A BENCHMARK: run it alone on the machine.
"""

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

GOAL_RATIO = 0.95
GOAL_CPU = 1.10


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", default="build/bin")
    p.add_argument("--connections", default="10 100 1000")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--duration", type=float, default=4.0)
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--server-cpu", default="")
    p.add_argument("--client-cpu", default="")
    p.add_argument("--loadgen-arg", action="append", default=[],
                   help="extra muxbench-loadgen flag (repeatable), e.g. to try a setting")
    p.add_argument("--out", default="", help="also write the table here")
    p.add_argument("--json", default="", help="also write every repetition as JSON here")
    a = p.parse_args()
    if a.reps < 1:
        p.error("--reps: at least 1")
    if nproc() >= 2 and not a.server_cpu and not a.client_cpu:
        # As `muxbench run` lays a cell out: the server alone on CPU 0.
        a.server_cpu, a.client_cpu = "0", "1"
    return a


def nproc():
    return len(os.sched_getaffinity(0))


def start_server(a, work):
    cmd = [os.path.join(a.bin, "muxbench-server"), "--strategy", "epoll", "--port", "0"]
    if a.server_cpu:
        cmd = ["taskset", "-c", a.server_cpu] + cmd
    out = open(os.path.join(work, "server.out"), "w+")
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    for _ in range(200):
        out.seek(0)
        m = re.search(r"^READY .*port=(\d+).*pid=(\d+)", out.read(), re.M)
        if m:
            return proc, int(m.group(1)), int(m.group(2))
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    out.seek(0)
    sys.exit("loadgen-overhead: the server did not start: " + out.read())


def cpu_flag(a):
    return ["--cpu", a.client_cpu] if a.client_cpu else []


def run_min(a, port, conns):
    line = subprocess.run(
        [os.path.join(a.bin, "muxbench-minclient"), "--target", f"127.0.0.1:{port}",
         "--connections", str(conns), "--warmup", str(a.warmup), "--duration", str(a.duration)]
        + cpu_flag(a), check=True, capture_output=True, text=True).stdout
    kv = dict(re.findall(r"(\w+)=([^ \n]+)", line))
    n = int(kv["requests"])
    cpu = float(kv["cpu_user_s"]) + float(kv["cpu_sys_s"])
    return {"rps": float(kv["requests_per_s"]), "cpu_us_per_req": cpu * 1e6 / n if n else None,
            "errors": int(kv["errors"])}


def run_lg(a, port, conns, work):
    path = os.path.join(work, "lg.json")
    subprocess.run(
        [os.path.join(a.bin, "muxbench-loadgen"), "--target", f"127.0.0.1:{port}",
         "--connections", str(conns), "--warmup", str(a.warmup), "--duration", str(a.duration),
         "--quiet", "--json", path] + cpu_flag(a) + a.loadgen_arg, check=True)
    r = json.load(open(path))
    c = r["client"]
    cpu = (c["cpu_user_s"] or 0) + (c["cpu_sys_s"] or 0)
    done = r["requests"]["completed_in_window"]
    return {"rps": r["throughput"]["requests_per_s"] or 0.0,
            "cpu_us_per_req": cpu * 1e6 / done if done else None,
            "errors": r["errors"]["total"],
            "client_saturated": c["client_saturated"]}


def med(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "-"
    return f"{statistics.median(xs):.3f} ({min(xs):.3f}-{max(xs):.3f})"


def med_us(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "-"
    return f"{statistics.median(xs):.2f} ({min(xs):.2f}-{max(xs):.2f})"


def table(a, rows, header):
    lines = header + [
        f"{'conns':>6} | {'rps ratio lg/min: median (min-max)':>36} | "
        f"{'min rps':>9} {'lg rps':>9} | {'min us/req':>18} {'lg us/req':>18} "
        f"{'cpu lg/min':>10} | goal"]
    for conns, reps in rows.items():
        ratios = [r["lg"]["rps"] / r["min"]["rps"] for r in reps if r["min"]["rps"]]
        cpu_ratio = [r["lg"]["cpu_us_per_req"] / r["min"]["cpu_us_per_req"] for r in reps
                     if r["lg"]["cpu_us_per_req"] and r["min"]["cpu_us_per_req"]]
        ok = (ratios and statistics.median(ratios) >= GOAL_RATIO and cpu_ratio
              and statistics.median(cpu_ratio) <= GOAL_CPU)
        lines.append(
            f"{conns:>6} | {med(ratios):>36} | "
            f"{statistics.median(r['min']['rps'] for r in reps):>9.0f} "
            f"{statistics.median(r['lg']['rps'] for r in reps):>9.0f} | "
            f"{med_us([r['min']['cpu_us_per_req'] for r in reps]):>18} "
            f"{med_us([r['lg']['cpu_us_per_req'] for r in reps]):>18} "
            f"{(statistics.median(cpu_ratio) if cpu_ratio else float('nan')):>10.3f} | "
            f"{'met' if ok else 'NOT met'}")
    lines.append(f"# goal (issue 15): rps ratio >= {GOAL_RATIO} and lg CPU/req <= min CPU/req "
                 f"x {GOAL_CPU:.2f}, on the medians")
    return "\n".join(lines)


def main():
    a = parse_args()
    conns_list = [int(c) for c in a.connections.split()]
    work = tempfile.mkdtemp(prefix="muxbench-overhead.")
    proc, port, _ = start_server(a, work)
    header = [
        f"# muxbench-loadgen vs muxbench-minclient, {time.strftime('%Y-%m-%d %H:%M %Z')}, "
        f"{nproc()} CPUs, kernel {os.uname().release}",
        f"# server: muxbench-server --strategy epoll (cpu {a.server_cpu or 'any'}); "
        f"clients on cpu {a.client_cpu or 'any'}; 1 client thread, 64-byte lines, closed loop, "
        f"pipeline 1",
        f"# {a.reps} interleaved repetitions (ABBA) x {a.warmup:g} s warm-up + {a.duration:g} s; "
        f"loadgen extra flags: {' '.join(a.loadgen_arg) or 'none'}"]
    rows = {c: [] for c in conns_list}
    total = a.reps * len(conns_list) * 2
    done = 0
    t_start = time.time()
    try:
        for rep in range(a.reps):
            for conns in conns_list:
                order = ("min", "lg") if rep % 2 == 0 else ("lg", "min")
                res = {}
                for side in order:
                    elapsed = time.time() - t_start
                    left = elapsed / done * (total - done) if done else (a.warmup + a.duration + 1) * total
                    print(f"[{done + 1}/{total}] rep {rep + 1}/{a.reps} c{conns} {side} "
                          f"(~{left:.0f} s left)", file=sys.stderr, flush=True)
                    res[side] = run_min(a, port, conns) if side == "min" else run_lg(a, port, conns, work)
                    done += 1
                rows[conns].append(res)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait()
    text = table(a, rows, header)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"header": header, "rows": {str(k): v for k, v in rows.items()}}, f, indent=1)


if __name__ == "__main__":
    main()
