"""Benchmark (not a test): the AA4 chain on a full-scale synthetic release.

Generates (once) a synthetic AA4 release of the real one's size -- 6 birds, ~1400 unit
files, a 170-stimulus pool with ~130 per bird, 10 trials -- then, for each bin width,
runs the workflow from a cold start (raw files only) to the tables, spectrograms and
smoothed responses, and prints wall time and peak memory per step (from Snakemake's
own benchmark files) plus the total and the cost of a no-change rerun.

    .venv/bin/python tests/benchmarks/bench_aa4_workflow.py --workdir /tmp/strflow-bench --cores 2

Reference: deepSTRF 0.1.0 builds the same 1374-unit dataset in memory in a median
538 s with 3.9 GB peak memory on 2 cores at dt 5 ms, and again on every run.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
ANIMALS = ["BlaBro09xxF", "GreBlu9508M", "LblBlu2028M", "WhiBlu5396M", "WhiWhi4522M", "YelBlu6903F"]
STEPS = ["read", "spectrograms", "bin", "smooth"]


def config(scale: str, dts: list[float]) -> dict:
    units = 235 if scale == "full" else 20
    synthetic = dict(seed=7, animals=ANIMALS, n_stims=170 if scale == "full" else 30,
                     stims_per_animal=130 if scale == "full" else 22, units_per_animal=units, n_trials=10)
    datasets = {"bench_raw": dict(format="aa4", source="synthetic", synthetic=synthetic)}
    for dt in dts:
        datasets[f"bench_dt{dt:g}"] = dict(format="aa4", source="local", path="results/bench_raw/raw",
                                          animals=ANIMALS, processing=dict(dt_ms=dt))
    return dict(targets=[], datasets=datasets)


def targets(ds: str) -> list[str]:
    out = [f"results/{ds}/tables/{t}.parquet" for t in ("stims", "neurons", "coverage", "skipped")]
    out.append(f"results/{ds}/spectrograms.h5")
    out += [f"results/{ds}/responses/{a}.h5" for a in ANIMALS]
    return out


def snakemake(workdir: Path, cores: int, args: list[str]) -> float:
    cmd = [str(SNAKEMAKE), *args, "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--configfile",
           str(workdir / "bench.yaml"), "--cores", str(cores), "--quiet", "all"]
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
    """Per step: (summed job seconds, max job RSS in MB, number of jobs)."""
    figs: dict[str, list] = defaultdict(lambda: [0.0, 0.0, 0])
    for tsv in sorted((results / "benchmarks").rglob("*.tsv")):
        step = tsv.parent.name if tsv.parent.name != "benchmarks" else tsv.stem
        with open(tsv) as fh:
            row = next(csv.DictReader(fh, delimiter="\t"))
        figs[step][0] += float(row["s"])
        figs[step][1] = max(figs[step][1], float(row["max_rss"]))
        figs[step][2] += 1
    return {k: tuple(v) for k, v in figs.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/strflow-bench"))
    ap.add_argument("--dt", type=float, nargs="+", default=[1.0, 5.0])
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--scale", choices=["full", "small"], default="full")
    ap.add_argument("--generate-only", action="store_true")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    (args.workdir / "bench.yaml").write_text(yaml.safe_dump(config(args.scale, args.dt)))

    raw = args.workdir / "results" / "bench_raw" / "raw"
    gt = [f"results/bench_raw/ground_truth/{a}.h5" for a in ANIMALS]
    t_gen = snakemake(args.workdir, args.cores, gt)
    n_files = sum(1 for _ in raw.rglob("*.h5"))
    size_gb = sum(p.stat().st_size for p in raw.rglob("*") if p.is_file()) / 1e9
    print(f"raw release: {n_files} unit files, {size_gb:.2f} GB (generated or reused in {t_gen:.0f} s)")
    if args.generate_only:
        return

    for dt in args.dt:
        ds = f"bench_dt{dt:g}"
        results = args.workdir / "results" / ds
        shutil.rmtree(results, ignore_errors=True)
        cold = drop_caches()
        wall = snakemake(args.workdir, args.cores, targets(ds))
        rerun = snakemake(args.workdir, args.cores, targets(ds))
        figs = step_figures(results)
        n_units = sum(1 for _ in (results / "tables").glob("neurons.parquet"))
        import pyarrow.parquet as pq

        n_units = pq.read_metadata(results / "tables" / "neurons.parquet").num_rows
        n_pairs = pq.read_metadata(results / "tables" / "coverage.parquet").num_rows
        out_gb = sum(p.stat().st_size for d in ("binned", "responses") for p in (results / d).glob("*.h5")) / 1e9
        print(f"\n== dt = {dt:g} ms: {n_units} units, {n_pairs} heard pairs, {args.cores} cores, "
              f"page cache {'dropped' if cold else 'NOT dropped (no permission)'} ==")
        print(f"{'step':14s} {'jobs':>4s} {'sum of job s':>12s} {'max RSS MB':>10s}")
        for step in STEPS:
            if step in figs:
                s, rss, n = figs[step]
                print(f"{step:14s} {n:4d} {s:12.1f} {rss:10.0f}")
        peak = max(v[1] for v in figs.values())
        print(f"wall time, cold start to tables + responses: {wall:.1f} s "
              f"(deepSTRF 0.1.0 at dt 5: 538 s -> {538 / wall:.1f}x); peak job RSS {peak:.0f} MB "
              f"(deepSTRF: 3900 MB); binned+smoothed on disk {out_gb:.2f} GB")
        print(f"no-change rerun: {rerun:.1f} s")


if __name__ == "__main__":
    main()
