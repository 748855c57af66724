"""Raw-format readers.  Each turns one *shard* of a raw dataset (an AA4 animal, or a
whole NS1/AA1/AA2 release) into a :class:`~strflow.readers.shard.Shard`: ragged spike
trains plus neuron, stimulus and skip records, format-independent from there on."""

from strflow.readers.shard import Shard, SkipLog

__all__ = ["Shard", "SkipLog"]
