"""Raw readers to interim shard tables (``workflow/rules/read.smk``).

One function per rule: file paths in, files out; ``workflow/scripts/*.py`` call these."""

from __future__ import annotations

import logging

log = logging.getLogger("strflow")


AA4_READING = ("empty_trials", "on_unreadable", "on_missing_wav", "stim_types")


NS1_READING = ("spike_rounding", "on_unreadable")


def read_shard(fmt: str, raw_dir, shard: str, reading: dict, outputs: dict) -> None:
    """Read one shard of a raw dataset into the interim tables (rule ``read_shard``).

    Parameters
    ----------
    fmt
        The dataset format: ``aa4``, ``ns1``, ``aa1``, ``aa2`` or ``nwb``.
    raw_dir
        The raw folder.
    shard
        The shard (an AA4 animal; ``all`` for the other formats).
    reading
        ``processing.reading`` of the config (defaults from ``config.yaml``, the one
        place they are set).
    outputs
        ``{"trials", "neurons", "stims", "skipped"}`` -> Parquet paths.
    """
    if fmt == "aa4":
        from strflow.io.readers.aa4 import AA4Settings, read_animal

        opts = {k: v for k, v in reading.items() if k in AA4_READING}
        if "stim_types" in opts:
            opts["stim_types"] = tuple(opts["stim_types"])
        data = read_animal(raw_dir, shard, AA4Settings(**opts))
    elif fmt == "ns1":
        from strflow.io.readers.ns1 import NS1Settings, read_ns1

        data = read_ns1(raw_dir, NS1Settings(**{k: v for k, v in reading.items() if k in NS1_READING}))
    elif fmt in ("aa1", "aa2"):
        from strflow.io.readers.aa1 import read_aa1
        from strflow.io.readers.aa2 import read_aa2
        from strflow.io.readers.crcns_text import TextSettings

        types = reading.get("stim_types")
        opts = TextSettings(stim_types=tuple(types) if types else None, on_missing_wav=reading["on_missing_wav"])  # the config's (one default: config.yaml)
        data = (read_aa1 if fmt == "aa1" else read_aa2)(raw_dir, opts)
    elif fmt == "nwb":
        from strflow.io.readers.nwb import NWBSettings, read_nwb

        data = read_nwb(raw_dir, NWBSettings.from_config(reading.get("nwb")))
    else:
        raise ValueError(f"unknown dataset format {fmt!r}")
    log.info(
        "%s: %d units, %d trials, %d stimuli, %d skip records",
        shard, data.neurons.num_rows, data.trials.num_rows, data.stims.num_rows, data.skipped.num_rows,
    )
    data.write(outputs)
