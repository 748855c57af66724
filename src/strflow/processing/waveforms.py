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

from pathlib import Path

import numpy as np

from strflow import timegrid
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
    """One grid-rate waveform per stimulus with a wav (:mod:`strflow.store.waveforms`).

    Parameters
    ----------
    stims_path
        ``tables/stims.parquet`` (``wav``, ``wav_sample_rate``, ``n_bins``, ``n_pre_bins``).
    raw_dir
        The raw folder the ``wav`` paths are relative to.
    dt_ms
        Bin width of the grid.
    out
        ``waveforms.h5``.

    Returns
    -------
    int
        How many waveforms were written.
    """
    import pyarrow.parquet as pq

    from strflow.store.waveforms import write_waveforms_file

    stims = pq.read_table(stims_path).to_pylist()

    def computed():
        for row in stims:
            if not row["wav"]:
                continue
            wave, _ = read_stimulus_audio(raw_dir, row["wav"])
            samples, rate, spb = grid_waveform(wave, row["wav_sample_rate"], dt_ms, row["n_pre_bins"])
            if samples.shape[0] != spb * row["n_bins"]:
                raise ValueError(f"{row['wav']}: {samples.shape[0]} samples but the stimulus table says "
                                 f"{row['n_bins']} bins of {spb} samples")
            yield row["stim_id"], samples, rate, spb

    return write_waveforms_file(out, computed(), dt_ms, dict(resampler="soxr_hq", dtype="float32"))
