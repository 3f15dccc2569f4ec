"""Reading the three inputs: a results file (`muxbench run`), a Google
Benchmark JSON (micro/), a compare JSON (`muxbench compare --json`).

Every problem with an input raises InputError with one line naming the file
and what is wrong; the command prints it and exits with status 2. The results
reader checks what the charts rely on (docs/results.md is the contract) and
tolerates additions; the micro and compare readers are lenient by design.
"""

import json
import math
import re
import statistics
from dataclasses import dataclass, field

from . import style

RESULTS_SCHEMA_VERSION = 1
# rate_not_met: an open-loop cell that ran cleanly but missed its schedule;
# its metrics stand (docs/results.md, "Rate not met").
STATUSES = ("ok", "rate_not_met", "failed", "skipped")
MEASURED = ("ok", "rate_not_met")


class InputError(Exception):
    """A bad input file; str(e) is the one-line message for the user."""


def read_json(path, what):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise InputError(f"{what} file '{path}' does not exist") from None
    except IsADirectoryError:
        raise InputError(f"{what} file '{path}' is a directory") from None
    except OSError as e:
        raise InputError(f"cannot read {what} file '{path}': {e.strerror}") from None
    try:
        return json.loads(data)
    except UnicodeDecodeError:
        raise InputError(f"{what} file '{path}' is not JSON (not UTF-8 text)") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{what} file '{path}' is not valid JSON: {e.msg} at line {e.lineno} "
                         f"column {e.colno}") from None


