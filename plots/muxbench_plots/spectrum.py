"""Latency percentile spectrum from histogram buckets, HdrHistogram style:
the latency reached at percentile p, with p on a log axis of 1/(1-p) so that
90%, 99%, 99.9%, ... are equally spaced.
"""


def spectrum(buckets):
    """buckets: [(value_ns, count), ...] sorted by value (inputs.histogram_buckets).

    Returns (x, y) for a 'steps-post' line: bucket i's value holds from the
    fraction of samples below it, x = 1/(1 - below/total), up to where the
    next bucket starts. A last point puts the maximum at p = 1 - 1/total (the
    finest percentile the sample count resolves), so the line ends at x = total.
    """
    total = sum(n for _, n in buckets)
    if total <= 0:
        return [], []
    xs, ys = [], []
    below = 0.0
    for value, n in buckets:
        xs.append(1.0 / (1.0 - below / total))
        ys.append(value)
        below += n
    xs.append(max(float(total), xs[-1]))
    ys.append(buckets[-1][0])
    return xs, ys


def value_at(buckets, p):
    """The smallest bucket value with at least a fraction p of the samples at
    or below it (the percentile as HdrHistogram reports it)."""
    total = sum(n for _, n in buckets)
    if total <= 0:
        return None
    cum = 0.0
    for value, n in buckets:
        cum += n
        if cum >= p * total:
            return value
    return buckets[-1][0]


# x-axis ticks: 1/(1-p) -> the percentile's label.
TICKS = [(1, "0%"), (2, "50%"), (10, "90%"), (100, "99%"), (1e3, "99.9%"), (1e4, "99.99%"),
         (1e5, "99.999%"), (1e6, "99.9999%"), (1e7, "99.99999%")]
