"""Encoding-model training speed on NS1 (issue 12): seconds per epoch and whole-fit time
of every zoo model, population fits (all units, one output each), on this machine, and,
in the same run, deepSTRF 0.1.0's own training loop (its ``Fitter``) on the same
architecture and the same tensors where deepSTRF has one.

    STRFLOW_REAL_DATA=/work/shared/data python tests/benchmarks/bench_models.py \\
        [--epochs 3] [--threads 2] [--full] [--models linear,ln,nrf,dnet,cnn2d,statenet] \\
        [--deepstrf-path /work/deepstrf-site]

Builds the NS1 dataset (all 119 units, dt 5 ms, local source) through the workflow in a
temporary folder (or reuses ``--workdir``), then trains each model for ``--epochs``
epochs with the config's training settings (no refit, no early stopping) and prints:

* strflow: the median seconds per epoch (the config's batch, whole training set per step;
  and one clip per step, as deepSTRF's loop does), the wall time of the whole
  ``--epochs`` run (model build, validation each epoch, restore) and that run projected
  to the config's ``epochs`` (``--full``: the whole fit with early stopping and the refit,
  measured, with its test CCnorm);
* deepSTRF (``--deepstrf-path DIR`` or ``$DEEPSTRF_PATH``, a folder holding deepSTRF 0.1.0
  and mambapy 1.2.0, e.g. ``pip install --no-deps --target DIR deepSTRF==0.1.0
  mambapy==1.2.0``; it is prepended to ``sys.path``): its ``Fitter`` (AdamW lr 1e-3, batch
  of one clip, validation CC and CCnorm each epoch, its defaults) on its own ``Linear``,
  ``NetworkReceptiveField``, ``DNet``, ``ConvNet2D`` and ``StateNet`` classes built with
  strflow's hyperparameters (lags, hidden units, kernels; StateNet: locally connected,
  GRU), fed the same standardised NS1 clips and trials through its ``neural_collate``:
  median seconds per epoch and the wall time of the ``--epochs`` run.  Without the path
  the table says deepSTRF was not run.  deepSTRF is not a dependency of strflow; its
  ``models.audio`` package imports ``torchaudio`` for its waveform front ends, which these
  spectrogram models never call: where torchaudio is missing an empty placeholder module
  is registered for the import.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))
from _bench import snakemake  # noqa: E402


def build_ns1(workdir: Path, threads: int) -> Path:
    root = Path(os.environ.get("STRFLOW_REAL_DATA", Path(__file__).resolve().parents[3] / "shared" / "data")) / "ns1_harper2016"
    if not (root / "MetadataSHEnCneurons.mat").is_file():
        sys.exit(f"NS1 files not found under {root}; set STRFLOW_REAL_DATA")
    cfg = workdir / "ns1bench.yaml"
    cfg.write_text(yaml.safe_dump({"targets": [], "datasets": {"ns1bench": dict(
        format="ns1", source="local", path=str(root),
        processing=dict(dt_ms=5, spectrogram=dict(kind="cochleagram")))}}))  # the published representation
    out = workdir / "results" / "ns1bench"
    if not (out / "responses" / "all.h5").is_file():
        t = snakemake(workdir, cfg, threads, ["results/ns1bench/tables/coverage.parquet", "results/ns1bench/spectrograms.h5",
                                              "results/ns1bench/responses/all.h5"])
        print(f"NS1 dataset built in {t:.0f} s")
    return out


def import_deepstrf(path: str | None):
    """deepSTRF's modules from ``path`` (prepended to sys.path), or None."""
    if not path:
        return None
    sys.path.insert(0, str(Path(path).resolve()))
    try:
        import torchaudio  # noqa: F401
    except ImportError:  # only its waveform front ends use it (never called here)
        sys.modules["torchaudio"] = types.ModuleType("torchaudio")
    try:
        from deepSTRF.models import audio
        from deepSTRF.training import Fitter
        from deepSTRF.utils.data import neural_collate
    except ImportError as err:
        print(f"deepSTRF not importable from {path}: {err}")
        return None
    import importlib.metadata as md

    try:
        version = md.version("deepSTRF")
    except md.PackageNotFoundError:
        version = "?"
    return types.SimpleNamespace(audio=audio, Fitter=Fitter, collate=neural_collate, version=version)


