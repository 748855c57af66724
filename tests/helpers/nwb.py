"""NWB round trips through the workflow (export a dataset, read it back as ``format: nwb``)
and their comparison, shared by tests/workflow/test_nwb.py and test_nwb_ns1_realdata.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import torch
import yaml

import strflow

from tests.helpers import run_snakemake

CHAIN = ["tables/coverage.parquet", "tables/stims.parquet", "spectrograms.h5", "waveforms.h5"]


def smk(work: Path, targets: list[str], config: dict | None = None) -> None:
    configfiles = []
    if config:
        (work / "extra.yaml").write_text(yaml.safe_dump(config))
        configfiles.append(work / "extra.yaml")
    run_snakemake(work, *targets, configfiles=configfiles, timeout=1200)


def responses_targets(name: str, shards: list[str]) -> list[str]:
    return [f"results/{name}/{kind}/{s}.h5" for kind in ("binned", "responses") for s in shards]


def round_trip(work: Path, name: str, shards: list[str], datasets: dict | None = None) -> tuple[Path, Path]:
    """Export ``name`` to NWB, import it as ``<name>_nwb``; both result folders.
    ``datasets``: extra config entries (e.g. the dataset ``name`` itself)."""
    smk(work, [f"results/{name}/nwb", *(f"results/{name}/{t}" for t in CHAIN), *responses_targets(name, shards)],
        config={"datasets": datasets} if datasets else None)
    back = f"{name}_nwb"
    entry = dict(format="nwb", source="local", path=f"results/{name}/nwb")
    if (datasets or {}).get(name, {}).get("processing"):  # analysed like the original (e.g. NS1's cochleagram)
        entry["processing"] = datasets[name]["processing"]
    smk(work, [*(f"results/{back}/{t}" for t in CHAIN), *responses_targets(back, ["all"])],
        config={"datasets": {**(datasets or {}), back: entry}})
    return work / "results" / name, work / "results" / back


def assert_same_dataset(orig: Path, back: Path) -> None:
    """Tables (but the importer's shard and wav references), spike counts, smoothed
    responses, spectrograms, waveforms and spike times equal the originals."""
    a, b = pq.read_table(orig / "tables" / "neurons.parquet"), pq.read_table(back / "tables" / "neurons.parquet")
    assert set(b.column("shard").to_pylist()) == {"all"}
    assert a.drop(["shard"]).equals(b.drop(["shard"])), "neurons differ"
    a, b = pq.read_table(orig / "tables" / "stims.parquet"), pq.read_table(back / "tables" / "stims.parquet")
    assert a.drop(["wav"]).equals(b.drop(["wav"])), "stims differ"
    for wa, wb in zip(a.column("wav").to_pylist(), b.column("wav").to_pylist()):
        assert (wa is None) == (wb is None) and (wb is None or "#stimulus/templates/" in wb)
    keys = [("stim_id", "ascending"), ("cell_id", "ascending")]
    a = pq.read_table(orig / "tables" / "coverage.parquet").sort_by(keys)
    b = pq.read_table(back / "tables" / "coverage.parquet").sort_by(keys)
    # NaN rates (DRC pairs without a grid) compare equal here, not in Table.equals
    pd.testing.assert_frame_equal(a.to_pandas(), b.to_pandas())
    for smoothed in (False, True):
        x, y = strflow.open_dataset(orig, smoothed=smoothed), strflow.open_dataset(back, smoothed=smoothed)
        assert [m["stim_id"] for m in x.stim_meta] == [m["stim_id"] for m in y.stim_meta]
        assert torch.equal(x.nrn_masks, y.nrn_masks)
        for s in range(len(x.stims)):
            assert torch.equal(x.stims[s], y.stims[s]), f"spectrogram {s} differs"
            for n in range(x.N_neurons):
                assert torch.equal(x.responses[s][n].nan_to_num(-1), y.responses[s][n].nan_to_num(-1)), (s, n, smoothed)
    x, y = strflow.open_dataset(orig, stimulus="waveform"), strflow.open_dataset(back, stimulus="waveform")
    assert all(torch.equal(p, q) for p, q in zip(x.stims, y.stims))
    for s in range(len(x.stims)):
        for n in range(0, x.N_neurons, 3):
            ta, tb = x.spike_times(s, n), y.spike_times(s, n)
            assert len(ta) == len(tb)
            for u, v in zip(ta, tb):
                assert u.shape == v.shape and np.allclose(u, v, rtol=0, atol=1e-9)


def inspector_problems(folder: Path) -> list[str]:
    from nwbinspector import Importance, inspect_all

    bad = {Importance.CRITICAL, Importance.BEST_PRACTICE_VIOLATION, Importance.ERROR}
    return [f"{m.file_path}: {m.check_function_name}: {m.message}" for m in inspect_all(path=str(folder))
            if m.importance in bad]
