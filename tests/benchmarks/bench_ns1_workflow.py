"""Benchmark (not a test): the whole NS1 chain, raw release to qc.pdf, at dt 5 and 1 ms.

    .venv/bin/python tests/benchmarks/bench_ns1_workflow.py --data ../shared/data/ns1_harper2016

Reference: deepSTRF 0.1.0's NS1 loader needs a median 5.7 s whole process (2.3 s in its
constructor) and 1.09 GB peak memory for the same 73 neurons at dt 5 ms -- binning and
smoothing only, from a precomputed spectrogram, and again on every run.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench import drop_caches, print_steps, snakemake, step_figures  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="folder with MetadataSHEnCneurons.mat and spikesandwav/")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/strflow-bench-ns1"))
    ap.add_argument("--dt", type=float, nargs="+", default=[5.0, 1.0])
    ap.add_argument("--cores", type=int, default=2)
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    shipped = yaml.safe_load((Path(__file__).resolve().parents[2] / "config.yaml").read_text())["datasets"]["ns1"]
    datasets = {f"ns1_dt{dt:g}": dict(shipped, source="local", path=str(args.data.resolve()),
                                      processing=dict(shipped.get("processing") or {}, dt_ms=dt)) for dt in args.dt}
    cfg = args.workdir / "bench.yaml"
    cfg.write_text(yaml.safe_dump(dict(targets=[], datasets=datasets)))
    for dt in args.dt:
        ds = f"ns1_dt{dt:g}"
        results = args.workdir / "results" / ds
        shutil.rmtree(results, ignore_errors=True)
        cold = drop_caches()
        wall = snakemake(args.workdir, cfg, args.cores, [f"results/{ds}/qc.pdf"])
        rerun = snakemake(args.workdir, cfg, args.cores, [f"results/{ds}/qc.pdf"])
        print(f"\n== NS1, dt = {dt:g} ms, {args.cores} cores, page cache {'dropped' if cold else 'NOT dropped'} ==")
        peak = print_steps(step_figures(results))
        print(f"whole chain to qc.pdf: {wall:.1f} s wall, peak job RSS {peak:.0f} MB; no-change rerun {rerun:.1f} s")


if __name__ == "__main__":
    main()
