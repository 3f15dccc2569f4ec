#!/usr/bin/python3
"""A stand-in for mpirun, for harness tests of distributed runs on one
machine. It takes the command line the harness builds (hosts.h
mpirun_argv: `--mca K V`, `--bind-to none`, then contexts
`-np N [--host H:N] ARGV...` separated by `:`), runs every context's ranks
here, ignoring the host, and exits with the first nonzero status of its
ranks. SIGTERM is passed on to the ranks, as mpirun does.
"""
import os
import signal
import subprocess
import sys

args = sys.argv[1:]
contexts, current = [], []
i = 0
while i < len(args):
    a = args[i]
    if not contexts and not current and a == "--mca":
        i += 3
        continue
    if not contexts and not current and a in ("--bind-to", "--oversubscribe"):
        i += 2 if a == "--bind-to" else 1
        continue
    if a == ":":
        contexts.append(current)
        current = []
    else:
        current.append(a)
    i += 1
contexts.append(current)

ranks = []
for ctx in contexts:
    n = 1
    while ctx and ctx[0].startswith("-"):
        if ctx[0] == "-np":
            n = int(ctx[1])
        if ctx[0] not in ("-np", "--host"):
            sys.exit("fake_mpirun: unknown option " + ctx[0])
        ctx = ctx[2:]
    ranks += [ctx] * n
size = len(ranks)

procs = []
for rank, argv in enumerate(ranks):
    env = dict(os.environ, OMPI_COMM_WORLD_RANK=str(rank), OMPI_COMM_WORLD_SIZE=str(size))
    procs.append(subprocess.Popen(argv, env=env))


def forward(sig, _frame):
    for p in procs:
        if p.poll() is None:
            p.send_signal(sig)


signal.signal(signal.SIGTERM, forward)
signal.signal(signal.SIGINT, forward)
status = 0
for p in procs:
    rc = p.wait()
    if rc != 0 and status == 0:
        status = rc if rc > 0 else 128 - rc
sys.exit(status)
