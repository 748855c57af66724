"""Raw-format readers.  Each turns one *shard* of a raw dataset (an AA4 animal, or a
whole NS1/AA1/AA2 release) into a :class:`~strflow.readers.shard.Shard`: ragged spike
trains plus neuron, stimulus and skip records, format-independent from there on."""

from __future__ import annotations

import importlib

import pyarrow as pa

from strflow.readers.shard import Shard, SkipLog

__all__ = ["Shard", "SkipLog", "neuron_columns"]

_NEURONS_SCHEMA_OF = {
    "aa4": "strflow.readers.aa4",
    "ns1": "strflow.readers.ns1",
    "aa1": "strflow.readers.crcns_text",
    "aa2": "strflow.readers.crcns_text",
}


def neuron_columns(fmt: str) -> pa.Schema | None:
    """The columns of ``tables/neurons.parquet`` for a format: the reader's own, plus
    ``species`` (added for every dataset by the tables step).  None for ``nwb``, whose
    columns are whatever the file's units table holds (checked once it is read)."""
    if fmt == "nwb":
        return None
    if fmt not in _NEURONS_SCHEMA_OF:
        raise ValueError(f"unknown dataset format {fmt!r} (known: {', '.join(sorted(_NEURONS_SCHEMA_OF))})")
    schema = importlib.import_module(_NEURONS_SCHEMA_OF[fmt]).NEURONS_SCHEMA
    return schema if "species" in schema.names else schema.append(pa.field("species", pa.string()))
