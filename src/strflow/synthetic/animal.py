"""One synthetic bird: :func:`generate_animal` writes its AA4 raw files and ground truth
(design: :mod:`strflow.synthetic`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from strflow import timegrid
from strflow.processing.spectrogram import SpectrogramSettings, mel_frequencies
from strflow.synthetic.aa4_writer import _LowLevel, write_unit_file
from strflow.synthetic.corruption import corrupt_file_bytes, corrupt_file_name
from strflow.synthetic.ground_truth import write_ground_truth
from strflow.synthetic.neurons import animal_stims, assign_coverage, plan_units, simulate
from strflow.synthetic.settings import SyntheticSettings
from strflow.synthetic.sound import band_statistics, pool_spectrograms, stimulus_pool


def generate_animal(
    raw_dir: str | Path,
    ground_truth_path: str | Path,
    animal: str,
    spec: SyntheticSettings,
    dt_ms: float,
    spectrogram_params: SpectrogramSettings,
    *,
    overwrite: bool = False,
) -> None:
    """Write ``raw_dir/<animal>/`` (AA4 layout) and the ground-truth HDF5 for that animal.

    The folder must not exist or be empty, unless ``overwrite`` (which deletes it first).
    """
    if isinstance(spec, dict):
        spec = SyntheticSettings.from_config(spec)
    if isinstance(spectrogram_params, dict):
        spectrogram_params = SpectrogramSettings.from_config(spectrogram_params)
    if animal not in spec.animals:
        raise ValueError(f"animal {animal!r} is not in the spec's animals {spec.animals}")
    folder = Path(raw_dir) / animal
    if folder.exists() and any(folder.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{folder}: exists and is not empty (pass overwrite=True to replace it)")
        shutil.rmtree(folder)
    dt_ms = float(dt_ms)
    pool = stimulus_pool(spec)
    spectrograms = pool_spectrograms(spec, dt_ms, spectrogram_params)
    mean, std = band_statistics(spectrograms)
    xs = [(s - mean[:, None]) / std[:, None] for s in spectrograms]
    band_hz = mel_frequencies(spectrogram_params, timegrid.grid_rate(spec.sample_rate, dt_ms))
    stims = animal_stims(spec, animal)
    units = plan_units(spec, animal, band_hz, dt_ms)
    assign_coverage(spec, animal, units, stims)
    spikes = simulate(spec, animal, units, stims, xs, dt_ms)

    (folder / "wavfiles").mkdir(parents=True, exist_ok=True)
    for number, pool_index in stims.items():
        (folder / "wavfiles" / f"stim{number}.wav").write_bytes(pool[pool_index].wav)
    ll = _LowLevel()
    trial_rows: list[tuple[str, int, int, bool, np.ndarray]] = []
    for unit in sorted(units, key=lambda u: u.name):
        rows = write_unit_file(folder / unit.name, unit, spikes[unit.index], pool, stims, spec, animal, ll)
        trial_rows.extend((unit.name, *row) for row in rows)
    n_sites = max(u.site for u in units)
    corrupt = [corrupt_file_name(spec, animal, i, n_sites) for i in range(spec.corrupt_units)]
    for i, name in enumerate(corrupt):
        (folder / name).write_bytes(corrupt_file_bytes(spec, animal, i))
    write_ground_truth(
        Path(ground_truth_path),
        animal,
        spec,
        dt_ms,
        spectrogram_params,
        band_hz,
        mean,
        std,
        sorted(units, key=lambda u: u.name),
        corrupt,
        pool,
        stims,
        trial_rows,
    )
