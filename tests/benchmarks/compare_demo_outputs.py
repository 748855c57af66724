"""Compare the demo outputs of two trees byte for byte.

Usage::

    python tests/benchmarks/compare_demo_outputs.py REF_TREE NEW_TREE [--dataset demo]

Every file under ``REF_TREE/results/<dataset>`` and ``NEW_TREE/results/<dataset>`` is
compared by sha256, except run records that differ on every run by design: logs
(``logs/``), Snakemake benchmark TSVs (``benchmarks/``) and Snakemake's own metadata
(``.snakemake``).  Prints one line per file that differs or exists in one tree only,
then a summary; exits 1 when anything differs.  Used to show that a refactor leaves the
demo outputs unchanged (issue 14).

NWB files are never byte-identical between two runs (pynwb stamps ``file_create_date``
and a random UUID ``object_id`` on every object), so a differing ``.nwb`` is compared
again by content with those left out (and object references, whose addresses follow
the layout); the lines that remain name each dataset or attribute that differs.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

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


NWB_RUN_STAMPS = {"object_id", "file_create_date", ".specloc"}


def _equal(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype == object or b.dtype == object or a.dtype.kind in "SUOV" or b.dtype.kind in "SUOV":
        return a.shape == b.shape and all(str(x) == str(y) for x, y in zip(a.ravel(), b.ravel()))
    return a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")


def nwb_differences(a: Path, b: Path) -> list[str]:
    """Datasets and attributes of two NWB (HDF5) files that differ, run stamps left out."""
    import h5py

    out = []
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        def attrs(name, x, y):
            for key in sorted(set(x.attrs) | set(y.attrs)):
                if key in NWB_RUN_STAMPS:
                    continue
                if key not in x.attrs or key not in y.attrs:
                    out.append(f"{name or '/'}@{key}: present in one file only")
                    continue
                u, v = x.attrs[key], y.attrs[key]
                if isinstance(u, h5py.Reference) or isinstance(v, h5py.Reference):
                    continue
                if not _equal(u, v):
                    out.append(f"{name or '/'}@{key}: {str(u)[:100]!r} vs {str(v)[:100]!r}")

        def visit(name, x):
            if name.split("/")[-1] in NWB_RUN_STAMPS:
                return
            y = fb.get(name)
            if y is None:
                out.append(f"{name}: only in the first file")
                return
            attrs(name, x, y)
            if isinstance(x, h5py.Dataset) and x.dtype.kind != "O" or isinstance(x, h5py.Dataset) and x.dtype.kind == "O" and not h5py.check_dtype(ref=x.dtype):
                if not _equal(x[()], y[()]):
                    out.append(f"{name}: {str(x[()])[:100]!r} vs {str(y[()])[:100]!r}")

        attrs("", fa, fb)
        fa.visititems(visit)
        fb.visititems(lambda name, _: None if name.split("/")[-1] in NWB_RUN_STAMPS or name in fa else out.append(f"{name}: only in the second file"))
    return out


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
        if k.endswith(".nwb"):
            rest = nwb_differences(args.ref / "results" / args.dataset / k, args.new / "results" / args.dataset / k)
            print("          by content, run stamps (file_create_date, object_id) left out: "
                  + ("identical" if not rest else f"{len(rest)} difference(s)"))
            for line in rest:
                print(f"          - {line}")
    for k in only_ref:
        print(f"ONLY REF  {k}")
    for k in only_new:
        print(f"ONLY NEW  {k}")
    print(f"{same} identical, {len(differ)} differ, {len(only_ref)} only in ref, {len(only_new)} only in new")
    return 1 if differ or only_ref or only_new else 0


if __name__ == "__main__":
    sys.exit(main())
