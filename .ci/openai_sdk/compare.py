"""Compare the outcomes of two runs of the openai SDK's suite; exit 1 when any test's outcome differs.

Usage: python compare.py PLAIN.json INSTRUMENTED.json [DIFFERING_IDS_OUT]

With a third argument, the ids of the tests that differ are written there, one per line (for a re-run).
"""

from __future__ import annotations

import collections
import json
import sys


def main(plain_path: str, other_path: str, ids_out: str | None = None) -> int:
    with open(plain_path, encoding="utf-8") as file:
        plain: dict[str, str] = json.load(file)
    with open(other_path, encoding="utf-8") as file:
        other: dict[str, str] = json.load(file)
    counts = collections.Counter(other.values())
    print(f"{other_path}: {len(other)} tests, " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    differences = [
        (test, plain.get(test, "absent"), other.get(test, "absent"))
        for test in sorted(plain.keys() | other.keys())
        if plain.get(test) != other.get(test)
    ]
    for test, before, after in differences:
        print(f"  DIFFERS {test}: {before} plain, {after} instrumented")
    if ids_out:
        with open(ids_out, "w", encoding="utf-8") as file:
            file.writelines(f"{test}\n" for test, _, _ in differences)
    if not plain:
        print("  the plain run recorded no test at all")
        return 1
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
