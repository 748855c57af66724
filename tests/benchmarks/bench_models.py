"""Encoding-model training speed on NS1 (issue 12): seconds per epoch and whole-fit time
of every zoo model, population fits (all units, one output each), on this machine.

    STRFLOW_REAL_DATA=/work/shared/data python tests/benchmarks/bench_models.py \
        [--epochs 3] [--threads 2] [--full] [--models linear,ln,nrf,dnet,cnn2d,statenet]

Builds the NS1 dataset (all 119 units, dt 5 ms, local source) through the workflow in a
temporary folder (or reuses ``--workdir``), then trains each model for ``--epochs``
epochs with the config's training settings and prints the median seconds per epoch
(whole training set per step, plus one step per clip as deepSTRF's loop does) and the
projected whole fit at the config's ``epochs`` (``--full``: run the whole fit with early
stopping and print its measured time and test CCnorm).  deepSTRF 0.1.0's own loop is
run side by side only when ``deepSTRF`` is importable (it is not a dependency);
``reference/model_training_anchors.md`` has its figures on this machine's shapes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))
from _bench import snakemake  # noqa: E402

DEEPSTRF_S_PER_EPOCH = {"linear": 1.44, "nrf": 1.81, "dnet": 1.61, "cnn2d": 20.0, "statenet": 4.35}  # anchors file


def build_ns1(workdir: Path, threads: int) -> Path:
    root = Path(os.environ.get("STRFLOW_REAL_DATA", "/work/shared/data")) / "ns1_harper2016"
    if not (root / "MetadataSHEnCneurons.mat").is_file():
        sys.exit(f"NS1 files not found under {root}; set STRFLOW_REAL_DATA")
    cfg = workdir / "ns1bench.yaml"
    cfg.write_text(yaml.safe_dump({"targets": [], "datasets": {"ns1bench": dict(
        format="ns1", source="local", path=str(root), processing=dict(dt_ms=5))}}))
    out = workdir / "results" / "ns1bench"
    if not (out / "responses" / "all.h5").is_file():
        t = snakemake(workdir, cfg, threads, ["results/ns1bench/tables/coverage.parquet", "results/ns1bench/spectrograms.h5",
                                              "results/ns1bench/responses/all.h5"])
        print(f"NS1 dataset built in {t:.0f} s")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--models", default="linear,ln,nrf,dnet,cnn2d,statenet")
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()

    import numpy as np
    import torch

    import strflow
    from strflow.config import load_config
    from strflow.nn.api import fit_data
    from strflow.nn.data import from_dataset
    from strflow.nn.steps import model_settings

    torch.set_num_threads(args.threads)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_models_"))
    work.mkdir(parents=True, exist_ok=True)
    res = build_ns1(work, args.threads)
    t0 = time.perf_counter()
    ds = strflow.open_dataset(res)
    data = from_dataset(ds, fmt="ns1")
    print(f"tensors: x {tuple(data.x.shape)}, y {tuple(data.y.shape)}; train/val/test clips "
          f"{len(data.index('train'))}/{len(data.index('val'))}/{len(data.index('test'))}; built in "
          f"{time.perf_counter() - t0:.1f} s; torch {torch.__version__}, {args.threads} threads")
    cfg = model_settings(load_config(Path(__file__).resolve().parents[2] / "config.yaml"), "ns1bench")
    train = dict(cfg["train"])
    full_epochs = int(train.get("epochs", 80))
    try:
        import deepSTRF  # noqa: F401

        print("deepSTRF is importable, but its side-by-side loop is not wired here; see the anchors file")
    except ImportError:
        print("deepSTRF not importable: its figures below are the anchors file's (same machine, NS1 shapes, batch of one clip)")
    print(f"{'model':10s} {'params':>8s} {'s/epoch':>8s} {'s/epoch 1clip':>13s} {'deepSTRF':>9s} {'speedup':>8s} "
          f"{'(1clip)':>8s} {'proj. ' + str(full_epochs) + ' ep':>12s}")
    for name in args.models.split(","):
        spec = cfg["zoo"][name]
        row = {}
        for label, batch in (("all", train.get("batch_clips", 0)), ("one", 1)):
            st = dict(train, epochs=args.epochs, patience=0, batch_clips=batch, device="cpu")
            em = fit_data(data, name, arch=spec["arch"], options=spec["options"], settings=st, progress=None)
            row[label] = statistics.median(r["seconds"] for r in em.training_log)
            row["params"] = em.n_params
        ref = DEEPSTRF_S_PER_EPOCH.get(spec["arch"])
        # speedup: deepSTRF's s/epoch over strflow's (the config's batch; and one clip per step)
        ratio = f"{ref / row['all']:.1f}x" if ref else "-"
        ratio1 = f"{ref / row['one']:.1f}x" if ref else "-"
        print(f"{name:10s} {row['params']:8d} {row['all']:8.2f} {row['one']:13.2f} "
              f"{ref if ref else float('nan'):9.2f} {ratio:>8s} {ratio1:>8s} {row['all'] * full_epochs / 60:10.1f} min",
              flush=True)
        if args.full:
            t = time.perf_counter()
            em = fit_data(data, name, arch=spec["arch"], options=spec["options"], settings=dict(train, device="cpu"),
                          progress=None)
            cc = np.array([r["ccnorm"] for r in em.metrics], float)
            print(f"  whole fit: {time.perf_counter() - t:.0f} s, {em.info['epochs']} epochs (best {em.info['best_epoch']}), "
                  f"test CCnorm mean {np.nanmean(cc):.3f} median {np.nanmedian(cc):.3f}", flush=True)


if __name__ == "__main__":
    main()
