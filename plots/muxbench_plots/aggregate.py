"""From cells to what a chart draws: points (one per strategy, workload
variant and connection count, over all repetitions) and series.

A workload may run in several variants (two message sizes, several
target rates at one connection count, ...). A parameter splits a workload
into variants when it takes more than one value among the cells of one
strategy at one connection count, i.e. when merging would mix different
experiments into one "median". A parameter that changes only with the
connection count (e.g. a rate scaled with connections) does not split.
For a workload that keeps some connections idle (`idle`) `active` always
splits: its chart holds it fixed.
"""

import json
import statistics
import zlib
from dataclasses import dataclass, field

from . import registry, style
from .inputs import number

# Parameters that can split a workload into variants, in label order.
# The `bound` classes a cell records (docs/results.md, "Which side limited a
# cell"), from the one that says the least about the server to the most.
BOUND_CLASSES = ("both", "client-bound", "neither", "server-bound")

_VARIANT_PARAMS = ("message_size_bytes", "pipeline", "rate_per_s", "reconnect", "duration_s",
                   "warmup_s", "loadgen_threads", "server_args", "active")


def _param(cell, key):
    if key == "active":
        return cell.active
    v = cell.params.get(key)
    if isinstance(v, (list, dict)):
        return json.dumps(v, sort_keys=True)
    return v


def variant_label(key, value):
    if key == "message_size_bytes":
        return f"message {value} B"
    if key == "rate_per_s":
        return "closed loop" if value is None else f"rate {style.fmt_count(value)}/s"
    if key == "reconnect":
        return "reconnect" if value else "no reconnect"
    if key == "loadgen_threads":
        return f"{value} loadgen threads" if value is not None else "default loadgen threads"
    if key in ("duration_s", "warmup_s"):
        return f"{key.split('_')[0]} {value} s"
    if key == "server_args":
        try:
            args = json.loads(value) if isinstance(value, str) else value
        except ValueError:
            args = value
        if isinstance(args, list) and not args:
            return "server defaults"  # the other variant gave the server flags (e.g. an io_uring option)
        return "server " + (" ".join(map(str, args)) if isinstance(args, list) else str(args))
    return f"{key} {value}"


def _slug_part(key, value):
    short = {"message_size_bytes": "msg", "rate_per_s": "rate", "pipeline": "pipe",
             "reconnect": "reconnect", "duration_s": "dur", "warmup_s": "warm",
             "loadgen_threads": "lgthreads",
             "server_args": "args", "active": "active"}.get(key, key)
    if key == "server_args":
        return short + str(hash_text(str(value)) % 10000)
    return f"{short}{value}"


def hash_text(s):
    return zlib.crc32(s.encode("utf-8"))


def slugify(text):
    out = []
    for ch in str(text).lower():
        out.append(ch if ch.isalnum() or ch in "._-" else "-")
    slug = "".join(out).strip("-")
    while "--" in slug:
        slug = slug.replace("--", "-")
    return slug or "x"


def median(values):
    """The median, or None for no values."""
    values = list(values)
    return statistics.median(values) if values else None


@dataclass
class Stat:
    median: float
    min: float
    max: float
    n: int


@dataclass
class Point:
    """One strategy at one connection count in one workload variant: all its
    repetitions."""
    strategy: str
    family: str | None
    connections: int
    active: int
    cells: list = field(default_factory=list)

    @property
    def ok_cells(self):
        return [c for c in self.cells if c.status == "ok"]

    @property
    def measured_cells(self):
        """The repetitions whose numbers stand: ok, and those that ran but
        missed their open-loop rate (drawn, hollow)."""
        return [c for c in self.cells if c.measured]

    @property
    def rate_missed(self):
        """True when a repetition missed its open-loop rate."""
        return any(c.rate_missed for c in self.cells)

    @property
    def not_ok_cells(self):
        return [c for c in self.cells if c.status != "ok"]

    @property
    def status(self):
        """'ok' (every repetition ok), 'rate_not_met' (every one measured, some
        missed the rate), 'partial' (some measured), 'failed' (none measured,
        at least one failed) or 'skipped' (all skipped)."""
        measured = len(self.measured_cells)
        if measured == len(self.cells):
            return "rate_not_met" if self.rate_missed else "ok"
        if measured:
            return "partial"
        if any(c.status == "failed" for c in self.cells):
            return "failed"
        return "skipped"

    def stat(self, metric, scale=1.0):
        """Median, min and max of a metric over the measured repetitions that
        have it."""
        vals = [v * scale for v in (c.metric(metric) for c in self.measured_cells)
                if v is not None]
        if not vals:
            return None
        return Stat(median(vals), min(vals), max(vals), len(vals))

    def any_flag(self, metric):
        return any(c.metrics.get(metric) is True for c in self.measured_cells)

    def bound(self):
        """Which side limited this point (the cells' `bound` metric: server-bound,
        client-bound, both, neither): the class most of the measured
        repetitions have; a tie goes to the class that says the least for the server
        (both, then client-bound), so a point is never called the server's
        on a coin flip. None when no repetition classified itself."""
        votes = [c.metrics.get("bound") for c in self.measured_cells]
        votes = [v for v in votes if v in BOUND_CLASSES]
        if not votes:
            return None
        return max(BOUND_CLASSES, key=lambda b: (votes.count(b), -BOUND_CLASSES.index(b)))


