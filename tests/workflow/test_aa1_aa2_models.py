"""Noise ceiling and STRF models on AA1/AA2-layout data with cells of known reliability.

The fixture (written here with numpy + soundfile, independent of strflow) is a small
AA1 or AA2 release: stimuli made of four tones (0.5, 1, 2, 4 kHz) each switched on and
off by its own random telegraph envelope, and six cells that hear every stimulus 10
times.  Cell ``c`` fires as an inhomogeneous Poisson process with rate

    rate(t) = R0 + A * (sqrt(f_c) * s(t) + sqrt(1 - f_c) * z_trial(t)),

where ``s(t) = 2 * env_1kHz(t - LAG) - 1`` is stimulus-locked (the same on every trial)
and ``z_trial`` an independent telegraph of the same statistics drawn anew for every
trial (both +-1, unit variance).  So the fraction of the rate variance that is
stimulus-locked is exactly ``f_c`` (FRACTIONS), the Poisson noise is the same for every
cell (mean rate R0), and the expected reliability order is the order of ``f_c``.  The
``f = 1`` cell's rate is a linear function of the 1 kHz band envelope, hence (almost) a
linear function of the spectrogram: a linear STRF can predict it.
"""

from __future__ import annotations

import hashlib
import math
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile as sf
import yaml
from tests.helpers import REPO
from tests.helpers.aa1_aa2 import write



pytestmark = pytest.mark.workflow

SR = 16000  # Hz: Nyquist = the default fmax_hz (8 kHz); 80 samples per 5 ms bin
DT = 5.0  # ms, the workflow's default dt_ms
HOP = int(SR * DT / 1000)
R0, A = 100.0, 60.0  # Hz; min rate R0 - A*sqrt(2) > 0, so no clipping: the fractions are exact
LAG_MS = 15  # the rate follows the 1 kHz envelope 15 ms later (3 bins; causal)
PAD_MS = 100  # spikes are simulated from 100 ms before onset to 100 ms after the end
TONES = (500.0, 1000.0, 2000.0, 4000.0)
DRIVE = 1  # index of the tone whose envelope drives the cells
N_TRIALS = 10
FRACTIONS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)  # stimulus-locked fraction of rate variance
# Stimulus types (15 stimuli: enough for a 5-fold CV + a stratified 20 % test set).
TYPES = {
    "aa1": ["conspecific"] * 10 + ["flatrip"] * 5,
    "aa2": ["conspecific"] * 8 + ["songrip"] * 4 + ["flatrip"] * 3,
}
SEED = 20260207


def telegraph(rng: np.random.Generator, n_ms: int) -> np.ndarray:
    """0/1 per ms: on/off segments of 20-80 ms, random start state."""
    out = np.empty(n_ms)
    i, state = 0, rng.integers(2)
    while i < n_ms:
        n = int(rng.integers(20, 81))
        out[i : i + n] = state
        i, state = i + n, 1 - state
    return out


