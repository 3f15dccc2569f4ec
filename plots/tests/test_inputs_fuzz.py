"""The plots on bad results files: a few hundred deterministic mutations of a
valid file (types swapped, fields deleted, huge numbers, wrong nesting,
truncated text). Each must load (and then chart) or be refused with one
InputError line naming the file; the command exits 0 or 2, never with a
traceback. Where build/bin/muxbench exists, `muxbench show` must give every
mutant the same verdict and the same message (docs/results.md, "Reading
results files")."""

import copy
import json
import random
import subprocess

import pytest

import matplotlib.pyplot as plt

from helpers import ROOT, run_plot
from muxbench_plots import cli, report
from muxbench_plots.inputs import InputError, load_results

VALID = ROOT / "tests" / "harness" / "fixtures" / "results" / "valid.json"
MUXBENCH = ROOT / "build" / "bin" / "muxbench"
HUGE = "@@HUGE@@"   # stands for a number no double holds; replaced in the text
MUTANTS = 300
CHARTED = 40        # valid mutants drawn (about a second each)


def _pointers(doc, at=()):
    out = [at]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _pointers(v, at + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _pointers(v, at + (i,))
    return out


def _get(doc, ptr):
    for k in ptr:
        doc = doc[k]
    return doc


def _set(doc, ptr, value):
    if not ptr:
        return value
    _get(doc, ptr[:-1])[ptr[-1]] = value
    return doc


def _where(ptr):
    return "/" + "/".join(map(str, ptr)) if ptr else "(top)"


class Mutator:
    def __init__(self, seed):
        self.rng = random.Random(seed)

    def target(self, doc):
        every = _pointers(doc)
        if self.rng.random() < 0.5:
            shallow = [p for p in every if len(p) <= 4]
            if shallow:
                return self.rng.choice(shallow)
        return self.rng.choice(every)

    def mutate(self, doc):
        ptr = self.target(doc)
        where = _where(ptr)
        v = _get(doc, ptr)
        kind = self.rng.randrange(5)
        if kind == 0:
            new = self.rng.choice([7, -1, 0, 1.5, "x", "", True, False, None, [], {}, [1, 2],
                                   {"a": 1}])
            return _set(doc, ptr, copy.deepcopy(new)), f"{where} := {json.dumps(new)}"
        if kind == 1:
            if not ptr:
                return {}, "(top) := {}"
            parent = _get(doc, ptr[:-1])
            del parent[ptr[-1]]
            return doc, f"delete {where}"
        if kind == 2:
            if self.rng.randrange(3) == 0:
                return _set(doc, ptr, HUGE), f"{where} := a number beyond a double"
            new = self.rng.choice([1e308, -1e308, 2**64 - 1, 2**63 - 1, -2**63, 2**32, 2**31,
                                   1e-300, -0.0])
            return _set(doc, ptr, new), f"{where} := {json.dumps(new)}"
        if kind == 3:
            how = self.rng.randrange(3)
            if how == 0:
                return _set(doc, ptr, [v]), f"wrap {where} in a list"
            if how == 1:
                return _set(doc, ptr, {"value": v}), f"wrap {where} in an object"
            if isinstance(v, (list, dict)) and v:
                first = v[0] if isinstance(v, list) else next(iter(v.values()))
                return _set(doc, ptr, first), f"unwrap {where}"
            return _set(doc, ptr, [v, v]), f"pair {where}"
        cells = doc.get("cells") if isinstance(doc, dict) else None
        if isinstance(cells, list) and cells and self.rng.randrange(3) == 0:
            cells.append(copy.deepcopy(self.rng.choice(cells)))
            return doc, "a cell twice"
        other = copy.deepcopy(_get(doc, self.target(doc)))
        return _set(doc, ptr, other), f"{where} := a value from elsewhere"

    def make(self, base):
        doc = copy.deepcopy(base)
        what, truncate = [], False
        for _ in range(1 + self.rng.randrange(3)):
            if self.rng.randrange(12) == 0:
                truncate = True
                continue
            doc, w = self.mutate(doc)
            what.append(w)
        text = json.dumps(doc, indent=1 if self.rng.randrange(2) else None)
        while f'"{HUGE}"' in text:
            text = text.replace(f'"{HUGE}"', self.rng.choice(
                ["1e400", "-1e400", "1e99999", "123456789012345678901234567890e300"]), 1)
        if truncate and text:
            cut = self.rng.randrange(len(text))
            text = text[:cut]
            what.append(f"truncated at {cut}")
        return text, "; ".join(what)


def _muxbench_show(path):
    """(exit status, stderr) of `muxbench show PATH`."""
    p = subprocess.run([str(MUXBENCH), "show", str(path)], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode in (0, 2), f"muxbench show: exit {p.returncode}: {p.stderr}"
    return p.returncode, p.stderr


def _same_message(py, cpp):
    """Python's message and muxbench's agree. Errors in the JSON text itself
    (syntax, a number no double holds) agree in kind: muxbench stops at the
    first one while reading, Python reads the whole text first, and each
    parser words syntax errors its own way."""
    def text_error(m):
        return ": not valid JSON" in m or "is out of range; allowed: a finite number" in m
    if text_error(py) or text_error(cpp):
        return text_error(py) and text_error(cpp)
    return cpp == py


def test_mutated_results_are_loaded_or_refused_with_one_line(tmp_path):
    base = json.loads(VALID.read_text())
    mutator = Mutator(20261213)
    loaded = refused = charted = 0
    compare_with_cpp = MUXBENCH.exists()
    for i in range(MUTANTS):
        text, what = mutator.make(base)
        path = tmp_path / f"m{i}.json"
        path.write_text(text)
        label = f"mutant {i} ({what})"
        try:
            results = load_results(path)
            error = None
        except InputError as e:
            error = str(e)
        if error is not None:
            refused += 1
            assert error.startswith(f"{path}: "), f"{label}: {error}"
            assert "\n" not in error, f"{label}: {error}"
        else:
            loaded += 1
            if charted < CHARTED:
                charted += 1
                groups, charts, notes = cli.build(results)
                report.render(results, groups, charts, None, None, notes)
                for c in charts:
                    plt.close(c.fig)
        if compare_with_cpp:
            status, err = _muxbench_show(path)
            assert (status == 2) == (error is not None), \
                f"{label}: plots {'refused' if error else 'loaded'} it, muxbench show exit " \
                f"{status}: {error or err}"
            if error is not None:
                assert _same_message(error, err.removeprefix("muxbench: ").rstrip("\n")), \
                    f"{label}:\n  plots:    {error}\n  muxbench: {err}"
    assert loaded > 20 and refused > 100, (loaded, refused)


@pytest.mark.parametrize("index", [3, 17, 42])
def test_the_command_exits_0_or_2(tmp_path, index):
    """The command itself on a few mutants: exit 0 or 2, one line on error."""
    base = json.loads(VALID.read_text())
    mutator = Mutator(index)
    text, what = mutator.make(base)
    path = tmp_path / "m.json"
    path.write_text(text)
    proc = run_plot(path, "--out", tmp_path / "out")
    assert proc.returncode in (0, 2), f"{what}: exit {proc.returncode}: {proc.stderr}"
    if proc.returncode == 2:
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
