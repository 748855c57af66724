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
import shutil
import sys
from pathlib import Path

import pyarrow.parquet as pq
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench import drop_caches, print_steps, snakemake, step_figures  # noqa: E402

ANIMALS = ["BlaBro09xxF", "GreBlu9508M", "LblBlu2028M", "WhiBlu5396M", "WhiWhi4522M", "YelBlu6903F"]


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
    cfg = args.workdir / "bench.yaml"
    t_gen = snakemake(args.workdir, cfg, args.cores, gt)
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
        wall = snakemake(args.workdir, cfg, args.cores, targets(ds))
        rerun = snakemake(args.workdir, cfg, args.cores, targets(ds))
        figs = step_figures(results)
        n_units = pq.read_metadata(results / "tables" / "neurons.parquet").num_rows
        n_pairs = pq.read_metadata(results / "tables" / "coverage.parquet").num_rows
        out_gb = sum(p.stat().st_size for d in ("binned", "responses") for p in (results / d).glob("*.h5")) / 1e9
        print(f"\n== dt = {dt:g} ms: {n_units} units, {n_pairs} heard pairs, {args.cores} cores, "
              f"page cache {'dropped' if cold else 'NOT dropped (no permission)'} ==")
        peak = print_steps(figs)
        print(f"wall time, cold start to tables + responses: {wall:.1f} s "
              f"(deepSTRF 0.1.0 at dt 5: 538 s -> {538 / wall:.1f}x); peak job RSS {peak:.0f} MB "
              f"(deepSTRF: 3900 MB); binned+smoothed on disk {out_gb:.2f} GB")
        print(f"no-change rerun: {rerun:.1f} s")


if __name__ == "__main__":
    main()
