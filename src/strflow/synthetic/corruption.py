"""Corrupt unit files for the fault tests: their bytes and names (own random stream, so the
valid units do not change)."""

from __future__ import annotations

import numpy as np

from strflow.synthetic.settings import SyntheticSettings, rng_for


def corrupt_file_bytes(spec: SyntheticSettings, animal: str, i: int) -> bytes:
    rng = rng_for(spec.seed, animal, "corrupt", i)
    return b"this is not an HDF5 file\n" + rng.integers(0, 256, 2048, dtype=np.uint8).tobytes()


def corrupt_file_name(spec: SyntheticSettings, animal: str, i: int, n_sites: int) -> str:
    rng = rng_for(spec.seed, animal, "corrupt-name", i)
    ld, rd, electrode = int(rng.integers(16, 60)) * 50, int(rng.integers(16, 60)) * 50, int(rng.integers(1, 33))
    return f"Site{n_sites + 1}_L{ld}R{rd}_e{electrode}_s{i}_ss1.h5"
