"""Benchmark (not a test): the NS1 model-comparison figure (issue 13) from a cold start.

    .venv/bin/python tests/benchmarks/bench_model_comparison.py --data ../shared/data/ns1_harper2016

Copies the repository (tracked files) into ``--workdir``, links the raw release there,
runs ``snakemake results/ns1/figures/model_comparison.pdf`` with the shipped config
(only the raw paths changed; ``--seeds``, ``--epochs``, ``--models``, ``--protocols``
reduce it), then a no-change rerun.  Prints the seconds of every job grouped by rule (from
the benchmark TSVs), the training jobs per (protocol, model), the total wall time and the
rerun's.  The full figure (12 models x 2 protocols x 3 seeds) is long on 2 shared cores:
run it reduced and extrapolate from the per-epoch figures it prints.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench import REPO, SNAKEMAKE, drop_caches  # noqa: E402

TARGET = "results/ns1/figures/model_comparison.pdf"


def copy_repo(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files"], cwd=REPO, check=True, capture_output=True, text=True).stdout.split()
    for f in files:
        src = REPO / f
        if src.is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / f)


def run(workdir: Path, config: Path, cores: int, threads: int) -> float:
    cmd = [str(SNAKEMAKE), TARGET, "-s", str(workdir / "Snakefile"), "-d", str(workdir), "--cores", str(cores),
           "--set-threads", f"model_fit_protocol={threads}", "--configfile", str(config)]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def rule_of(rel: Path) -> str:
    parts = rel.parts
    if parts[0] == "models" and len(parts) == 4:
        return "model_fit_protocol"
    if parts[0] == "figures":
        return "model_comparison"
    return parts[0] if len(parts) > 1 else rel.stem


def job_seconds(results: Path) -> list[tuple[str, Path, float]]:
    rows = []
    for ds in ("ns1", "ns1_all"):
        root = results / ds / "benchmarks"
        for tsv in sorted(root.rglob("*.tsv")):
            with open(tsv) as fh:
                s = float(next(csv.DictReader(fh, delimiter="\t"))["s"])
            rel = tsv.relative_to(root)
            rows.append((f"{ds}: {rule_of(rel)}", rel, s))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="folder with MetadataSHEnCneurons.mat and spikesandwav/")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/strflow-bench-model-comparison"))
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per training job (1 on busy cores)")
    ap.add_argument("--seeds", type=int, help="seeds per (protocol, model) (default: the config's)")
    ap.add_argument("--epochs", type=int, help="maximum epochs of every model and protocol (default: the config's)")
    ap.add_argument("--models", nargs="+", help="models of the figure (default: the config's)")
    ap.add_argument("--protocols", nargs="+", help="protocols of the figure (default: the config's)")
    args = ap.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    copy_repo(args.workdir)
    raw = args.workdir / "raw_ns1"
    raw.symlink_to(args.data.resolve(), target_is_directory=True)
    shipped = yaml.safe_load((REPO / "config.yaml").read_text())
    figure = dict(shipped["datasets"]["ns1"]["figures"]["model_comparison"])
    for key in ("seeds", "models", "protocols"):
        if getattr(args, key):
            figure[key] = getattr(args, key)
    over = {"targets": [],
            "datasets": {"ns1": {"source": "local", "path": str(raw), "figures": {"model_comparison": figure}},
                         "ns1_all": {"path": str(raw)}}}
    if args.epochs:
        over["models"] = {"train": {"epochs": args.epochs}}
        over["datasets"]["ns1"]["models"] = {
            "protocols": {p: {"train": {"epochs": args.epochs}} for p in shipped["datasets"]["ns1"]["models"]["protocols"]}}
    config = args.workdir / "bench.yaml"
    config.write_text(yaml.safe_dump(over))
    cold = drop_caches()
    wall = run(args.workdir, config, args.cores, args.threads)
    rerun = run(args.workdir, config, args.cores, args.threads)
    rows = job_seconds(args.workdir / "results")
    by_rule: dict[str, list[float]] = defaultdict(list)
    for rule, _, s in rows:
        by_rule[rule].append(s)
    print(f"\n== NS1 model comparison: {len(figure['models'])} models x {len(figure['protocols'])} protocols x "
          f"{figure['seeds']} seeds, epochs {args.epochs or 'as configured'}, {args.cores} cores, "
          f"{args.threads} thread(s) per training job, page cache {'dropped' if cold else 'NOT dropped'} ==")
    print(f"{'rule':32s} {'jobs':>4s} {'sum of job s':>12s}")
    for rule, secs in sorted(by_rule.items()):
        print(f"{rule:32s} {len(secs):4d} {sum(secs):12.1f}")
    print("\ntraining jobs (job seconds; epochs run; seconds per epoch from training_log.csv):")
    for rule, rel, s in rows:
        if rule.endswith("model_fit_protocol"):
            log = args.workdir / "results" / "ns1" / "models" / rel.parts[1] / rel.parts[2] / rel.stem / "training_log.csv"
            with open(log) as fh:
                epochs = [float(r["seconds"]) for r in csv.DictReader(fh)]
            per = sum(epochs) / max(len(epochs), 1)
            print(f"  {rel.parts[1]:10s} {rel.parts[2]:20s} {rel.stem:6s} {s:7.1f} s; {len(epochs):3d} epochs, "
                  f"{per:.2f} s/epoch")
    print(f"\ncold start to model_comparison.pdf: {wall:.1f} s wall; no-change rerun {rerun:.1f} s")
    import pandas as pd

    table = pd.read_parquet(args.workdir / "results" / "ns1" / "figures" / "model_comparison.parquet")
    print("\ntest CCnorm (mean over seeds, then neurons) from model_comparison.parquet:")
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_rows", 100):
        print(table.round(3).to_string(index=False))


if __name__ == "__main__":
    main()