def number(x):
    """x as a float if it is a finite JSON number (not a bool), else None."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _dict(x):
    return x if isinstance(x, dict) else {}


# --- results ----------------------------------------------------------------

@dataclass
class Cell:
    raw: dict
    id: str
    strategy: str
    family: str | None
    workload: str
    connections: int
    active: int
    repetition: int
    status: str
    reason: str | None
    params: dict
    placement: dict
    metrics: dict
    loadgen: dict | None

    def metric(self, name):
        return number(self.metrics.get(name))

    @property
    def measured(self):
        """Its metrics stand: ok, or ran but missed its open-loop rate."""
        return self.status in MEASURED

    @property
    def rate_missed(self):
        return self.status == "rate_not_met"

    def latency(self, key="latency"):
        """cell.loadgen[key] (a <LATENCY> object) or None."""
        if not self.loadgen:
            return None
        lat = self.loadgen.get(key)
        return lat if isinstance(lat, dict) else None


@dataclass
class Results:
    path: str
    raw: dict
    environment: dict
    suite: dict
    cells: list
    started: str | None
    finished: str | None

    def cell(self, cell_id):
        for c in self.cells:
            if c.id == cell_id:
                return c
        return None


def _require_int(cell, key, where, minimum):
    v = cell.get(key)
    if isinstance(v, bool) or not isinstance(v, int):
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        else:
            raise InputError(f"{where} has {key}={json.dumps(v)}; expected an integer")
    if v < minimum:
        raise InputError(f"{where} has {key}={v}; expected at least {minimum}")
    return v


def _parse_cell(c, index, path):
    where = f"results file '{path}': cell {index}"
    if not isinstance(c, dict):
        raise InputError(f"{where} is not an object")
    if isinstance(c.get("id"), str):
        where += f" ({c['id']})"
    for key in ("id", "strategy", "workload", "status"):
        if not isinstance(c.get(key), str) or not c.get(key):
            raise InputError(f"{where} has no '{key}' string")
    if c["status"] not in STATUSES:
        raise InputError(f"{where} has status '{c['status']}'; expected ok, rate_not_met, "
                         "failed or skipped")
    connections = _require_int(c, "connections", where, 1)
    active = _require_int(c, "active", where, 0) if c.get("active") is not None else connections
    repetition = _require_int(c, "repetition", where, 0) if c.get("repetition") is not None else 0
    reason = c.get("reason")
    loadgen = c.get("loadgen")
    # A strategy run with --threads N from the suite is its own series.
    strategy = c["strategy"]
    threads = _dict(c.get("params")).get("server_threads")
    if isinstance(threads, int) and not isinstance(threads, bool):
        strategy += f"/t{threads}"
    return Cell(raw=c, id=c["id"], strategy=strategy,
                family=style.family_of(c["strategy"], c.get("family")),
                workload=c["workload"], connections=connections, active=active,
                repetition=repetition, status=c["status"],
                reason=reason if isinstance(reason, str) else None,
                params=_dict(c.get("params")), placement=_dict(c.get("placement")),
                metrics=_dict(c.get("metrics")),
                loadgen=loadgen if isinstance(loadgen, dict) else None)


def load_results(path):
    data = read_json(path, "results")
    if not isinstance(data, dict):
        raise InputError(f"results file '{path}' is not a JSON object")
    tool = data.get("tool")
    if tool is not None and tool != "muxbench":
        raise InputError(f"results file '{path}' was written by '{tool}', not by `muxbench run`")
    version = data.get("schema_version")
    if version is None:
        raise InputError(f"results file '{path}' has no schema_version")
    if version != RESULTS_SCHEMA_VERSION:
        raise InputError(f"results file '{path}' has schema_version {json.dumps(version)}; "
                         f"this tool reads schema_version {RESULTS_SCHEMA_VERSION}")
    cells = data.get("cells")
    if not isinstance(cells, list):
        raise InputError(f"results file '{path}' has no 'cells' list")
    parsed = [_parse_cell(c, i, path) for i, c in enumerate(cells)]
    seen = set()
    for c in parsed:
        if c.id in seen:
            raise InputError(f"results file '{path}': cell id '{c.id}' appears twice")
        seen.add(c.id)
    started, finished = data.get("started"), data.get("finished")
    return Results(path=str(path), raw=data, environment=_dict(data.get("environment")),
                   suite=_dict(data.get("suite")), cells=parsed,
                   started=started if isinstance(started, str) else None,
                   finished=finished if isinstance(finished, str) else None)


def select_cells(results, spec):
    """--cells: comma-separated cell ids. An id without its '/rN' suffix
    means that cell's first repetition that has a histogram (else the first)."""
    chosen = []
    for want in (s.strip() for s in spec.split(",")):
        if not want:
            continue
        exact = results.cell(want)
        if exact is not None:
            chosen.append(exact)
            continue
        reps = sorted((c for c in results.cells if c.id.startswith(want + "/")),
                      key=lambda c: c.repetition)
        if not reps:
            raise InputError(f"--cells: no cell with id '{want}' in '{results.path}'")
        with_hist = [c for c in reps if c.status == "ok" and histogram_buckets(c.latency())]
        chosen.append((with_hist or reps)[0])
    if not chosen:
        raise InputError("--cells: no cell ids given")
    return chosen


def histogram_buckets(latency):
    """[(value_ns, count), ...] sorted by value, from a <LATENCY> object's
    histogram.buckets; entries that are not [number, number>0] are ignored."""
    if not isinstance(latency, dict):
        return []
    hist = latency.get("histogram")
    buckets = hist.get("buckets") if isinstance(hist, dict) else None
    if not isinstance(buckets, list):
        return []
    out = []
    for b in buckets:
        if isinstance(b, (list, tuple)) and len(b) >= 2:
            v, n = number(b[0]), number(b[1])
            if v is not None and n is not None and n > 0:
                out.append((v, n))
    out.sort()
    return out


# --- micro-benchmarks (Google Benchmark --benchmark_format=json) -------------

# Name components Google Benchmark appends that are not arguments.
_MODIFIER = re.compile(r"^(real_time|manual_time|process_time|"
                       r"(min_time|min_warmup_time|iterations|repeats):.*)$")
_N_NAMES = ("n", "fds", "fd", "descriptors", "conns", "connections", "sockets")
_ACTIVE_NAMES = ("active", "ready", "a")
_TIME_UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


def _as_int_or_float(s):
    try:
        return int(s)
    except ValueError:
        pass
    try:
        v = float(s)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


@dataclass
class MicroName:
    family: str        # "BM_Dispatch"
    mechanism: str     # "epoll" (several label components joined with '-')
    n: float | None    # descriptors
    active: float | None
    extras: tuple      # other arguments, (("arg3", 5), ("threads", 2)), part of a chart's key
    has_mechanism: bool = True   # False: the mechanism was made up from the family name


