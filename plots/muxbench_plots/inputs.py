"""Reading the three inputs: a results file (`muxbench run`), a Google
Benchmark JSON (micro/), a compare JSON (`muxbench compare --json`).

Every problem with an input raises InputError with one line naming the file
and what is wrong; the command prints it and exits with status 2. The results
reader makes the checks every reader of results files makes (docs/results.md,
"Reading results files"; the C++ readers in harness/results.cc make the same):
`file: field: problem`, and tolerates additions. The micro and compare
readers are lenient by design.
"""

import json
import math
import re
import statistics
from dataclasses import dataclass, field

from . import registry, style

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


# The checks every reader of results files makes (docs/results.md, "Reading
# results files"): the same rules, and messages of the same shape, as
# `muxbench show`/`compare`/`run --resume` (harness/results.cc):
#   r.json: cells[3].workload: 7 is not a string; allowed: a non-empty string

_MAX_INT = 2147483647            # what a C int holds
_MAX_COUNT = 9007199254740992     # 2^53: a double still holds every integer
_MAX_FLOAT = 1.7976931348623157e308
# Every metric, in the order of empty_metrics() (harness/cell_observation.cc),
# which is the order both readers check them in.
_METRICS = (
    "requests_per_s", "bytes_per_s", "p50_ns", "p90_ns", "p99_ns", "p999_ns", "max_ns",
    "mean_ns", "errors_total", "mismatches", "client_saturated", "server_busy_fraction",
    "client_busy_fraction", "bound", "server_cpu_user_s", "server_cpu_sys_s",
    "server_cpu_us_per_request", "server_rss_peak_bytes", "server_memory_per_connection_bytes",
    "server_processes_max", "server_threads_max", "server_ctx_switches", "server_rss_idle_bytes",
    "server_cpu_total_s", "server_ctx_switches_per_request", "server_pss_peak_bytes",
    "server_pss_per_connection_bytes", "system_memory_delta_bytes", "server_lines",
    "requests_completed", "requests_censored", "rate_met", "rate_missed_fraction")
_BOOL_METRICS = ("client_saturated", "rate_met")
_BOUNDS = ("server-bound", "client-bound", "both", "neither")
_ERROR_KINDS = ("connect_refused", "connect_timeout", "connect_other", "addr_not_available",
                "reset", "unexpected_eof", "mismatch", "short_reply", "request_timeout", "other",
                "total")


class _Beyond:
    """A number in the text that no double holds (1e400), kept as its text."""

    def __init__(self, text):
        self.text = text


class _NotJSON(Exception):
    pass


def _parse_float(text):
    v = float(text)
    return v if math.isfinite(v) else _Beyond(text)


def _parse_int(text):
    v = int(text)
    if -2**63 <= v < 2**64:
        return v
    # As a C++ reader sees it: beyond 64 bits, a double (not an integer).
    return _parse_float(text)


def _parse_constant(name):
    raise _NotJSON(f"{name} is not JSON")


def _show(v):
    """A value as the messages show it: strings in quotes, JSON otherwise, long ones cut."""
    if isinstance(v, _Beyond):
        s = v.text
    elif isinstance(v, str):   # JSON-escaped, so that a newline still makes one line
        s = "'" + json.dumps(v, ensure_ascii=False)[1:-1] + "'"
    else:
        try:
            s = json.dumps(v, separators=(",", ":"), default=lambda x: getattr(x, "text", "?"))
        except (ValueError, RecursionError):
            s = "..."
    return s if len(s) <= 60 else s[:57] + "..."


def _path(path, key):
    return f"{path}.{key}" if path else str(key)


def _fail(path, v, why):
    raise InputError(f"{path}: {_show(v)} {why}")


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _lone_surrogate(s):
    try:
        s.encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


def _find_beyond(doc):
    """The path and text of the first number no double holds, or None.
    Raises InputError for a string no UTF-8 holds (a lone surrogate, which
    the C++ readers refuse as not valid JSON)."""
    stack = [("", doc)]
    while stack:
        path, v = stack.pop()
        if isinstance(v, _Beyond):
            return path, v.text
        if isinstance(v, str) and _lone_surrogate(v) or \
                isinstance(v, dict) and any(_lone_surrogate(k) for k in v):
            raise InputError(f"not valid JSON (in {path or '(top level)'}): a lone UTF-16 "
                             "surrogate in a string")
        if isinstance(v, dict):
            stack.extend((_path(path, k), x) for k, x in reversed(list(v.items())))
        elif isinstance(v, list):
            stack.extend((f"{path}[{i}]", x) for i, x in reversed(list(enumerate(v))))
    return None


