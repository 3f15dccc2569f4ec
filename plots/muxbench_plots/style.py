"""How strategies look in every chart, and how numbers read in tables.

One strategy has one colour, one marker and one line style everywhere: the
colour is a shade of its family's colormap (blocking = oranges, readiness =
blues, libevent = greens, libuv = reds, asio = magentas, completion =
purples), the line style is the family's, the marker tells strategies of one
family apart. The style depends only on the strategy name (and its family),
never on which other strategies a run happens to contain, so the same name
looks the same in every chart of every run. Names we do not know get a stable
shade of their family's colormap, or grey when the family is unknown too.
A strategy run with a given number of server threads (suite server_threads)
is the series "<strategy>/t<N>": its strategy's colour, a marker per thread
count, listed right after its strategy.
"""

import zlib

from matplotlib import colormaps
from matplotlib.colors import to_hex

from . import registry

# Families and the canonical order inside each (the registry's order, then
# the micro-benchmark mechanisms): docs/registry.json, generated from the
# binaries' own exports.
FAMILIES = registry.FAMILIES
KNOWN_STRATEGIES = registry.NAMES_BY_FAMILY

_FAMILY_OF = {name: fam for fam, names in KNOWN_STRATEGIES.items() for name in names}

# family -> (colormap, line style); None is the fallback for unknown families.
# The one table here that is about looks, not names: a test checks that every
# family of the registry has an entry.
_FAMILY_LOOK = {
    "blocking": ("Oranges", ":"),
    "readiness": ("Blues", "-"),
    "libevent": ("Greens", "--"),
    "libuv": ("Reds", (0, (3, 1, 1, 1, 1, 1))),
    "asio": ("RdPu", (0, (8, 2, 2, 2))),
    "completion": ("Purples", "-."),
    None: ("Greys", (0, (5, 2, 1, 2))),
}

_MARKERS = ("o", "s", "^", "D", "v", "P", "*", "<", ">", "h")

# Shades span this part of each colormap: light enough to tell apart, dark
# enough to see on white.
_SHADE_LO, _SHADE_HI = 0.45, 0.95


def _stable_hash(name):
    # zlib.crc32, not hash(): Python salts str hashes per process.
    return zlib.crc32(name.encode("utf-8"))


def split_threads(name):
    """'epoll-reuseport/t2' -> ('epoll-reuseport', 2); 'epoll' -> ('epoll', None)."""
    base, sep, tail = name.rpartition("/t")
    if sep and base and tail.isdigit():
        return base, int(tail)
    return name, None


def family_of(name, declared=None):
    """The family of a strategy: the declared one (cell.family) if it is one
    of FAMILIES, else the known table, else a guess from the name's prefix,
    else None."""
    if declared in FAMILIES:
        return declared
    name = split_threads(name)[0]
    if name in _FAMILY_OF:
        return _FAMILY_OF[name]
    lowered = name.lower()
    for prefix, fam in (("libevent", "libevent"), ("bufferevent", "libevent"),
                        ("libuv", "libuv"), ("uv", "libuv"), ("asio", "asio"),
                        ("io_uring", "completion"), ("uring", "completion"),
                        ("epoll", "readiness"), ("select", "readiness"), ("poll", "readiness"),
                        ("thread", "blocking"), ("fork", "blocking")):
        if lowered.startswith(prefix):
            return fam
    return None


def strategy_style(name, family=None):
    """Matplotlib keyword arguments (color, linestyle, marker) for a strategy
    (or a '<strategy>/t<N>' series: its strategy's colour, a marker per N)."""
    fam = family_of(name, family)
    cmap_name, linestyle = _FAMILY_LOOK[fam]
    known = KNOWN_STRATEGIES.get(fam, ())
    base, threads = split_threads(name)
    if base in known:
        i = known.index(base)
        pos = _SHADE_LO + (_SHADE_HI - _SHADE_LO) * (i / max(len(known) - 1, 1))
        marker = _MARKERS[i % len(_MARKERS)]
    else:
        h = _stable_hash(base)
        pos = _SHADE_LO + (_SHADE_HI - _SHADE_LO) * ((h % 1000) / 999)
        marker = _MARKERS[(h // 1000) % len(_MARKERS)]
    if len(known) == 1 and base in known:
        pos = 0.8  # a lone member: a strong shade, not the darkest
    if threads is not None:
        marker = _MARKERS[(_MARKERS.index(marker) + threads) % len(_MARKERS)]
    color = to_hex(colormaps[cmap_name](pos))
    return {"color": color, "linestyle": linestyle, "marker": marker}


def strategy_sort_key(name, family=None):
    """Family order, then the canonical order (a strategy's thread-count
    series right after it, by count), then unknown names by name."""
    fam = family_of(name, family)
    fam_rank = FAMILIES.index(fam) if fam in FAMILIES else len(FAMILIES)
    known = KNOWN_STRATEGIES.get(fam, ())
    base, threads = split_threads(name)
    rank = known.index(base) if base in known else len(known)
    return (fam_rank, rank, base, threads or 0, name)


# Verdicts of `muxbench compare`: anything that means better, worse or
# no-change gets green, red or grey; an unknown verdict gets orange.
_VERDICT_COLOURS = {
    "better": "#2ca02c", "improved": "#2ca02c", "improvement": "#2ca02c", "faster": "#2ca02c",
    "win": "#2ca02c",
    "worse": "#d62728", "regressed": "#d62728", "regression": "#d62728", "slower": "#d62728",
    "loss": "#d62728",
    "same": "#9e9e9e", "unchanged": "#9e9e9e", "noise": "#9e9e9e", "within_noise": "#9e9e9e",
    "within-noise": "#9e9e9e", "insignificant": "#9e9e9e", "neutral": "#9e9e9e",
    "ok": "#9e9e9e",
}
VERDICT_FALLBACK_COLOUR = "#ff7f0e"


def verdict_colour(verdict):
    return _VERDICT_COLOURS.get(str(verdict).lower(), VERDICT_FALLBACK_COLOUR)


# --- numbers for humans -----------------------------------------------------

def _trim(x):
    """3 significant figures without a trailing '.0'."""
    if x >= 100:
        s = f"{x:.0f}"
    elif x >= 10:
        s = f"{x:.1f}"
    else:
        s = f"{x:.2f}"
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s


def fmt_count(x):
    """12345 -> '12.3k'."""
    if x is None:
        return "–"
    ax = abs(x)
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if ax >= div:
            return ("-" if x < 0 else "") + _trim(ax / div) + suffix
    return ("-" if x < 0 else "") + _trim(ax)


def fmt_ns(ns):
    """A duration given in nanoseconds: 1234 -> '1.23 µs'."""
    if ns is None:
        return "–"
    a = abs(ns)
    for div, unit in ((1e9, "s"), (1e6, "ms"), (1e3, "µs")):
        if a >= div:
            return ("-" if ns < 0 else "") + _trim(a / div) + " " + unit
    return ("-" if ns < 0 else "") + _trim(a) + " ns"


def fmt_bytes(b):
    """1536 -> '1.5 KiB'."""
    if b is None:
        return "–"
    a = abs(b)
    for div, unit in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if a >= div:
            return ("-" if b < 0 else "") + _trim(a / div) + " " + unit
    return ("-" if b < 0 else "") + _trim(a) + " B"
