"""Shared by the workflow benchmark scripts: run Snakemake, read its benchmark files."""

from __future__ import annotations

import csv
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"


def snakemake(workdir: Path, config: Path, cores: int, targets: list[str]) -> float:
    """Wall time (s) of one Snakemake run; targets first (--quiet takes a list)."""
    cmd = [str(SNAKEMAKE), *targets, "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--configfile",
           str(config), "--cores", str(cores), "--quiet", "all"]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def drop_caches() -> bool:
    try:
        subprocess.run(["sync"], check=True)
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def step_figures(results: Path) -> dict[str, tuple[float, float, int]]:
    """Per step (rule): (summed job seconds, max job RSS in MB, number of jobs)."""
    figs: dict[str, list] = defaultdict(lambda: [0.0, 0.0, 0])
    for tsv in sorted((results / "benchmarks").rglob("*.tsv")):
        step = tsv.parent.name if tsv.parent.name != "benchmarks" else tsv.stem
        with open(tsv) as fh:
            row = next(csv.DictReader(fh, delimiter="\t"))
        figs[step][0] += float(row["s"])
        figs[step][1] = max(figs[step][1], float(row["max_rss"]))
        figs[step][2] += 1
    return {k: tuple(v) for k, v in figs.items()}


def print_steps(figs: dict[str, tuple[float, float, int]]) -> float:
    print(f"{'step':14s} {'jobs':>4s} {'sum of job s':>12s} {'max RSS MB':>10s}")
    for step, (s, rss, n) in sorted(figs.items()):
        print(f"{step:14s} {n:4d} {s:12.1f} {rss:10.0f}")
    return max(v[1] for v in figs.values())
