"""Raw-format readers.  Each turns one *shard* of a raw dataset (an AA4 animal, or a
whole NS1/AA1/AA2 release) into a :class:`~strflow.io.readers.shard.Shard`: ragged spike
trains plus neuron, stimulus and skip records, format-independent from there on."""

from __future__ import annotations

import pyarrow as pa

from strflow.io.readers.shard import Shard, SkipLog

__all__ = ["Shard", "SkipLog", "neuron_columns"]

_NEURONS_SCHEMA_OF = {"aa4": "AA4_NEURONS_SCHEMA", "ns1": "NS1_NEURONS_SCHEMA", "aa1": "TEXT_NEURONS_SCHEMA", "aa2": "TEXT_NEURONS_SCHEMA"}


def neuron_columns(fmt: str) -> pa.Schema | None:
    """The columns of ``tables/neurons.parquet`` for a format: the reader's own, plus
    ``species`` (added for every dataset by the tables step).  None for ``nwb``, whose
    columns are whatever the file's units table holds (checked once it is read)."""
    if fmt == "nwb":
        return None
    if fmt not in _NEURONS_SCHEMA_OF:
        raise ValueError(f"unknown dataset format {fmt!r} (known: {', '.join(sorted(_NEURONS_SCHEMA_OF))})")
    from strflow.store import tables

    schema = getattr(tables, _NEURONS_SCHEMA_OF[fmt])
    return schema if "species" in schema.names else schema.append(pa.field("species", pa.string()))