def deepstrf_model(ds, arch: str, options: dict, n_bands: int, n_neurons: int, dt_ms: float):
    """deepSTRF's class of the same architecture with strflow's hyperparameters, or None."""
    from strflow.timegrid import n_lags

    a = ds.audio
    if options.get("adaptrans"):
        return None
    if arch == "linear":
        return a.Linear(n_bands, temporal_window_size=n_lags(options["max_lag_ms"], dt_ms), out_neurons=n_neurons)
    if arch == "nrf":
        return a.NetworkReceptiveField(n_bands, n_lags(options["max_lag_ms"], dt_ms), n_hidden=int(options["n_hidden"]),
                                       out_neurons=n_neurons)
    if arch == "dnet":
        return a.DNet(n_bands, n_lags(options["max_lag_ms"], dt_ms), n_hidden=int(options["n_hidden"]),
                      out_neurons=n_neurons)
    if arch == "cnn2d":
        return a.ConvNet2D(n_bands, kernel_size=(int(options["kernel_f"]), int(options["kernel_t"])),
                           c_hidden=int(options["channels"]), n_hidden=int(options["n_hidden"]), out_neurons=n_neurons)
    if arch == "statenet" and options.get("encoder") == "spectral":
        return a.StateNet(n_bands, hidden_channels=int(options["channels"]), kernel_size=int(options["kernel"]),
                          stride=int(options["stride"]), connectivity="LC", rnn_type="GRU", out_neurons=n_neurons)
    return None  # ln (deepSTRF has no 4-parameter-sigmoid LN), statenet with a temporal encoder


def deepstrf_items(data, role: str) -> list[dict]:
    """The ``role`` clips as deepSTRF dataset items (its NaN sentinel for unheard pairs)."""
    import torch

    items = []
    for s in data.index(role):
        t = int(data.lengths[s])
        resp = [torch.from_numpy(b).float() if b is not None else torch.full((1, 1), float("nan"))
                for b in data.blocks[s]]
        items.append(dict(stims=data.x[s:s + 1, :, :t].clone(), responses=resp,
                          valid_mask=torch.tensor([b is not None for b in data.blocks[s]]),
                          stim_meta=dict(stim_id=data.stim_ids[s])))
    return items


