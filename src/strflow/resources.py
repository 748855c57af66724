"""Job resource estimates (memory, runtime) that grow with a job's input size.

Snakemake evaluates a rule's resources once its inputs exist; the SLURM executor turns
them into `sbatch --mem/-t`.  Each estimate is `ceil(base + per_mb * input size) * attempt`,
so a job that failed (out of memory, out of time) is resubmitted with proportionally
more on its next attempt (`retries:` in the SLURM profile).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable


def size_mb(paths: str | Iterable[str]) -> float:
    """Total size in MB (10^6 bytes) of files and of folders' contents (raw releases).

    A missing path raises FileNotFoundError carrying that path, which Snakemake reads as
    "input not there yet" (dry runs) and re-evaluates once the input exists.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    total = 0
    for path in map(str, paths):
        st = os.stat(path)  # FileNotFoundError(filename=path) when absent
        if not os.path.isdir(path):
            total += st.st_size
            continue
        for root, _dirs, files in os.walk(path):
            total += sum(os.stat(os.path.join(root, f)).st_size for f in files)
    return total / 1e6


def estimate(base: float, per_mb: float, input_mb: float, attempt: int = 1) -> int:
    """`ceil(base + per_mb * input_mb) * attempt`; attempt counts from 1."""
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1, got {attempt}")
    return math.ceil(base + per_mb * input_mb) * attempt