@dataclass
class Group:
    """One workload variant: the cells one throughput/latency chart shows."""
    workload: str
    variant: tuple          # ((param, value), ...) of the splitting params
    points: list            # Point, sorted by strategy then connections

    @property
    def label(self):
        bits = [variant_label(k, v) for k, v in self.variant]
        return self.workload + (" · " + ", ".join(bits) if bits else "")

    @property
    def slug(self):
        return slugify("-".join([self.workload] + [_slug_part(k, v) for k, v in self.variant]))

    @property
    def cells(self):
        return [c for p in self.points for c in p.cells]

    @property
    def strategies(self):
        seen = {}
        for p in self.points:
            seen.setdefault(p.strategy, p.family)
        return sorted(seen, key=lambda s: style.strategy_sort_key(s, seen[s]))

    @property
    def connection_counts(self):
        return sorted({p.connections for p in self.points})

    def point(self, strategy, connections):
        for p in self.points:
            if p.strategy == strategy and p.connections == connections:
                return p
        return None

    def variant_value(self, key):
        for k, v in self.variant:
            if k == key:
                return v
        return None


def _workload_order(name, seen_order):
    known = registry.WORKLOADS
    return (known.index(name) if name in known else len(known), seen_order.index(name))


def group_cells(cells):
    """Cells -> [Group], workloads in the contract's order, then variants."""
    by_workload = {}
    for c in cells:
        by_workload.setdefault(c.workload, []).append(c)
    seen_order = list(by_workload)
    groups = []
    for workload in sorted(by_workload, key=lambda w: _workload_order(w, seen_order)):
        wcells = by_workload[workload]
        at_point = {}
        for c in wcells:
            at_point.setdefault((c.strategy, c.connections), []).append(c)
        split = []
        for key in _VARIANT_PARAMS:
            if key == "active" and registry.keeps_idle(workload):
                split.append(key)
                continue
            if any(len({json.dumps(_param(c, key), sort_keys=True) for c in cs}) > 1
                   for cs in at_point.values()):
                split.append(key)
        variants = {}
        for c in wcells:
            variant = tuple((k, _param(c, k)) for k in split)
            vkey = json.dumps(variant, sort_keys=True)
            variants.setdefault(vkey, (variant, []))[1].append(c)

        def vsort(item):
            variant = item[0]
            return tuple((v is None, number(v) if number(v) is not None else 0, str(v))
                         for _, v in variant)

        for variant, vcells in sorted(variants.values(), key=vsort):
            points = {}
            for c in vcells:
                key = (c.strategy, c.connections)
                if key not in points:
                    points[key] = Point(c.strategy, c.family, c.connections, c.active)
                points[key].cells.append(c)
            for p in points.values():
                p.cells.sort(key=lambda c: c.repetition)
            ordered = sorted(points.values(),
                             key=lambda p: (style.strategy_sort_key(p.strategy, p.family),
                                            p.connections))
            groups.append(Group(workload, variant, ordered))
    return groups


@dataclass
class Series:
    """What one strategy's line in one panel shows: x, the median y, and the
    min-max over repetitions."""
    strategy: str
    family: str | None
    x: list
    y: list
    lo: list
    hi: list
    n: list
    label: str | None = None     # legend label when it is not the strategy name
    bound: list = field(default_factory=list)   # per point: Point.bound(), or None
    # Per point: a repetition there missed its open-loop rate (drawn hollow).
    missed: list = field(default_factory=list)

    @property
    def name(self):
        return self.label or self.strategy


@dataclass
class Mark:
    """A point that has no value to draw: drawn as a marker at the axis edge."""
    strategy: str
    family: str | None
    x: float
    kind: str            # "failed" | "skipped" | "no data"
    reasons: list        # (cell id, reason)


def build_series(points, metric, x_of=lambda p: p.connections, scale=1.0):
    """Series per strategy for one metric, plus the marks for points (or
    repetitions) with no value: failed/skipped cells, and ok cells that did
    not measure the metric."""
    by_strategy = {}
    marks = []
    for p in points:
        x = x_of(p)
        st = p.stat(metric, scale)
        if st is not None:
            s = by_strategy.setdefault(p.strategy, Series(p.strategy, p.family, [], [], [], [], []))
            s.x.append(x)
            s.y.append(st.median)
            s.lo.append(st.min)
            s.hi.append(st.max)
            s.n.append(st.n)
            s.bound.append(p.bound())
            s.missed.append(p.rate_missed)
        for kind in ("failed", "skipped"):
            bad = [c for c in p.cells if c.status == kind]
            if bad:
                marks.append(Mark(p.strategy, p.family, x, kind,
                                  [(c.id, c.reason or "no reason recorded") for c in bad]))
        missing = [c for c in p.measured_cells if c.metric(metric) is None]
        if missing and st is None:
            marks.append(Mark(p.strategy, p.family, x, "no data",
                              [(c.id, f"{metric} not measured") for c in missing]))
    series = sorted(by_strategy.values(),
                    key=lambda s: style.strategy_sort_key(s.strategy, s.family))
    for s in series:
        order = sorted(range(len(s.x)), key=lambda i: s.x[i])
        for attr in ("x", "y", "lo", "hi", "n", "bound", "missed"):
            setattr(s, attr, [getattr(s, attr)[i] for i in order])
    return series, marks