def parse_micro_name(name):
    """'BM_Dispatch/epoll/1000/1' -> family BM_Dispatch, mechanism epoll,
    N 1000, active 1. Named arguments ('fds:1000', 'active:1') work too;
    modifiers Google Benchmark adds ('real_time', 'min_time:0.5',
    'repeats:3') are ignored; 'threads:N' and further arguments become
    extras. Without a label component the mechanism comes from the family
    ('BM_epoll_dispatch' -> 'epoll_dispatch')."""
    parts = [p for p in name.split("/") if p != ""]
    family = parts[0] if parts else name
    labels, positional, extras = [], [], []
    n = active = None
    for p in parts[1:]:
        if _MODIFIER.match(p):
            continue
        if ":" in p:
            key, _, val = p.partition(":")
            v = _as_int_or_float(val)
            k = key.strip().lower()
            if v is None:
                labels.append(p)
            elif k in _N_NAMES and n is None:
                n = v
            elif k in _ACTIVE_NAMES and active is None:
                active = v
            else:
                extras.append((key, v))
            continue
        v = _as_int_or_float(p)
        if v is None:
            labels.append(p)
        else:
            positional.append(v)
    for i, v in enumerate(positional):
        if i == 0 and n is None:
            n = v
        elif i <= 1 and active is None:
            active = v
        else:
            extras.append((f"arg{i + 1}", v))
    if labels:
        mechanism = "-".join(labels)
    else:
        mechanism = re.sub(r"^bm_", "", family, flags=re.IGNORECASE) or family
    return MicroName(family=family, mechanism=mechanism, n=n, active=active, extras=tuple(extras),
                     has_mechanism=bool(labels))


@dataclass
class MicroPoint:
    name: str              # the benchmark's name without an aggregate suffix
    parsed: MicroName
    values_ns: list        # one per repetition (or the one aggregate used)
    value_kind: str        # "ns_per_event" (or another ns_per_* counter) | "items_per_second"
    #                        | "real_time"
    source: str            # "iterations" | "aggregate median" | "aggregate mean"
    error: str | None = None
    label: str | None = None   # Google Benchmark's per-row label (e.g. io_uring's poll mode)

    @property
    def median(self):
        return _median(self.values_ns)


def _median(values):
    """The median, or None for no values."""
    values = list(values)
    return statistics.median(values) if values else None


@dataclass
class Micro:
    path: str
    context: dict
    points: list = field(default_factory=list)
    skipped: list = field(default_factory=list)   # (name, why) for entries not charted


def _entry_value(entry):
    """(ns, kind) of one benchmark entry: the ns_per_event counter if there is
    one, else another ns_per_* counter (ns_per_fd, ns_per_sample, ...), else
    1e9/items_per_second, else real_time per iteration."""
    v = number(entry.get("ns_per_event"))
    if v is not None:
        return v, "ns_per_event"
    for key in sorted(k for k in entry if k.startswith("ns_per_")):
        v = number(entry[key])
        if v is not None:
            return v, key
    ips = number(entry.get("items_per_second"))
    if ips is not None and ips > 0:
        return 1e9 / ips, "items_per_second"
    rt = number(entry.get("real_time"))
    unit = _TIME_UNIT_NS.get(entry.get("time_unit", "ns"))
    if rt is not None and unit is not None:
        return rt * unit, "real_time"
    return None, None


