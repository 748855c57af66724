"""A tiny processed dataset folder (``results/<ds>/`` layout of workflow/schemas/outputs.md)
written by hand with pyarrow and h5py, not by the workflow's steps: two birds, four
neurons, three stimuli, seven of the twelve (stimulus, neuron) pairs heard.  Fixture
``tiny_results`` in tests/conftest.py; tests/store/ and tests/reports/ open it with the
dataset API and compare with the arrays kept here.

Spike times sit at bin centres, so the binned counts are the spike counts per bin by
construction; the "smoothed" responses are the counts x 0.5 (any known float array
serves: the API reads them back as stored).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

DT_MS = 10.0
BIRDS = ["AaaAaa1111M", "BbbBbb2222F"]
# stim_id -> (name, type, n_bins); dataset order
STIMS = {
    "a" * 32: ("stim3", "song", 6),
    "b" * 32: ("stim5", "call", 4),
    "c" * 32: ("stim8", "mlnoise", 5),
}
# cell_id -> (bird, electrode, subsort_id, sort_type); dataset order
CELLS = {
    "AaaAaa1111M/e20_s0_ss1": (BIRDS[0], 20, 1, "single"),
    "AaaAaa1111M/e3_s0": (BIRDS[0], 3, None, "multi"),
    "BbbBbb2222F/e7_s0_ss2": (BIRDS[1], 7, 2, "single"),
    "BbbBbb2222F/e9_s1": (BIRDS[1], 9, None, "single"),
}
# heard pairs (stimulus index, neuron index) -> number of trials
HEARD = {(0, 0): 3, (0, 1): 2, (0, 2): 3, (1, 0): 2, (1, 1): 3, (2, 2): 2, (2, 3): 4}
N_BANDS = 4


@dataclass
class TinyResults:
    folder: Path
    stim_ids: list[str]
    cell_ids: list[str]
    counts: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)  # (s, n) -> (R, T) int
    spectrograms: list[np.ndarray] = field(default_factory=list)  # (F, T) float32
    freqs_hz: np.ndarray = field(default_factory=lambda: np.array([500.0, 1000.0, 2000.0, 4000.0]))

    @property
    def masks(self) -> np.ndarray:
        m = np.zeros((len(self.stim_ids), len(self.cell_ids)), dtype=bool)
        for s, n in HEARD:
            m[s, n] = True
        return m


def _write_blocks(path: Path, pairs: list[tuple[int, int]], blocks: list[np.ndarray], stim_ids, cell_ids,
                  dtype, attrs: dict) -> None:
    """The ragged layout of outputs.md, with h5py directly."""
    sizes = [b.size for b in blocks]
    offset = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64) if sizes else np.zeros(0, np.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=np.concatenate([b.ravel() for b in blocks]).astype(dtype))
        idx = f.create_group("index")
        text = h5py.string_dtype("utf-8")
        idx.create_dataset("stim_id", data=[stim_ids[s] for s, _ in pairs], dtype=text)
        idx.create_dataset("cell_id", data=[cell_ids[n] for _, n in pairs], dtype=text)
        idx.create_dataset("n_trials", data=np.array([b.shape[0] for b in blocks], dtype=np.int32))
        idx.create_dataset("n_bins", data=np.array([b.shape[1] for b in blocks], dtype=np.int32))
        idx.create_dataset("offset", data=offset)
        f.attrs["format_version"] = 1
        for k, v in attrs.items():
            f.attrs[k] = v


def build_tiny_results(folder: Path, seed: int = 7) -> TinyResults:
    rng = np.random.default_rng(seed)
    stim_ids, cell_ids = list(STIMS), list(CELLS)
    out = TinyResults(folder, stim_ids, cell_ids)
    for s, sid in enumerate(stim_ids):
        t = STIMS[sid][2]
        out.spectrograms.append((rng.random((N_BANDS, t)) + 0.01).astype(np.float32))
    for (s, n), r in sorted(HEARD.items()):
        t = STIMS[stim_ids[s]][2]
        out.counts[(s, n)] = rng.integers(0, 4, size=(r, t))
    tables = folder / "tables"
    tables.mkdir(parents=True)
    pq.write_table(pa.table({
        "stim_id": stim_ids,
        "name": [STIMS[s][0] for s in stim_ids],
        "type": [STIMS[s][1] for s in stim_ids],
        "class": [STIMS[s][1] for s in stim_ids],
        "duration_s": pa.array([STIMS[s][2] * DT_MS / 1000 for s in stim_ids], pa.float64()),
        "n_bins": pa.array([STIMS[s][2] for s in stim_ids], pa.int32()),
        "n_pre_bins": pa.array([0, 0, 0], pa.int32()),
        "wav": [f"{b}/wavfiles/{STIMS[s][0]}.wav" for b, s in zip([BIRDS[0], BIRDS[0], BIRDS[1]], stim_ids)],
        "wav_sample_rate": pa.array([24414.0] * 3, pa.float64()),
        "wav_n_samples": pa.array([int(STIMS[s][2] * 244.14) for s in stim_ids], pa.int64()),
        "animals": [[BIRDS[0], BIRDS[1]], [BIRDS[0]], [BIRDS[1]]],
        "stim_numbers": pa.array([[3, 7], [5], [8]], pa.list_(pa.int32())),
    }), tables / "stims.parquet")
    pq.write_table(pa.table({
        "cell_id": cell_ids,
        "animal_id": [CELLS[c][0] for c in cell_ids],
        "shard": [CELLS[c][0] for c in cell_ids],
        "file": [f"{c}.h5" for c in cell_ids],
        "sex": [CELLS[c][0][-1] for c in cell_ids],
        "site": ["Site1"] * 4,
        "electrode": pa.array([CELLS[c][1] for c in cell_ids], pa.int32()),
        "ldepth": pa.array([1000.0, None, 900.0, 900.0], pa.float64()),
        "rdepth": pa.array([1100.0, 1100.0, 900.0, 900.0], pa.float64()),
        "sort_type": [CELLS[c][3] for c in cell_ids],
        "sort_id": pa.array([0, 0, 0, 1], pa.int32()),
        "subsort_id": pa.array([CELLS[c][2] for c in cell_ids], pa.int32()),
        "species": ["zebra finch"] * 4,
    }), tables / "neurons.parquet")
    pairs = sorted(HEARD)
    n_spikes = [int(out.counts[p].sum()) for p in pairs]
    pq.write_table(pa.table({
        "stim_id": [stim_ids[s] for s, _ in pairs],
        "cell_id": [cell_ids[n] for _, n in pairs],
        "n_trials": pa.array([HEARD[p] for p in pairs], pa.int32()),
        "n_bins": pa.array([STIMS[stim_ids[s]][2] for s, _ in pairs], pa.int32()),
        "n_spikes": pa.array(n_spikes, pa.int64()),
        "n_empty_trials": pa.array([int((out.counts[p].sum(axis=1) == 0).sum()) for p in pairs], pa.int32()),
        "mean_rate_hz": pa.array([k / (out.counts[p].size * DT_MS / 1000) for k, p in zip(n_spikes, pairs)],
                                 pa.float64()),
    }), tables / "coverage.parquet")
    pq.write_table(pa.table({
        "what": ["unit"], "file": [f"{BIRDS[1]}/Site2_L900R900_e5_s0_ss2.h5"], "reason": ["sort type noise"],
        "cell_id": pa.array([None], pa.string()), "stim_id": pa.array([None], pa.string()),
        "trial": pa.array([None], pa.int32()),
    }), tables / "skipped.parquet")
    with h5py.File(folder / "spectrograms.h5", "w") as f:
        f.attrs["dt_ms"] = DT_MS
        f.attrs["params"] = json.dumps({"kind": "mel", "n_mels": N_BANDS, "compression": "none"})
        f.create_dataset("freqs_hz", data=out.freqs_hz)
        g = f.create_group("spectrograms")
        for sid, spec in zip(stim_ids, out.spectrograms):
            g.create_dataset(sid, data=spec)
    for bird in BIRDS:
        mine = [p for p in pairs if CELLS[cell_ids[p[1]]][0] == bird]
        counts = [out.counts[p] for p in mine]
        _write_blocks(folder / "binned" / f"{bird}.h5", mine, counts, stim_ids, cell_ids, np.uint16,
                      {"kind": "binned", "dt_ms": DT_MS, "n_pre_bins": 0, "units": "spikes per bin"})
        _write_blocks(folder / "responses" / f"{bird}.h5", mine, [0.5 * c for c in counts], stim_ids, cell_ids,
                      np.float32, {"kind": "smoothed", "dt_ms": DT_MS, "units": "spikes per bin"})
        rows = {"cell_id": [], "stim_id": [], "trial": [], "spike_times_s": []}
        for s, n in mine:
            for r, trial in enumerate(out.counts[(s, n)]):
                rows["cell_id"].append(cell_ids[n])
                rows["stim_id"].append(stim_ids[s])
                rows["trial"].append(r + 1)
                # k spikes in bin b: all at the bin centre
                rows["spike_times_s"].append([(b + 0.5) * DT_MS / 1000 for b, k in enumerate(trial) for _ in range(k)])
        interim = folder / "interim" / bird
        interim.mkdir(parents=True)
        pq.write_table(pa.table({"cell_id": rows["cell_id"], "stim_id": rows["stim_id"],
                                 "trial": pa.array(rows["trial"], pa.int32()),
                                 "spike_times_s": pa.array(rows["spike_times_s"], pa.list_(pa.float64()))}),
                       interim / "trials.parquet")
    return out
