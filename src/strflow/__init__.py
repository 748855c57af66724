"""strflow: public auditory neurophysiology datasets as analysis-ready data.

The workflow (``Snakefile``) writes ``results/<dataset>/``; :func:`open_dataset`
reads it back with deepSTRF's data paradigm (NaN sentinels, ``nrn_masks``, the
selection API).
"""

__version__ = "0.1.0"


def open_dataset(path, **kwargs):
    """Open a processed dataset folder (``results/<dataset>``); see :class:`strflow.dataset.NeuralDataset`."""
    from strflow.dataset import NeuralDataset

    return NeuralDataset(path, **kwargs)


def concat_datasets(datasets, **kwargs):
    """Pool processed datasets into one population; see :func:`strflow.dataset.concat_datasets`."""
    from strflow.dataset import concat_datasets as concat

    return concat(datasets, **kwargs)


__all__ = ["open_dataset", "concat_datasets", "__version__"]