def load_micro(path):
    data = read_json(path, "micro-benchmark")
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise InputError(f"micro-benchmark file '{path}' has no 'benchmarks' list "
                         "(expected Google Benchmark --benchmark_format=json output)")
    micro = Micro(path=str(path), context=_dict(data.get("context")))
    iterations, aggregates, errors, order, counters, labels = {}, {}, {}, [], {}, {}
    for i, e in enumerate(data["benchmarks"]):
        if not isinstance(e, dict) or not isinstance(e.get("name"), str):
            raise InputError(f"micro-benchmark file '{path}': benchmarks[{i}] has no 'name'")
        is_aggregate = e.get("run_type") == "aggregate"
        base = e.get("run_name") if isinstance(e.get("run_name"), str) else e["name"]
        if is_aggregate and base == e["name"] and isinstance(e.get("aggregate_name"), str):
            suffix = "_" + e["aggregate_name"]
            if base.endswith(suffix):
                base = base[: -len(suffix)]
        if base not in order:
            order.append(base)
        # micro/ also records N and A as counters ("watched", "active").
        for key in ("watched", "active"):
            if number(e.get(key)) is not None:
                counters.setdefault(base, {})[key] = number(e.get(key))
        if isinstance(e.get("label"), str) and e["label"]:
            labels[base] = e["label"]
        if e.get("error_occurred"):
            errors[base] = str(e.get("error_message") or "error_occurred")
            continue
        value, kind = _entry_value(e)
        if value is None:
            continue
        if is_aggregate:
            aggregates.setdefault(base, {})[str(e.get("aggregate_name"))] = (value, kind)
        else:
            iterations.setdefault(base, []).append((value, kind))
    for base in order:
        parsed = parse_micro_name(base)
        got = counters.get(base, {})
        if parsed.n is None and "watched" in got:
            parsed.n = got["watched"]
        if parsed.active is None and "active" in got and parsed.n is not None:
            parsed.active = got["active"]
        if base in errors:
            micro.points.append(MicroPoint(base, parsed, [], "", "", error=errors[base],
                                           label=labels.get(base)))
            continue
        if base in iterations:
            vals = iterations[base]
            point = MicroPoint(base, parsed, [v for v, _ in vals], vals[0][1], "iterations")
        elif base in aggregates and ("median" in aggregates[base] or "mean" in aggregates[base]):
            which = "median" if "median" in aggregates[base] else "mean"
            v, kind = aggregates[base][which]
            point = MicroPoint(base, parsed, [v], kind, f"aggregate {which}")
        else:
            micro.skipped.append((base, "no time or ns_per_event value"))
            continue
        point.label = labels.get(base)
        micro.points.append(point)
    return micro


# --- compare ----------------------------------------------------------------

@dataclass
class CompareRow:
    id: str
    strategy: str | None
    workload: str | None
    connections: float | None
    metric: str
    base: float | None
    new: float | None
    change_pct: float | None
    verdict: str


@dataclass
class Compare:
    path: str
    meta: dict      # top-level scalars (base/new file names, thresholds, ...)
    rows: list


def load_compare(path):
    data = read_json(path, "compare")
    if isinstance(data, list):
        data = {"cells": data}
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise InputError(f"compare file '{path}' has no 'cells' list")
    version = data.get("schema_version")
    if version is not None and version != 1:
        raise InputError(f"compare file '{path}' has schema_version {json.dumps(version)}; "
                         "this tool reads schema_version 1")
    rows = []
    for i, c in enumerate(data["cells"]):
        if not isinstance(c, dict):
            raise InputError(f"compare file '{path}': cells[{i}] is not an object")
        strategy = c.get("strategy") if isinstance(c.get("strategy"), str) else None
        workload = c.get("workload") if isinstance(c.get("workload"), str) else None
        connections = number(c.get("connections"))
        cid = c.get("id")
        if not isinstance(cid, str) or not cid:
            bits = [strategy, workload, f"c{connections:g}" if connections is not None else None]
            cid = "/".join(b for b in bits if b) or f"cells[{i}]"
        base, new, change = number(c.get("base")), number(c.get("new")), number(c.get("change_pct"))
        if change is None and base not in (None, 0.0) and new is not None:
            change = (new - base) / base * 100.0
        verdict = c.get("verdict")
        rows.append(CompareRow(id=cid, strategy=strategy, workload=workload,
                               connections=connections,
                               metric=str(c.get("metric") or "metric"), base=base, new=new,
                               change_pct=change,
                               verdict=str(verdict) if verdict is not None else "unknown"))
    meta = {k: v for k, v in data.items()
            if k != "cells" and (isinstance(v, (str, int, float, bool)) or v is None)}
    return Compare(path=str(path), meta=meta, rows=rows)
