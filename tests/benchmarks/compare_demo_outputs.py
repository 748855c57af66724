"""Compare the demo outputs of two trees byte for byte.

Usage::

    python tests/benchmarks/compare_demo_outputs.py REF_TREE NEW_TREE [--dataset demo]

Every file under ``REF_TREE/results/<dataset>`` and ``NEW_TREE/results/<dataset>`` is
compared by sha256, except run records that differ on every run by design: logs
(``logs/``), Snakemake benchmark TSVs (``benchmarks/``) and Snakemake's own metadata
(``.snakemake``).  Prints one line per file that differs or exists in one tree only,
then a summary; exits 1 when anything differs.  Used to show that a refactor leaves the
demo outputs unchanged (issue 14).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

EXCLUDED_PARTS = {"logs", "benchmarks", ".snakemake"}


def digest(path: Path) -> str:
    """sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def output_files(root: Path) -> dict[str, Path]:
    """Files under ``root`` by relative path, run records excluded."""
    if not root.is_dir():
        raise SystemExit(f"{root}: no such folder (build the demo outputs there first)")
    return {
        p.relative_to(root).as_posix(): p
        for p in sorted(root.rglob("*"))
        if p.is_file() and not EXCLUDED_PARTS.intersection(p.relative_to(root).parts)
    }


def compare(ref: Path, new: Path) -> tuple[list[str], list[str], list[str], int]:
    """(differing, only in ref, only in new, number identical) between two output folders."""
    a, b = output_files(ref), output_files(new)
    differ = [k for k in sorted(a.keys() & b.keys()) if digest(a[k]) != digest(b[k])]
    same = len(a.keys() & b.keys()) - len(differ)
    return differ, sorted(a.keys() - b.keys()), sorted(b.keys() - a.keys()), same


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ref", type=Path, help="tree built before the change")
    ap.add_argument("new", type=Path, help="tree built after the change")
    ap.add_argument("--dataset", default="demo")
    args = ap.parse_args(argv)
    differ, only_ref, only_new, same = compare(args.ref / "results" / args.dataset, args.new / "results" / args.dataset)
    for k in differ:
        print(f"DIFFERS   {k}")
    for k in only_ref:
        print(f"ONLY REF  {k}")
    for k in only_new:
        print(f"ONLY NEW  {k}")
    print(f"{same} identical, {len(differ)} differ, {len(only_ref)} only in ref, {len(only_new)} only in new")
    return 1 if differ or only_ref or only_new else 0


if __name__ == "__main__":
    sys.exit(main())
