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


@dataclass(frozen=True)
class DatasetSettings:
    name: str
    format: str
    source: str
    raw_dir: str
    shards: tuple[str, ...]
    processing: dict
    synthetic: dict | None

    @property
    def dt_ms(self) -> float:
        return float(self.processing["dt_ms"])


def dataset_settings(config: dict, name: str) -> DatasetSettings:
    datasets = config.get("datasets", {})
    if name not in datasets:
        raise KeyError(f"dataset {name!r} is not in the config (known: {', '.join(sorted(datasets))})")
    entry = datasets[name]
    processing = deep_merge(config.get("processing", {}), entry.get("processing"))
    if entry["source"] == "synthetic":
        from strflow.synthetic import SyntheticSpec

        spec = SyntheticSpec.from_config(entry["synthetic"])
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
    return DatasetSettings(
        name=name,
        format=entry["format"],
        source=entry["source"],
        raw_dir=raw_dir,
        shards=shards,
        processing=processing,
        synthetic=entry.get("synthetic"),
    )


def load_config(path: str | Path) -> dict:
    """Read and validate a config file (the same validation the Snakefile does)."""
    import jsonschema

    with open(path) as fh:
        config = yaml.safe_load(fh)
    with open(SCHEMA) as fh:
        schema = yaml.safe_load(fh)
    jsonschema.validate(config, schema)
    return config
