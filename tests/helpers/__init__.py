"""Shared test helpers: plain constants and functions (fixtures live in tests/conftest.py).

Test modules import these (``from tests.helpers import REPO``), never each other; every
path to the repository goes through ``REPO``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"


def real_data_dir() -> Path | None:
    """$STRFLOW_REAL_DATA if set (then the data must be there), else None (tests skip)."""
    value = os.environ.get("STRFLOW_REAL_DATA")
    return Path(value) if value else None


def run_snakemake(workdir: Path, *args: str, configfiles=(), check: bool = True, timeout: int = 900):
    """The repository's workflow in ``workdir`` on 2 cores; targets before ``--configfile``
    (which takes a list and would swallow them).  Raises with the log tail on failure."""
    cmd = [str(SNAKEMAKE), *args, "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--cores", "2"]
    for c in configfiles:
        cmd += ["--configfile", str(c)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and out.returncode != 0:
        raise AssertionError(f"snakemake failed:\n{out.stdout[-3000:]}\n{out.stderr[-6000:]}")
    return out


def job_counts(output: str) -> dict[str, int]:
    """Jobs per rule from Snakemake's "Job stats:" table (stdout + stderr of a run)."""
    lines = output.split("Job stats:", 1)[1].splitlines()[3:] if "Job stats:" in output else []
    counts = {}
    for line in lines:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        counts[parts[0]] = int(parts[1])
    return counts
