"""``results/<ds>/ground_truth/<animal>.h5`` of synthetic datasets, read side: the units'
ground-truth STRFs that the STRF fits are compared with.  The file is written with the
raw data by :func:`strflow.synthetic.ground_truth.write_ground_truth` (which documents
its layout); reading lives here so that the STRF rule does not load the generator."""

from __future__ import annotations



def read_ground_truth_strfs(paths: list) -> dict:
    """The ground-truth STRF of every unit that has one.

    Parameters
    ----------
    paths
        Ground-truth files (:func:`strflow.synthetic.ground_truth.write_ground_truth`), one per animal.

    Returns
    -------
    dict
        ``cell_id -> {"strf": (F, L) array, "std": the generator's band std or None}``.
    """
    import h5py

    out = {}
    for path in paths:
        with h5py.File(path, "r") as f:
            # the generator's band std: gt_corr compares STRFs in raw-spectrogram units
            std = f["standardisation/std"][()] if "standardisation/std" in f else None
            for g in f["units"].values():
                if "strf" in g:
                    out[str(g.attrs["cell_id"])] = {"strf": g["strf"][()], "std": std}
    return out
