"""NWB in and out (pynwb): :func:`export_dataset` writes a processed dataset as NWB
files, :mod:`strflow.io.readers.nwb` reads NWB files back as a dataset (``format: nwb``).

The layout and the session clock are documented in :mod:`strflow.io.nwb.export`.
"""

from strflow.io.nwb.export import export_dataset

__all__ = ["export_dataset"]
