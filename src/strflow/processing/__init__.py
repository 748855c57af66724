"""Array processing on the shared time grid: spike binning, smoothing, mel spectrograms,
the NS1 cochleagram, grid-rate waveforms and the dataset tables built from shard tables.
Pure functions over arrays; the files they feed are written through :mod:`strflow.store`."""
