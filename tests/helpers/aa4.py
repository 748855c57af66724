"""AA4-layout raw files written with h5py and soundfile directly (not with strflow's
generator), so reader tests are independent of it: the hand-built ``aa4_raw`` fixture
(tests/conftest.py) and tests that build their own unit files."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import soundfile as sf

SR = 24414


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
