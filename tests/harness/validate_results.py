#!/usr/bin/python3
"""Validates muxbench results files against docs/results.schema.json, plus
the arithmetic a schema cannot state: an open-loop load generator report's
schedule counters add up (every request due in the window is sent or
unsent, and has a latency, censored or not).

  /usr/bin/python3 tests/harness/validate_results.py RESULTS.json [...]
  /usr/bin/python3 tests/harness/validate_results.py --loadgen REPORT.json [...]

--loadgen: each file is one report of muxbench-loadgen --json, checked
against $defs/loadgen_report (every key the current load generator writes).

Exit 0 when every file is valid; otherwise prints each error (JSON path and
message) and exits 1. Needs Debian's python3-jsonschema (scripts/deps.sh).
"""
import json
import os
import sys

import jsonschema

SCHEMA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs",
                      "results.schema.json")


def schedule_errors(doc):
    """(path, message) for open-loop reports whose counters do not add up.
    Reports written before rate.due existed are not checked."""
    out = []
    for i, c in enumerate(doc.get("cells", [])):
        lg = c.get("loadgen") if isinstance(c, dict) else None
        rate = lg.get("rate") if isinstance(lg, dict) else None
        if not isinstance(rate, dict) or "due" not in rate:
            continue
        req = lg.get("requests", {})
        lat = lg.get("latency", {})
        where = f"cells/{i}/loadgen"
        due, unsent, in_drain = rate["due"], rate.get("unsent", 0), rate.get("sent_in_drain", 0)
        sent, completed = req.get("sent", 0), req.get("completed", 0)
        checks = [
            (due == sent + unsent, f"rate.due {due} != requests.sent {sent} + rate.unsent {unsent}"),
            (rate.get("missed") == in_drain + unsent,
             f"rate.missed {rate.get('missed')} != sent_in_drain {in_drain} + unsent {unsent}"),
            (rate.get("censored") == unsent + sent - completed,
             f"rate.censored {rate.get('censored')} != unsent {unsent} + sent {sent} - "
             f"completed {completed}"),
            (lat.get("count") == due, f"latency.count {lat.get('count')} != rate.due {due}"),
        ]
        out += [(where, msg) for ok, msg in checks if not ok]
    return out


def main(paths, loadgen=False):
    with open(SCHEMA) as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    if loadgen:
        schema = {"$ref": "#/$defs/loadgen_report", "$defs": schema["$defs"]}
    validator = jsonschema.Draft202012Validator(schema)
    bad = 0
    for path in paths:
        with open(path) as f:
            doc = json.load(f)
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
        for e in errors[:20]:
            where = "/".join(str(p) for p in e.absolute_path) or "(top)"
            print(f"{path}: {where}: {e.message[:300]}")
        sums = schedule_errors({"cells": [{"loadgen": doc}]} if loadgen else doc)
        for where, msg in sums[:20]:
            print(f"{path}: {where}: {msg}")
        errors += sums
        if errors:
            bad += 1
            print(f"{path}: {len(errors)} schema errors")
        else:
            print(f"{path}: valid" + ("" if loadgen else f" ({len(doc.get('cells', []))} cells)"))
    return 1 if bad else 0


if __name__ == "__main__":
    args = sys.argv[1:]
    as_reports = bool(args) and args[0] == "--loadgen"
    if as_reports:
        args = args[1:]
    if not args:
        print(__doc__.strip(), file=sys.stderr)
        sys.exit(2)
    sys.exit(main(args, loadgen=as_reports))
