#!/usr/bin/python3
"""Validates muxbench results files against docs/results.schema.json.

  /usr/bin/python3 tests/harness/validate_results.py RESULTS.json [...]

Exit 0 when every file is valid; otherwise prints each error (JSON path and
message) and exits 1. Needs Debian's python3-jsonschema (scripts/deps.sh).
"""
import json
import os
import sys

import jsonschema

SCHEMA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs",
                      "results.schema.json")


def main(paths):
    with open(SCHEMA) as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    bad = 0
    for path in paths:
        with open(path) as f:
            doc = json.load(f)
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
        for e in errors[:20]:
            where = "/".join(str(p) for p in e.absolute_path) or "(top)"
            print(f"{path}: {where}: {e.message[:300]}")
        if errors:
            bad += 1
            print(f"{path}: {len(errors)} schema errors")
        else:
            print(f"{path}: valid ({len(doc.get('cells', []))} cells)")
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1:]))
