"""Synthetic raw data (``workflow/rules/synthetic.smk``).

One function per rule: file paths in, files out; ``workflow/scripts/*.py`` call these."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger("strflow")


def synthesize(raw_dir, ground_truth, animal: str, synthetic: dict, dt_ms: float, spectrogram: dict) -> None:
    from strflow.processing.spectrogram import SpectrogramSettings
    from strflow.synthetic import SyntheticSettings, generate_animal

    spec = SyntheticSettings.from_config(synthetic)
    log.info("generating synthetic AA4 animal %s (seed %s)", animal, spec.seed)
    generate_animal(Path(raw_dir).parent, ground_truth, animal, spec, dt_ms, SpectrogramSettings.from_config(spectrogram))
