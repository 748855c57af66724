"""Stimulus waveforms on the exact time grid (``results/<ds>/waveforms.h5``).

For models that learn their own front end (deepSTRF's ``return_waveform``), each
stimulus is stored as mono float32 audio at the grid rate of :mod:`strflow.timegrid`,
the rate at which one ``dt_ms`` bin is exactly ``samples_per_bin`` samples (the native
rate when it already is; otherwise the sound is resampled with librosa/soxr exactly
as the spectrogram step does).  A stimulus with ``n_bins`` bins on the grid (the
pre-stimulus window included) has exactly ``samples_per_bin * n_bins`` samples:
``n_pre_bins * samples_per_bin`` zeros (silence before onset), then the sound cut to
its whole bins.  Bin ``k`` of the responses therefore covers exactly the samples
``[k * samples_per_bin, (k + 1) * samples_per_bin)``.

Audio is located by the stimulus table's ``wav`` column: a path relative to the raw
folder, or, for datasets imported from NWB, ``<file.nwb>#<series path>`` (see
:func:`read_stimulus_audio`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from strflow import timegrid
from strflow.store import FORMAT_VERSION
from strflow.store.atomic import atomic_path
NWB_SEPARATOR = "#"


def read_stimulus_audio(raw_dir, wav: str) -> tuple[np.ndarray, float]:
    """Mono float64 samples and the file's rate for a stimulus table ``wav`` entry.

    ``<file>#<path>`` reads the TimeSeries at ``<path>`` of an NWB file (relative to
    ``raw_dir``) with pynwb; anything else is an audio file read with soundfile."""
    if NWB_SEPARATOR in wav:
        from strflow.io.readers.nwb import read_nwb_audio

        file, series = wav.split(NWB_SEPARATOR, 1)
        base = Path(raw_dir)
        base = base.parent if base.is_file() else base  # a format: nwb path may be one file
        return read_nwb_audio(base / file, series)
    from strflow.processing.spectrogram import read_wav

    return read_wav(Path(raw_dir) / wav)


def grid_waveform(wave: np.ndarray, sr: float, dt_ms: float, pre_bins: int = 0) -> tuple[np.ndarray, float, int]:
    """(samples, grid rate, samples per bin): ``wave`` resampled to the grid rate and cut
    (or zero-padded by at most a resampling edge) to ``(pre_bins + n_bins) * spb`` samples,
    with ``pre_bins * spb`` zeros before onset."""
    wave, rate, spb, n = timegrid.resample_to_grid(wave, sr, dt_ms)
    out = np.zeros((pre_bins + n) * spb, dtype=np.float32)
    body = wave[: n * spb]
    out[pre_bins * spb : pre_bins * spb + body.shape[0]] = body
    return out, rate, spb


def write_waveforms(stims_path, raw_dir, dt_ms: float, out) -> int:
    """One grid-rate waveform per stimulus with a wav; returns how many were written."""
    import h5py
    import pyarrow.parquet as pq

    stims = pq.read_table(stims_path).to_pylist()
    spb_all: set[int] = set()
    written = 0
    with atomic_path(out) as tmp, h5py.File(tmp, "w") as f:
        group = f.create_group("waveforms")
        for row in stims:
            if not row["wav"]:
                continue
            wave, _ = read_stimulus_audio(raw_dir, row["wav"])
            samples, rate, spb = grid_waveform(wave, row["wav_sample_rate"], dt_ms, row["n_pre_bins"])
            if samples.shape[0] != spb * row["n_bins"]:
                raise ValueError(f"{row['wav']}: {samples.shape[0]} samples but the stimulus table says "
                                 f"{row['n_bins']} bins of {spb} samples")
            d = group.create_dataset(row["stim_id"], data=samples, compression="gzip", compression_opts=1)
            d.attrs["sample_rate_hz"] = rate
            d.attrs["samples_per_bin"] = spb
            spb_all.add(spb)
            written += 1
        f.attrs["dt_ms"] = dt_ms
        f.attrs["format_version"] = FORMAT_VERSION
        # one value when every stimulus shares the grid rate (the usual case), else -1
        f.attrs["samples_per_bin"] = spb_all.pop() if len(spb_all) == 1 else -1
        f.attrs["params"] = json.dumps(dict(resampler="soxr_hq", dtype="float32"))
    return written
