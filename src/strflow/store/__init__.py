"""Every on-disk format strflow writes, each with its writer and reader together.

The bottom layer of the package: nothing here imports any other strflow module.

=================  ====================================================================
module             file format
=================  ====================================================================
``atomic``         the one atomic-write helper (temp file beside the target, then rename)
``tables``         every Parquet table: interim shard tables, dataset tables, quality
``blocks``         ragged (stimulus, neuron) response blocks (``binned/``, ``responses/``)
``spectrograms``   ``spectrograms.h5``
``fits``           ``strf/fits.h5`` and its per-chunk parts
``models``         a trained encoding model's folder: ``model.pt``, ``config.json``,
                   ``predictions.h5``, ``training_log.csv``
``waveforms``      ``waveforms.h5``
``ground_truth``   the synthetic datasets' ground-truth STRFs (read side)
``grid``           the dt / grid agreement check on opening a dataset
=================  ====================================================================
"""

FORMAT_VERSION = 1  # format_version attribute of every HDF5 file strflow writes