def stimulus(rng: np.random.Generator, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """(waveform, 0/1 envelope per ms of the driving tone) of one stimulus."""
    n_ms = -(-n_samples * 1000 // SR)
    t = np.arange(n_samples) / SR
    ramp = np.hanning(33)[1:-1]  # 2 ms on/off ramps
    ramp /= ramp.sum()
    wave, drive = np.zeros(n_samples), None
    for k, freq in enumerate(TONES):
        env = telegraph(rng, n_ms)
        if k == DRIVE:
            drive = env
        smooth = np.convolve(np.repeat(env, SR // 1000)[:n_samples], ramp, mode="same")
        wave += 0.2 * smooth * np.sin(2 * np.pi * freq * t)
    return wave, drive


def fmt_trial(times_ms: np.ndarray) -> str:
    return "".join(f"{t:.3f} " for t in times_ms) + "\n"


def build_release(root: Path, fmt: str) -> dict:
    """Write an AA1 or AA2 release under ``root``.

    Returns ``{"stims": [(stim_id, type, n_samples)], "cells": {cell_id: f},
    "spikes": {(cell_id, stim_id): [per-trial arrays of the spike times (ms) as written]}}``.
    """
    rng = np.random.default_rng(SEED)
    types = TYPES[fmt]
    stims = []
    for i, stype in enumerate(types):
        stim_id = hashlib.md5(f"{fmt}-{i}".encode()).hexdigest().upper()
        # 1.0-1.7 s, never a whole number of bins (the partial last bin is dropped)
        n_samples = int(rng.integers(16000, 27200))
        n_samples += 1 if n_samples % HOP == 0 else 0
        wave, drive = stimulus(rng, n_samples)
        wav = root / "all_stims" / (stype if fmt == "aa1" else "") / f"{stim_id}.wav"
        wav.parent.mkdir(parents=True, exist_ok=True)
        sf.write(wav, wave, SR, subtype="PCM_16")
        stims.append((stim_id, stype, n_samples, drive))
    cells = {}
    for c, f in enumerate(FRACTIONS):
        name = f"zf{c:02d}{c + 3:02d}_{c + 1}" + ("_A" if c % 2 else "")
        area = ("Field_L_cells" if c % 2 else "MLd_cells") if fmt == "aa1" else "all_cells"
        cells[name] = (f, root / area / name)
    if fmt == "aa1":  # an AA1 release has both area folders
        for area in ("Field_L_cells", "MLd_cells"):
            (root / area).mkdir(parents=True, exist_ok=True)
    spikes: dict = {}
    fine = 0.1  # ms: Bernoulli approximation of the Poisson process (p = rate * 1e-4 <= 0.02)
    for name, (f, folder) in cells.items():
        counters: dict[str, int] = {}
        for stim_id, stype, n_samples, drive in stims:
            n_ms = len(drive) + 2 * PAD_MS
            t_ms = np.arange(n_ms) - PAD_MS  # start of each ms
            lagged = t_ms - LAG_MS
            inside = (lagged >= 0) & (lagged < len(drive))
            s = 2.0 * np.where(inside, drive[np.clip(lagged, 0, len(drive) - 1)], 0.0) - 1.0
            lines, trials = [], []
            for _ in range(N_TRIALS):
                z = 2.0 * telegraph(rng, n_ms) - 1.0
                rate = R0 + A * (math.sqrt(f) * s + math.sqrt(1.0 - f) * z)
                p = np.repeat(rate, int(round(1 / fine))) * fine / 1000.0
                idx = np.flatnonzero(rng.random(p.size) < p)
                times = (idx + rng.random(idx.size)) * fine - PAD_MS
                line = fmt_trial(times)
                lines.append(line)
                trials.append(np.array([float(x) for x in line.split()]))
            k = counters[stype] = counters.get(stype, 0) + 1
            write(folder / stype / f"stim{k}", f"{stim_id}.wav\n")
            write(folder / stype / f"spike{k}", "".join(lines))
            spikes[name, stim_id] = trials
    if fmt == "aa2":
        write(root / "cell_regions.csv", "".join(f"{n},{'mld' if i % 2 else 'L2a'}\n" for i, n in enumerate(cells)))
        kinds = sorted(set(types))
        write(root / "cell_stim_classes.csv", "".join(f"{n},{','.join(kinds)}\n" for n in cells))
        write(root / "stim_data.csv", "".join(f"{s}.wav,{SR},16,{n},{t}\n" for s, t, n, _ in stims))
    return dict(stims=[(s, t, n) for s, t, n, _ in stims], cells={n: f for n, (f, _) in cells.items()}, spikes=spikes)


def snakemake(workdir: Path, cfg: Path, *targets: str) -> None:
    out = subprocess.run(
        [str(Path(sys.executable).parent / "snakemake"), *targets, "-s", str(REPO / "Snakefile"), "-d", str(workdir),
         "--cores", "2", "--configfile", str(cfg)],
        capture_output=True, text=True, timeout=900,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]


@pytest.fixture(scope="module", params=["aa1", "aa2"])
def release(request, tmp_path_factory):
    """One release per format, run to tables/quality.parquet (the STRF test continues it)."""
    fmt = request.param
    work = tmp_path_factory.mktemp(f"models_{fmt}")
    truth = build_release(work / "raw", fmt)
    cfg = work / "c.yaml"
    cfg.write_text(yaml.safe_dump({"datasets": {"t": dict(format=fmt, source="local", path=str(work / "raw"),
                                                          processing=dict(reading=dict(on_missing_wav="skip")))}}))
    snakemake(work, cfg, "results/t/tables/quality.parquet")
    return dict(fmt=fmt, work=work, cfg=cfg, res=work / "results" / "t", **truth)


def counts(trials: list[np.ndarray], n_samples: int) -> np.ndarray:
    """(R, T) spike counts, bins [k*DT, (k+1)*DT) ms, whole bins of the wav only."""
    n_bins = n_samples // HOP  # = floor(duration_ms / DT) exactly
    out = np.zeros((len(trials), n_bins))
    for r, t in enumerate(trials):
        k = np.floor(t / DT).astype(int)
        k = k[(k >= 0) & (k < n_bins)]
        np.add.at(out[r], k, 1)
    return out


def sahani_linden(block: np.ndarray) -> tuple[float, float]:
    """(SP, NP) with the 1/T power: SP = (R Var(psth) - mean_n Var(r_n)) / (R - 1)."""
    n_rep = block.shape[0]
    tp = block.var(axis=1).mean()
    sp = (n_rep * block.mean(axis=0).var() - tp) / (n_rep - 1)
    return sp, tp - sp


def test_quality_ranks_cells_by_reliability(release):
    q = {r["cell_id"]: r for r in pq.read_table(release["res"] / "tables" / "quality.parquet").to_pylist()}
    cells = release["cells"]
    assert set(q) == set(cells)
    assert all(q[c]["n_stimuli"] == len(release["stims"]) for c in cells)
    order = sorted(cells, key=cells.get)  # expected reliability order, from the simulation
    driven = [c for c in order if cells[c] > 0]
    null = order[0]
    assert cells[null] == 0.0

    # Every stimulus-driven cell: a finite ceiling and no reason; strictly monotone in f.
    for c in driven:
        assert q[c]["reason"] == "" and q[c]["signal_power"] > 0, (c, q[c])
    for col, sign in (("ccmax_sp", 1), ("ccmax_split", 1), ("signal_power", 1), ("noise_ratio", -1)):
        values = np.array([q[c][col] for c in driven])
        assert np.all(np.isfinite(values)), (col, values)
        assert np.all(sign * np.diff(values) > 0), (col, values)  # Spearman rho = 1 (resp. -1)

    # The cell with no stimulus-locked rate: true SP = 0.  Its estimate is a small
    # fraction of the least reliable driven cell's (that one has 0.2 * A^2 dt^2 = 0.018
    # counts^2 per bin of signal vs ~0.5 of Poisson noise), and either the noise ratio
    # is NaN with the documented reason (SP <= 0) or it is far above every driven cell's.
    z = q[null]
    weakest = q[driven[0]]
    assert abs(z["signal_power"]) < 0.25 * weakest["signal_power"], (z, weakest)
    if z["signal_power"] <= 0:
        assert math.isnan(z["noise_ratio"]) and z["reason"] == "sp_nonpositive", z
    else:
        assert z["reason"] == "" and z["noise_ratio"] > 4 * weakest["noise_ratio"], (z, weakest)
    # ccmax of pure noise: SP and Var(PSTH) are pooled over stimuli before the square
    # root, so the ceiling is NaN (pooled SP <= 0) or only what a chance SP > 0 gives
    # (sqrt of a small ratio: 0.17 here), well below half of f = 0.2's (>= 0.43);
    # averaging per-stimulus ceilings over the chance SP > 0 stimuli gave ~0.27.
    for col in ("ccmax_sp", "ccmax_split"):
        assert math.isnan(z[col]) or z[col] < 0.5 * weakest[col], (col, z, weakest)
    if math.isnan(z["ccmax_sp"]):
        assert z["signal_power"] <= 0

    # One value by hand: SP and NP of the f = 0.6 cell, straight from the spike times
    # written, length-weighted across stimuli (weights = n_bins), as quality.py documents.
    cell = next(c for c in cells if cells[c] == 0.6)
    per = [(sahani_linden(counts(release["spikes"][cell, s], n)), n // HOP) for s, _, n in release["stims"]]
    w = np.array([t for _, t in per], dtype=float)
    sp = np.array([p[0] for p, _ in per])
    npow = np.array([p[1] for p, _ in per])
    assert q[cell]["signal_power"] == pytest.approx(float(w @ sp / w.sum()), rel=1e-9)
    assert q[cell]["noise_power"] == pytest.approx(float(w @ npow / w.sum()), rel=1e-9)
    # the weighting matters at this tolerance (stimuli differ in length)
    assert q[cell]["signal_power"] != pytest.approx(float(sp.mean()), rel=1e-6)
    by_stim = {(r["cell_id"], r["stim_id"]): r for r in
               pq.read_table(release["res"] / "tables" / "quality_by_stim.parquet").to_pylist()}
    for (s, _, n), value in zip(release["stims"], sp):
        assert by_stim[cell, s]["n_bins"] == n // HOP and by_stim[cell, s]["n_trials"] == N_TRIALS
        assert by_stim[cell, s]["signal_power"] == pytest.approx(value, rel=1e-9)


METRIC_COLUMNS = ["cell_id", "model", "ccabs", "ccnorm", "ccmax", "test_mse", "penalty", "penalty_at_edge", "cv_r",
                  "n_train_stims", "n_test_stims", "gt_corr", "reason", "sp_zscore", "sp_pvalue", "ceiling_reliable",
                  "flags", "noise_ratio"]


def test_strf_models(release):
    snakemake(release["work"], release["cfg"], "results/t/strf/metrics.parquet", "results/t/strf/report.pdf")
    res, cells = release["res"], release["cells"]
    assert (res / "strf" / "report.pdf").stat().st_size > 0
    table = pq.read_table(res / "strf" / "metrics.parquet")
    assert table.column_names == METRIC_COLUMNS
    rows = {(r["cell_id"], r["model"]): r for r in table.to_pylist()}
    assert len(rows) == table.num_rows == 2 * len(cells)
    assert set(rows) == {(c, m) for c in cells for m in ("linear", "ln")}

    # The split: whole stimuli, each exactly once; per type max(1, round(0.2 n)) test stimuli.
    with h5py.File(res / "strf" / "fits.h5", "r") as f:
        stim_ids = [s.decode() for s in f["split/stim_id"][()]]
        roles = [s.decode() for s in f["split/role"][()]]
        fitted = [s.decode() for s in f["cell_id"][()]]
        assert f["linear/weights"].shape[0] == f["ln/weights"].shape[0] == len(cells)
    assert sorted(fitted) == sorted(cells)
    type_of = {s: t for s, t, _ in release["stims"]}
    assert sorted(stim_ids) == sorted(type_of) and set(roles) <= {"train", "test"}
    role = dict(zip(stim_ids, roles))
    for stype in set(type_of.values()):
        members = [s for s in type_of if type_of[s] == stype]
        n_test = sum(role[s] == "test" for s in members)
        assert n_test == max(1, round(0.2 * len(members))), (stype, n_test, len(members))
    n_test = sum(r == "test" for r in roles)
    for (c, m), r in rows.items():
        assert (r["n_train_stims"], r["n_test_stims"]) == (len(type_of) - n_test, n_test), (c, m, r)

    q = {r["cell_id"]: r["noise_ratio"] for r in pq.read_table(res / "tables" / "quality.parquet").to_pylist()}
    for (c, m), r in rows.items():
        assert r["noise_ratio"] == q[c] or (math.isnan(r["noise_ratio"]) and math.isnan(q[c]))
        assert math.isnan(r["gt_corr"])  # not a synthetic dataset

    # Reliable, stimulus-driven cells (f >= 0.6): finite CCnorm, no reason.  The f = 1
    # cell's rate is linear in the 1 kHz band envelope (a 0/1 tone switch, hence ~linear
    # in that band of the cubic-compressed spectrogram, up to the 2 ms ramps), so a linear
    # STRF should reach CCnorm near 1; 0.5 leaves room for estimation noise on 3-4 test
    # stimuli of 10 trials.  The f = 0.6 cell's stimulus-locked part is the same
    # function, so its CCnorm (noise-corrected) should be far above 0.3 too.
    for c in cells:
        if cells[c] >= 0.6:
            for m in ("linear", "ln"):
                r = rows[c, m]
                assert r["reason"] == "" and np.isfinite([r["ccnorm"], r["ccabs"], r["ccmax"], r["cv_r"]]).all(), r
                assert r["ccnorm"] > (0.5 if cells[c] == 1.0 else 0.3), r
    # The unreliable cell (no stimulus-locked rate): NaN with a reason, or a prediction
    # uncorrelated with its test PSTH (|CCabs| small: the PSTH is Poisson noise).
    null = next(c for c in cells if cells[c] == 0.0)
    for m in ("linear", "ln"):
        r = rows[null, m]
        if math.isnan(r["ccnorm"]):
            assert r["reason"] != "", r
        else:
            assert abs(r["ccabs"]) < 0.2, r
