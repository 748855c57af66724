"""The rules' glue: one module per rule file, one function per rule (file paths in,
files out).  A rule in ``workflow/rules/<file>.smk`` runs ``workflow/scripts/<rule>.py``,
a thin adapter that unpacks the ``snakemake`` object and calls
``strflow.steps.<file>.<function>``; tests call these directly.  Every writer is atomic
(:mod:`strflow.store.atomic`), so an interrupted step never leaves an output that looks
complete.

=============  ==========================================================
module         rules
=============  ==========================================================
``synthetic``  synthesize_shard
``download``   download_*, extract_aa4_animal, assemble_*
``read``       read_shard
``stimuli``    stim_table, spectrograms
``responses``  bin_shard, smooth_shard
``tables``     tables, quality
``strf``       strf_fit_chunk, strf_gather (strf_report: :mod:`strflow.reports.strf_report`)
``nwb``        waveforms, nwb_export
=============  ==========================================================

``strflow.steps.<function>`` still resolves (lazily, importing only that module).
"""

import importlib

_HOME = {
    "synthesize": "synthetic",
    "download_archive": "download",
    "verify_recorded": "download",
    "extract_archive": "download",
    "OSF_FILES": "download",
    "assemble_osf_raw": "download",
    "CRCNS_RELEASE_FILES": "download",
    "assemble_release": "download",
    "AA4_READING": "read",
    "NS1_READING": "read",
    "read_shard": "read",
    "stim_table": "stimuli",
    "spectrograms": "stimuli",
    "STREAM_BINS": "responses",
    "bin_shard": "responses",
    "smooth_shard": "responses",
    "gather_tables": "tables",
    "no_neurons_message": "tables",
    "quality": "tables",
    "strf_fit_chunk": "strf",
    "strf_gather": "strf",
    "waveforms": "nwb",
    "nwb_export": "nwb",
}


def __getattr__(name: str):
    if name in _HOME:
        return getattr(importlib.import_module(f"strflow.steps.{_HOME[name]}"), name)
    raise AttributeError(f"module 'strflow.steps' has no attribute {name!r}")
