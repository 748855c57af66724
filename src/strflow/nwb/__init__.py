"""NWB in and out (pynwb): :func:`export_dataset` writes a processed dataset as NWB
files, :mod:`strflow.readers.nwb` reads NWB files back as a dataset (``format: nwb``).

The layout and the session clock are documented in :mod:`strflow.nwb.export`.
"""

from strflow.nwb.export import export_dataset

__all__ = ["export_dataset"]