def run_deepstrf(ds, model, data, epochs: int, seed: int = 0) -> tuple[list[float], float]:
    """deepSTRF's Fitter for ``epochs`` epochs: (seconds of every epoch, wall time of the run)."""
    import torch
    from torch.utils.data import DataLoader

    g = torch.Generator().manual_seed(seed)
    train = DataLoader(deepstrf_items(data, "train"), batch_size=1, shuffle=True, collate_fn=ds.collate, generator=g)
    val = DataLoader(deepstrf_items(data, "val"), batch_size=1, shuffle=False, collate_fn=ds.collate)
    stamps = []
    t0 = time.perf_counter()
    fitter = ds.Fitter(model, train, val, max_epochs=epochs, patience=epochs + 1,
                       log_fn=lambda row: stamps.append(time.perf_counter()))
    fitter.fit()
    wall = time.perf_counter() - t0
    per = [b - a for a, b in zip([t0] + stamps[:-1], stamps)]
    return per, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=3, help="epochs per measured run (default 3)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    ap.add_argument("--full", action="store_true", help="also run strflow's whole fit (early stopping, refit)")
    ap.add_argument("--models", default="linear,ln,nrf,dnet,cnn2d,statenet", help="zoo entries of config.yaml")
    ap.add_argument("--workdir", default=None, help="reuse this folder's NS1 build (default: a new temporary one)")
    ap.add_argument("--deepstrf-path", default=os.environ.get("DEEPSTRF_PATH"),
                    help="folder holding deepSTRF 0.1.0 and mambapy 1.2.0 (pip install --no-deps --target DIR "
                         "deepSTRF==0.1.0 mambapy==1.2.0), prepended to sys.path to run deepSTRF's Fitter side by "
                         "side; default $DEEPSTRF_PATH; without it only strflow is measured")
    args = ap.parse_args()

    import numpy as np
    import torch

    import strflow
    from strflow.config import load_config
    from strflow.nn import zoo
    from strflow.nn.api import fit_data
    from strflow.nn.data import from_dataset
    from strflow.nn.steps import model_settings

    torch.set_num_threads(args.threads)
    dstrf = import_deepstrf(args.deepstrf_path)
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
    full_epochs = int(cfg["train"].get("epochs", 80))
    print(f"deepSTRF {dstrf.version} from {args.deepstrf_path}: its Fitter runs side by side" if dstrf else
          "deepSTRF was NOT run (no --deepstrf-path / $DEEPSTRF_PATH): strflow figures only")
    print(f"{args.epochs} epochs per run; 's/ep': median seconds per epoch; 'run': wall seconds of the whole "
          f"{args.epochs}-epoch fit; 'proj': that fit projected to the config's {full_epochs} epochs")
    head = (f"{'model':10s} {'params':>7s} {'s/ep':>6s} {'s/ep 1clip':>10s} {'run':>6s} {'proj min':>8s} | "
            f"{'deepSTRF':>8s} {'params':>7s} {'s/ep':>6s} {'run':>6s} {'proj min':>8s} | {'speedup':>7s}")
    print(head)
    print("-" * len(head))
    for name in args.models.split(","):
        spec = cfg["zoo"][name]
        train = dict(spec["train"], epochs=args.epochs, patience=0, device="cpu", refit=False)
        row = {}
        for label, batch in (("all", train.get("batch_clips", 0)), ("one", 1)):
            t = time.perf_counter()
            em = fit_data(data, name, arch=spec["arch"], options=spec["options"], settings=dict(train, batch_clips=batch),
                          progress=None)
            row[label] = statistics.median(r["seconds"] for r in em.training_log)
            row[label + "_run"] = time.perf_counter() - t
            row["params"] = em.n_params
        ours = (f"{name:10s} {row['params']:7d} {row['all']:6.2f} {row['one']:10.2f} {row['all_run']:6.1f} "
                f"{row['all'] * full_epochs / 60:8.1f}")
        theirs, speed = f"{'-':>8s} {'':7s} {'':6s} {'':6s} {'':8s}", "-"
        if dstrf is not None:
            torch.manual_seed(0)
            model = deepstrf_model(dstrf, spec["arch"], spec["options"], data.n_bands, data.n_neurons, data.dt_ms)
            if model is None:
                theirs = f"{'no such':>8s} {'':7s} {'':6s} {'':6s} {'':8s}"
            else:
                per, wall = run_deepstrf(dstrf, model, data, args.epochs)
                med = statistics.median(per)
                theirs = (f"{'ran':>8s} {zoo.n_params(model):7d} {med:6.2f} {wall:6.1f} {med * full_epochs / 60:8.1f}")
                speed = f"{med / row['all']:6.1f}x"
        print(f"{ours} | {theirs} | {speed:>7s}", flush=True)
        if args.full:
            t = time.perf_counter()
            em = fit_data(data, name, arch=spec["arch"], options=spec["options"], settings=dict(spec["train"], device="cpu"),
                          progress=None)
            cc = np.array([r["ccnorm"] for r in em.metrics], float)
            print(f"  strflow whole fit: {time.perf_counter() - t:.0f} s, {em.info['epochs']} epochs (best "
                  f"{em.info['best_epoch']}, then the refit), test CCnorm mean {np.nanmean(cc):.3f} median "
                  f"{np.nanmedian(cc):.3f}", flush=True)
    print("speedup: deepSTRF's median s/epoch over strflow's (the config's batch); 'no such': deepSTRF has no model "
          "of that architecture (ln: no 4-parameter-sigmoid LN)")


if __name__ == "__main__":
    main()
