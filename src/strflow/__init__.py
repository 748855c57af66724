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


def load_model(path, model: str = "ln"):
    """Load a trained encoding model (``models/<model>/seed<k>``) or ridge fits (``strf/fits.h5``,
    ``model`` = ``linear`` | ``ln``); see :func:`strflow.nn.api.load_model`."""
    from strflow.nn.api import load_model as load

    return load(path, model)


def fit_model(dataset, model: str = "nrf", **options):
    """Train a zoo model on an :func:`open_dataset` selection; see :func:`strflow.nn.api.fit_model`."""
    from strflow.nn.api import fit_model as fit

    return fit(dataset, model, **options)


__all__ = ["open_dataset", "concat_datasets", "load_model", "fit_model", "__version__"]
