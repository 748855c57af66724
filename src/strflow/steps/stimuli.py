"""The stimulus table and spectrograms (``workflow/rules/stimuli.smk``).

One function per rule: file paths in, files out; ``workflow/scripts/*.py`` call these."""

from __future__ import annotations

import logging

import numpy as np
import pyarrow.parquet as pq

log = logging.getLogger("strflow")


def stim_table(shard_stims: list, dt_ms: float, out, pre_bins: int = 0) -> None:
    """Merge the shards' stimulus registries into ``tables/stims.parquet`` (rule ``stim_table``).

    Parameters
    ----------
    shard_stims
        The shards' ``stims.parquet``.
    dt_ms
        Bin width of the time grid.
    out
        The output table.
    pre_bins
        Bins of the pre-stimulus window.
    """
    from strflow.store.tables import write_parquet
    from strflow.processing.dataset_tables import build_stim_table
    from strflow.store.tables import read_tables

    table = build_stim_table(read_tables(shard_stims), dt_ms, pre_bins)
    log.info("%d unique stimuli", table.num_rows)
    write_parquet(table, out)


def spectrograms(stims_path, raw_dir, dt_ms: float, params: dict, out) -> None:
    """One spectrogram per stimulus with a waveform, on the response grid (rule ``spectrograms``).

    Parameters
    ----------
    stims_path
        ``tables/stims.parquet``.
    raw_dir
        The raw folder (``wav`` paths are relative to it).
    dt_ms
        Bin width; every spectrogram must have the table's ``n_bins`` frames.
    params
        ``processing.spectrogram`` of the config (mel or cochleagram).
    out
        ``spectrograms.h5`` (:mod:`strflow.store.spectrograms`).
    """
    from strflow.processing.spectrogram import compute_spectrogram, spectrogram_settings
    from strflow.store.spectrograms import write_spectrograms
    from strflow.processing.waveforms import read_stimulus_audio

    sp = spectrogram_settings(params)  # mel (SpectrogramSettings) or cochleagram (CochleagramSettings)
    stims = pq.read_table(stims_path).to_pylist()

    def computed():
        freqs = None
        for row in stims:
            if not row["wav"]:
                continue
            wave, _ = read_stimulus_audio(raw_dir, row["wav"])  # a wav, or audio inside an NWB file
            sr = row["wav_sample_rate"]  # the reader's rate: NS1 headers round 48828.125 Hz to 48828
            spec, freqs_s = compute_spectrogram(wave, sr, dt_ms, sp, pre_bins=row["n_pre_bins"])
            if spec.shape[1] != row["n_bins"]:
                raise ValueError(f"{row['wav']}: {spec.shape[1]} frames but the stimulus table says {row['n_bins']} bins")
            if freqs is None:
                freqs = freqs_s
            elif not np.allclose(freqs, freqs_s):
                raise ValueError(f"{row['wav']}: band centres differ from the first stimulus' (different sample rate?)")
            yield row["stim_id"], spec, freqs_s

    n = write_spectrograms(out, computed(), dt_ms, sp.as_dict())
    log.info("%d spectrograms written to %s (%d rows in the stimulus table)", n, out, len(stims))
