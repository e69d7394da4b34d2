#!/usr/bin/env python3
"""Validates closewait-trace's JSON lines against docs/schema/closewait-trace.schema.json.

Usage: validate_json.py SCHEMA FILE   (FILE: one JSON object per line)
Exit 0: every line is valid; 1: some are not (one line of output each);
3: python3-jsonschema is not installed (SKIPPED: reason on stdout).
"""
import json
import sys

try:
    import jsonschema
except ImportError:
    print("SKIPPED: schema validation needs python3-jsonschema (scripts/deps.sh --with-tests)")
    sys.exit(3)


def main():
    schema_path, lines_path = sys.argv[1], sys.argv[2]
    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    validator = jsonschema.Draft202012Validator(schema)
    bad = 0
    with open(lines_path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line:
                continue
            try:
                obj = json.loads(line)
            except ValueError as e:
                print(f"line {n}: not JSON ({e}): {line[:200]}")
                bad += 1
                continue
            for err in validator.iter_errors(obj):
                where = "/".join(str(p) for p in err.absolute_path) or "(top)"
                kind = obj.get("type") if isinstance(obj, dict) else None
                print(f"line {n} (type {kind}): at {where}: {err.message[:300]}")
                bad += 1
                break
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
