"""Shared fixtures.  The hand-built AA4 folder is written with h5py and soundfile
directly (not with strflow's generator) so reader tests are independent of it."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
SR = 24414


def real_data_dir() -> Path | None:
    """$STRFLOW_REAL_DATA if set (then the data must be there), else None (tests skip)."""
    value = os.environ.get("STRFLOW_REAL_DATA")
    return Path(value) if value else None


def run_snakemake(workdir: Path, *args: str, configfiles=(), check: bool = True, timeout: int = 900):
    """The repository's workflow in ``workdir`` on 2 cores; targets before ``--configfile``
    (which takes a list and would swallow them).  Raises with the log tail on failure."""
    import subprocess
    import sys

    cmd = [str(Path(sys.executable).parent / "snakemake"), *args, "-s", str(REPO / "Snakefile"), "-d", str(workdir),
           "--cores", "2"]
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


def write_wav(path: Path, seconds: float, freq: float = 1000.0, sr: int = SR) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(round(seconds * sr))) / sr
    sf.write(path, 0.3 * np.sin(2 * np.pi * freq * t), sr, subtype="PCM_16")


def write_unit(path: Path, attrs: dict, stims: dict, extra_groups: bool = False) -> None:
    """stims: {class_group: {stim_number: (attrs, {trial_name: spike_times or -999})}}"""
    with h5py.File(path, "w") as f:
        for k, v in attrs.items():
            f.attrs[k] = v
        if extra_groups:
            f.create_group("class_info").attrs["note"] = "metadata"
            f.create_group("extra_info").create_dataset("x", data=np.arange(3))
        for cls, members in stims.items():
            g = f.create_group(cls)
            for number, (sattrs, trials) in members.items():
                sg = g.create_group(str(number))
                for k, v in sattrs.items():
                    sg.attrs[k] = v
                for name, times in trials.items():
                    tg = sg.create_group(str(name))
                    tg.create_dataset("spike_times", data=np.float64(times) if np.isscalar(times) else np.asarray(times, dtype=np.float64))
                    tg.attrs["bg_rate"] = 1.0


STIM_A = dict(stim_type="song", stim_md5="aaaa0000aaaa0000aaaa0000aaaa0000", stim_class="song", stim_duration=0.5)
STIM_B = dict(stim_type=b"call", stim_md5=b"BBBB1111BBBB1111BBBB1111BBBB1111", stim_class=b"Te", stim_duration=0.3)
STIM_C = dict(stim_type="mlnoise", stim_md5="cccc2222cccc2222cccc2222cccc2222", stim_class="mlnoise", stim_duration=0.4)


@pytest.fixture
def aa4_raw(tmp_path) -> Path:
    """Two animals; stimulus A is shared under different numbers (3 in Aaa, 7 in Bbb).

    Animal AaaBbb0001M:
      Site1_L1000R1100_e3_s0_ss1.h5   single, str attrs, stims A (11 trials, trial 5 = -999) and B (2 trials)
      Site1_L1000R1100_e17_s1.h5      'singl' typo, bytes attrs, no _ss, no ldepth, class_info/extra_info
      Site2_L900R900_e5_s0_ss2.h5     noise -> skipped
      Site2_L900R900_e6_s0_ss3.h5     multi; only hears C, all trials silent
    Animal CccDdd0002F:
      Site1_L500R500_e1_s0_ss1.h5     tdt -> skipped
      Site1_L500R500_e2_s0_ss1.h5     single; hears A (number 7)
    """
    root = tmp_path / "raw"
    a1, a2 = root / "AaaBbb0001M", root / "CccDdd0002F"
    write_wav(a1 / "wavfiles" / "stim3.wav", 0.5, 800)
    write_wav(a1 / "wavfiles" / "stim4.wav", 0.3, 2000)
    write_wav(a1 / "wavfiles" / "stim9.wav", 0.4, 4000)
    write_wav(a2 / "wavfiles" / "stim7.wav", 0.5, 800)
    trials_a = {str(i): [0.0101 * i, 0.2, -0.05] for i in range(1, 12)}
    trials_a["5"] = -999.0
    write_unit(
        a1 / "Site1_L1000R1100_e3_s0_ss1.h5",
        dict(sortType="single", site="Site1", electrode=3, ldepth=1000.0, rdepth=1100.0, sortid=0),
        {"Call1": {4: (STIM_B, {"1": [0.001, 0.002, 0.35], "2": [0.1]})}, "Song1": {3: (STIM_A, trials_a)}},
    )
    write_unit(
        a1 / "Site1_L1000R1100_e17_s1.h5",
        dict(sortType=b"singl", site=np.bytes_(b"Site1"), electrode=17, rdepth=1100.0, sortid=1),
        {"Song1": {3: (STIM_A, {"1": [0.005, 0.0049999], "2": [0.499, 0.5, 0.6]})}},
        extra_groups=True,
    )
    write_unit(
        a1 / "Site2_L900R900_e5_s0_ss2.h5",
        dict(sortType="noise", site="Site2", electrode=5, ldepth=900.0, rdepth=900.0, sortid=0),
        {"Song1": {3: (STIM_A, {"1": [0.1]})}},
    )
    write_unit(
        a1 / "Site2_L900R900_e6_s0_ss3.h5",
        dict(sortType="multi", site="Site2", electrode=6, ldepth=900.0, rdepth=900.0, sortid=0),
        {"Noise": {9: (STIM_C, {"1": -999.0, "2": [-0.1]})}},
    )
    write_unit(
        a2 / "Site1_L500R500_e1_s0_ss1.h5",
        dict(sortType="tdt", site="Site1", electrode=1, ldepth=500.0, rdepth=500.0, sortid=0),
        {"Song1": {7: (STIM_A, {"1": [0.1]})}},
    )
    write_unit(
        a2 / "Site1_L500R500_e2_s0_ss1.h5",
        dict(sortType="single", site="Site1", electrode=2, ldepth=500.0, rdepth=500.0, sortid=0),
        {"Song1": {7: (STIM_A, {"1": [0.0, 0.25], "2": [0.4999]})}},
    )
    return root