def parse_json_text(text):
    """JSON text as the C++ readers parse it (harness/json_check.h): a number
    no double holds, NaN and Infinity are errors naming the field.
    Raises InputError without the file name."""
    try:
        doc = json.loads(text, parse_float=_parse_float, parse_int=_parse_int,
                         parse_constant=_parse_constant)
    except json.JSONDecodeError as e:
        raise InputError(f"not valid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
    except _NotJSON as e:
        raise InputError(f"not valid JSON: {e}") from None
    except RecursionError:
        raise InputError("not valid JSON: nested too deeply") from None
    beyond = _find_beyond(doc)
    if beyond is not None:
        path, token = beyond
        raise InputError(f"{path or '(top level)'}: {token} is out of range; allowed: a finite "
                         "number (at most about 1.8e308)")
    return doc


def _required(obj, path, key, allowed):
    if not isinstance(obj, dict) or key not in obj:
        raise InputError(f"{_path(path, key)}: missing; allowed: {allowed}")
    return obj[key]


def _or_null(allowed, nullable):
    return f"{allowed}, or null" if nullable else allowed


def _check_string(obj, path, key, nullable, allowed):
    if key in obj and not (nullable and obj[key] is None) and not isinstance(obj[key], str):
        _fail(_path(path, key), obj[key],
              "is not a string; allowed: " + _or_null(allowed, nullable))


def _number_value(v, path, lo, hi, allowed):
    if not _is_number(v):
        _fail(path, v, "is not a number; allowed: " + allowed)
    if not (lo <= v <= hi) or not math.isfinite(float(v)):
        _fail(path, v, "is out of range; allowed: " + allowed)
    return v


def _check_number(obj, path, key, lo, hi, nullable, allowed):
    if key in obj and not (nullable and obj[key] is None):
        _number_value(obj[key], _path(path, key), lo, hi, _or_null(allowed, nullable))


def _check_integer(obj, path, key, lo, hi, nullable, allowed):
    if key not in obj or (nullable and obj[key] is None):
        return
    v, p, a = obj[key], _path(path, key), _or_null(allowed, nullable)
    if not _is_int(v):
        _fail(p, v, "is not an integer; allowed: " + a)
    if not lo <= v <= hi:
        _fail(p, v, "is out of range; allowed: " + a)


def _check_bool(obj, path, key, nullable):
    if key in obj and not (nullable and obj[key] is None) and not isinstance(obj[key], bool):
        _fail(_path(path, key), obj[key],
              "is not true or false; allowed: true, false" + (", null" if nullable else ""))


def _require_object(v, path, allowed):
    if not isinstance(v, dict):
        _fail(path, v, "is not an object; allowed: " + allowed)


def _check_object(obj, path, key, nullable, allowed):
    if key not in obj or (nullable and obj[key] is None):
        return None
    _require_object(obj[key], _path(path, key), _or_null(allowed, nullable))
    return obj[key]


def _check_list(obj, path, key, allowed):
    if key not in obj:
        return None
    if not isinstance(obj[key], list):
        _fail(_path(path, key), obj[key], "is not a list; allowed: " + allowed)
    return obj[key]


def _check_string_list(obj, path, key, allowed):
    for i, v in enumerate(_check_list(obj, path, key, allowed) or []):
        if not isinstance(v, str):
            _fail(f"{_path(path, key)}[{i}]", v, "is not a string; allowed: " + allowed)


def check_loadgen_report(r, path):
    """What is read from a load generator's report (as check_loadgen_report in
    harness/cell_observation.cc): its status, and the type of every field the
    metrics, verdicts and charts use."""
    _require_object(r, path, "the load generator's --json report, an object (docs/results.md)")
    status = _required(r, path, "status", "ok, failed")
    if not isinstance(status, str) or status not in ("ok", "failed"):
        _fail(_path(path, "status"), status, "is not a status; allowed: ok, failed")
    _check_string(r, path, "failure_reason", True, "one line")
    count, num = "a count from 0 to 2^53", "a number of at least 0"

    def obj(o, p, key):
        return _check_object(o, p, key, True, "an object")

    for key, fields, hi, allowed in (
            ("throughput", ("requests_per_s", "bytes_per_s"), _MAX_FLOAT, num),
            ("phases", ("ramp_ns", "warmup_ns", "measure_ns", "drain_ns"), _MAX_FLOAT, num),
            ("connect", ("attempted", "established", "failed"), _MAX_COUNT, count),
            ("requests", ("completed", "completed_in_window", "sent"), _MAX_COUNT, count),
            ("verification", ("verified_replies", "mismatched_replies"), _MAX_COUNT, count),
            ("config", ("timeout_s",), _MAX_FLOAT, num)):
        o = obj(r, path, key)
        for f in fields if o is not None else ():
            _check_number(o, _path(path, key), f, 0, hi, True, allowed)
    for key in ("latency", "latency_uncorrected"):
        lat = obj(r, path, key)
        if lat is None:
            continue
        lp = _path(path, key)
        for f in ("p50_ns", "p90_ns", "p99_ns", "p999_ns", "max_ns", "mean_ns"):
            _check_number(lat, lp, f, 0, _MAX_FLOAT, True, num)
        _check_number(lat, lp, "count", 0, _MAX_COUNT, True, count)
        hist = obj(lat, lp, "histogram")
        if hist is None:
            continue
        hp = _path(lp, "histogram")
        for i, b in enumerate(_check_list(hist, hp, "buckets", "a list of [value_ns, count] pairs")
                              or []):
            bp = f"{_path(hp, 'buckets')}[{i}]"
            if not isinstance(b, list) or len(b) != 2:
                _fail(bp, b, "is not a [value_ns, count] pair")
            _number_value(b[0], bp + "[0]", 0, _MAX_FLOAT, num)
            _number_value(b[1], bp + "[1]", 0, _MAX_COUNT, count)
    errors = obj(r, path, "errors")
    for k in _ERROR_KINDS if errors is not None else ():
        _check_number(errors, _path(path, "errors"), k, 0, _MAX_COUNT, True, count)
    by_phase = obj(r, path, "errors_by_phase")
    for phase, counts in (by_phase or {}).items():
        pp = _path(_path(path, "errors_by_phase"), phase)
        _require_object(counts, pp, "an object of error counts")
        for k in _ERROR_KINDS:
            _check_number(counts, pp, k, 0, _MAX_COUNT, True, count)
    client = obj(r, path, "client")
    if client is not None:
        _check_bool(client, _path(path, "client"), "client_saturated", True)
        _check_number(client, _path(path, "client"), "busy_fraction", 0, _MAX_FLOAT, True, num)


def _check_environment(doc):
    e = _required(doc, "", "environment", "an object (where and how the run happened)")
    _require_object(e, "environment", "an object (where and how the run happened)")
    for k in ("host", "kernel", "cpu_model", "compiler", "cxx_flags", "build_type", "sanitizer",
              "git_commit", "libevent_version", "liburing_version", "harness_version",
              "server_path", "loadgen_path"):
        _check_string(e, "environment", k, True, "a string")
    _check_integer(e, "environment", "cpu_count", 0, 1 << 20, True, "a number of CPUs")
    for k in ("nofile_soft", "nofile_hard", "mem_total_bytes"):
        _check_integer(e, "environment", k, -2**63, 2**63 - 1, True, "an integer")
    _check_bool(e, "environment", "git_dirty", True)
    _check_object(e, "environment", "sysctl", True, "an object")
    net = _check_object(e, "environment", "network", False, "an object")
    if net is not None:
        np_ = "environment.network"
        _check_string(net, np_, "kind", False, "a string, e.g. loopback")
        _check_string(net, np_, "server_address", True, "an address")
        _check_object(net, np_, "netem", True, "an object")
        for i, p in enumerate(_check_list(net, np_, "path", "a list of objects") or []):
            pp = f"{np_}.path[{i}]"
            _require_object(p, pp, "an object with keys host, role, interface")
            _check_string(p, pp, "host", True, "a host name")
            _check_string(p, pp, "role", True, "a role")
            _check_object(p, pp, "interface", False, "an object")
    for i, h in enumerate(_check_list(e, "environment", "hosts", "a list of objects") or []):
        _require_object(h, f"environment.hosts[{i}]", "an object")


def _check_suite(doc):
    s = _required(doc, "", "suite", "an object (the suite as it ran)")
    _require_object(s, "suite", "an object (the suite as it ran)")
    for k in ("name", "description", "source"):
        _check_string(s, "suite", k, False, "a string")
    _check_string_list(s, "suite", "strategies", "a list of strategy names")
    _check_string_list(s, "suite", "workloads", "a list of workload names")
    for i, c in enumerate(_check_list(s, "suite", "connections", "a list of connection counts")
                          or []):
        if not _is_int(c):
            _fail(f"suite.connections[{i}]", c, "is not an integer; allowed: a connection count")
    for k in ("duration_s", "warmup_s", "pause_s"):
        _check_number(s, "suite", k, 0, _MAX_FLOAT, False, "a number of seconds")
    _check_integer(s, "suite", "repeat", 1, _MAX_INT, False, "an integer of at least 1")
    _check_integer(s, "suite", "loadgen_ranks", 1, _MAX_INT, False, "an integer of at least 1")
    _check_integer(s, "suite", "loadgen_threads", 1, _MAX_INT, True, "an integer of at least 1")
    placement = _check_object(s, "suite", "placement", False, "an object")
    if placement is not None:
        for k in ("server_cpus", "loadgen_cpus"):
            _check_string(placement, "suite.placement", k, True, "a CPU list")
    _check_object(s, "suite", "workload_params", False, "an object")
    _check_object(s, "suite", "server_args", False, "an object")
    _check_list(s, "suite", "skip", "a list of skip rules")


def _check_cell(c, p):
    _require_object(c, p, "an object (one cell)")
    for k in ("id", "strategy", "workload"):
        v = _required(c, p, k, "a non-empty string")
        if not isinstance(v, str):
            _fail(_path(p, k), v, "is not a string; allowed: a non-empty string")
        if not v:
            _fail(_path(p, k), v, "is empty; allowed: a non-empty string")
    st = _required(c, p, "status", "ok, rate_not_met, failed, skipped")
    if not isinstance(st, str) or st not in STATUSES:
        _fail(_path(p, "status"), st,
              "is not a status; allowed: ok, rate_not_met, failed, skipped")
    _required(c, p, "connections", "an integer of at least 1")
    _check_integer(c, p, "connections", 1, _MAX_INT, False, "an integer of at least 1")
    _required(c, p, "repetition", "an integer of at least 0")
    _check_integer(c, p, "repetition", 0, _MAX_INT, False, "an integer of at least 0")
    _check_integer(c, p, "active", 0, _MAX_INT, False, "an integer of at least 0")
    _check_string(c, p, "family", True, "a strategy family")
    _check_string(c, p, "reason", True, "one line")
    _check_string(c, p, "started", False, "a time")
    _check_number(c, p, "elapsed_s", 0, _MAX_FLOAT, False, "a number of seconds")

    _required(c, p, "params", "an object (what shaped the load)")
    params = _check_object(c, p, "params", False, "an object (what shaped the load)")
    pp = _path(p, "params")
    _check_integer(params, pp, "message_size_bytes", 1, _MAX_INT, False, "a size in bytes")
    _check_integer(params, pp, "pipeline", 1, _MAX_INT, False, "an integer of at least 1")
    _check_number(params, pp, "rate_per_s", 0, _MAX_FLOAT, True, "requests per second")
    _check_bool(params, pp, "reconnect", False)
    _check_number(params, pp, "duration_s", 0, _MAX_FLOAT, False, "a number of seconds")
    _check_number(params, pp, "warmup_s", 0, _MAX_FLOAT, False, "a number of seconds")
    _check_integer(params, pp, "loadgen_threads", 1, _MAX_INT, True, "an integer of at least 1")
    _check_integer(params, pp, "loadgen_ranks", 1, _MAX_INT, False, "an integer of at least 1")
    _check_integer(params, pp, "server_threads", 1, _MAX_INT, True, "an integer of at least 1")
    _check_string_list(params, pp, "server_args", "a list of server flags")

    placement = _check_object(c, p, "placement", False, "an object")
    if placement is not None:
        for k in ("server_cpus", "loadgen_cpus"):
            _check_string(placement, _path(p, "placement"), k, True, "a CPU list")
    metrics = _check_object(c, p, "metrics", True, "an object of metrics")
    if metrics is not None:
        mp = _path(p, "metrics")
        for k in _METRICS:
            if k in _BOOL_METRICS:
                _check_bool(metrics, mp, k, True)
            elif k == "bound":
                b = metrics.get("bound")
                if b is not None and (not isinstance(b, str) or b not in _BOUNDS):
                    _fail(_path(mp, "bound"), b,
                          "is not a side; allowed: server-bound, client-bound, both, neither, null")
            else:
                _check_number(metrics, mp, k, -_MAX_FLOAT, _MAX_FLOAT, True, "a number")
    if c.get("loadgen") is not None:
        check_loadgen_report(c["loadgen"], _path(p, "loadgen"))
    for k in ("loadgen_process", "server", "measurement"):
        _check_object(c, p, k, False, "an object")


def check_results(doc):
    """Raises InputError (without the file name) when `doc` breaks a rule."""
    _require_object(doc, "(top level)", "a muxbench results file, an object")
    tool = _required(doc, "", "tool", "muxbench (a file written by muxbench run)")
    if tool != "muxbench":
        _fail("tool", tool, "is not muxbench; allowed: muxbench (a file written by muxbench run)")
    v = _required(doc, "", "schema_version", str(RESULTS_SCHEMA_VERSION))
    if not _is_number(v) or v != RESULTS_SCHEMA_VERSION:
        _fail("schema_version", v, f"is not {RESULTS_SCHEMA_VERSION}; allowed: "
                                   f"{RESULTS_SCHEMA_VERSION} (the version this muxbench reads)")
    _check_string(doc, "", "started", False, "a time")
    _required(doc, "", "finished", "a time, or null while running or when interrupted")
    _check_string(doc, "", "finished", True, "a time")
    _check_string_list(doc, "", "command_line", "a list of strings")
    for i, r in enumerate(_check_list(doc, "", "resumed", "a list of objects") or []):
        _require_object(r, f"resumed[{i}]", "an object with keys at, host, git_commit, "
                                            "cells_before")
        _check_integer(r, f"resumed[{i}]", "cells_before", 0, 2**63 - 1, False, "a count")
    _check_environment(doc)
    _check_suite(doc)
    cells = _required(doc, "", "cells", "a list of cells")
    if not isinstance(cells, list):
        _fail("cells", cells, "is not a list; allowed: a list of cells")
    ids = set()
    for i, c in enumerate(cells):
        _check_cell(c, f"cells[{i}]")
        if c["id"] in ids:
            _fail(f"cells[{i}].id", c["id"], "appears twice; allowed: each cell id once")
        ids.add(c["id"])


def _cell(c):
    reason, loadgen = c.get("reason"), c.get("loadgen")
    # A strategy run with --threads N from the suite is its own series.
    strategy = c["strategy"]
    threads = c["params"].get("server_threads")
    if _is_int(threads):
        strategy += f"/t{threads}"
    return Cell(raw=c, id=c["id"], strategy=strategy,
                family=style.family_of(c["strategy"], c.get("family")),
                workload=c["workload"], connections=c["connections"],
                active=c["active"] if "active" in c else c["connections"],
                repetition=c["repetition"], status=c["status"], reason=reason,
                params=c["params"], placement=_dict(c.get("placement")),
                metrics=_dict(c.get("metrics")), loadgen=loadgen)


def load_results(path):
    """Reads and checks a results file; InputError names the file and the field."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise InputError(f"{path}: cannot open: {e.strerror or e}") from None
    try:
        doc = parse_json_text(data.decode("utf-8"))
        check_results(doc)
    except UnicodeDecodeError:
        raise InputError(f"{path}: not valid JSON: not UTF-8 text") from None
    except InputError as e:
        raise InputError(f"{path}: {e}") from None
    return Results(path=str(path), raw=doc, environment=doc["environment"], suite=doc["suite"],
                   cells=[_cell(c) for c in doc["cells"]], started=doc.get("started"),
                   finished=doc["finished"])


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
        mechanism = registry.MICRO_ALIASES.get(mechanism, mechanism)
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
