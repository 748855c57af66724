"""Raw data in and out: :mod:`strflow.io.readers` (one reader per raw format, each turning a
shard into the interim tables), :mod:`strflow.io.download` (fetching and safely extracting
public releases) and :mod:`strflow.io.nwb` (NWB export)."""
