"""Grid-rate waveforms and the NWB export (``workflow/rules/nwb.smk``).

One function per rule: file paths in, files out; ``workflow/scripts/*.py`` call these."""

from __future__ import annotations

import logging

log = logging.getLogger("strflow")


def waveforms(stims_path, raw_dir, dt_ms: float, out) -> None:
    """One grid-rate waveform per stimulus (``waveforms.h5``, see :mod:`strflow.processing.waveforms`)."""
    from strflow.processing.waveforms import write_waveforms

    n = write_waveforms(stims_path, raw_dir, dt_ms, out)
    log.info("%d waveforms written to %s", n, out)


def nwb_export(dataset_dir, fmt: str, shards: list, settings: dict, provenance: dict, out, raw_dir=None) -> None:
    """The processed dataset as NWB files, one per subject/session (:mod:`strflow.io.nwb`)."""
    from strflow.io.nwb import export_dataset

    files = export_dataset(dataset_dir, fmt, list(shards), dict(settings), dict(provenance), out, raw_dir=raw_dir)
    log.info("%d NWB files written to %s", len(files), out)
