"""Dataset configuration: defaults merged with per-dataset overrides.

The Snakefile validates the whole config against ``workflow/schemas/config.schema.yaml``;
:func:`dataset_settings` then resolves one dataset entry into what the rules need.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import yaml

SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


def deep_merge(base: dict, override: dict | None) -> dict:
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


# Species recorded in each public format, for the neurons table (a dataset entry's
# `species:` overrides it, e.g. for one's own data in the AA4 layout).
FORMAT_SPECIES = {"aa1": "zebra finch", "aa2": "zebra finch", "aa4": "zebra finch", "ns1": "ferret"}


@dataclass(frozen=True)
class DatasetSettings:
    name: str
    format: str
    source: str
    raw_dir: str
    shards: tuple[str, ...]
    processing: dict
    synthetic: dict | None
    species: str = ""

    @property
    def dt_ms(self) -> float:
        return float(self.processing["dt_ms"])

    @property
    def pre_stim_bins(self) -> int:
        """Whole bins of the pre-stimulus window (processing.pre_stim_ms)."""
        return pre_stim_bins(self.processing.get("pre_stim_ms", 0), self.dt_ms, self.name)


def pre_stim_bins(pre_stim_ms: float, dt_ms: float, name: str = "?") -> int:
    """``pre_stim_ms / dt_ms`` as an integer; an error unless it is a whole number of bins."""
    n = pre_stim_ms / dt_ms
    if pre_stim_ms < 0 or abs(n - round(n)) > 1e-9:
        raise ValueError(
            f"dataset {name!r}: processing.pre_stim_ms ({pre_stim_ms:g}) must be a whole, non-negative "
            f"number of dt_ms ({dt_ms:g} ms) bins"
        )
    return int(round(n))


def dataset_settings(config: dict, name: str) -> DatasetSettings:
    datasets = config.get("datasets", {})
    if name not in datasets:
        raise KeyError(f"dataset {name!r} is not in the config (known: {', '.join(sorted(datasets))})")
    entry = datasets[name]
    processing = deep_merge(config.get("processing", {}), entry.get("processing"))
    if entry["source"] == "synthetic" and processing.get("spectrogram", {}).get("kind", "mel") != "mel":
        kind = processing["spectrogram"]["kind"]
        raise ValueError(
            f"dataset {name!r}: source synthetic needs processing.spectrogram.kind mel (its ground-truth STRFs "
            f"act on the mel spectrogram), not {kind!r}"
        )
    if entry["source"] == "synthetic":
        from strflow.synthetic import SyntheticSettings

        spec = SyntheticSettings.from_config(entry["synthetic"])
        shards = tuple(spec.animals)
        raw_dir = f"results/{name}/raw"
    else:
        raw_dir = entry["path"]
        if entry["source"] in ("crcns", "osf") and raw_dir != f"results/{name}/raw":
            raise ValueError(
                f"dataset {name!r}: source {entry['source']} downloads into results/{name}/raw, not {raw_dir!r}; "
                "use source: local for an existing copy elsewhere"
            )
        shards = tuple(entry.get("animals", ())) if entry["format"] == "aa4" else ("all",)
    settings = DatasetSettings(
        name=name,
        format=entry["format"],
        source=entry["source"],
        raw_dir=raw_dir,
        shards=shards,
        processing=processing,
        synthetic=entry.get("synthetic"),
        species=entry.get("species") or FORMAT_SPECIES.get(entry["format"], ""),  # nwb: from the files
    )
    # clear errors when the config is read, not mid-run
    settings.pre_stim_bins
    if "window_ms" in processing.get("smoothing", {}):
        from strflow.processing.smoothing import check_window

        check_window(processing["smoothing"]["window_ms"], settings.dt_ms, f"dataset {name!r}: processing.smoothing")
    if entry.get("neuron_filter"):
        from strflow.io.readers import neuron_columns
        from strflow.selection import validate

        validate(entry["neuron_filter"], neuron_columns(entry["format"]), where=f"datasets.{name}.neuron_filter")
    return settings


def load_config(path: str | Path) -> dict:
    """Read and validate a config file (the same validation the Snakefile does)."""
    import jsonschema

    with open(path) as fh:
        config = yaml.safe_load(fh)
    with open(SCHEMA) as fh:
        schema = yaml.safe_load(fh)
    jsonschema.validate(config, schema)
    return config
