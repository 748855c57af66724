"""Writes synthetic units as AA4 unit files (HDF5 with the release's quirks: string
styles, empty-trial sentinels), through h5py's low-level API where the quirks need it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from strflow.synthetic.neurons import StimSpikes, Unit
from strflow.synthetic.settings import EMPTY_TRIAL, SyntheticSettings
from strflow.synthetic.sound import PoolStim


def _protocol(stim: PoolStim) -> str:
    if stim.type == "song":
        return "Song"
    if stim.type == "mlnoise":
        return "MLnoise"
    return "Call1" if stim.index % 2 == 0 else "Call2"


class _LowLevel:
    """Fast low-level HDF5 object creation without timestamps (byte-reproducible files).

    ``h5py``'s high-level API costs ~100 us per attribute; an AA4 bird has ~10^5 stim
    groups and ~10^6 trial objects, so the hot path uses ``h5py.h5*`` directly.
    """

    _COMPACT_MAX_BYTES = 32 * 1024

    def __init__(self) -> None:
        from h5py import h5a, h5d, h5g, h5p, h5s, h5t

        self._h5a, self._h5d, self._h5g, self._h5s, self._h5t = h5a, h5d, h5g, h5s, h5t
        self.gcpl = h5p.create(h5p.GROUP_CREATE)
        self.gcpl.set_obj_track_times(False)
        self.dcpl = h5p.create(h5p.DATASET_CREATE)
        self.dcpl.set_obj_track_times(False)
        self.dcpl_compact = h5p.create(h5p.DATASET_CREATE)
        self.dcpl_compact.set_obj_track_times(False)
        self.dcpl_compact.set_layout(h5d.COMPACT)
        self.types = {np.dtype(d): h5t.py_create(np.dtype(d)) for d in ("<f8", "<i8")}
        self._f8, self._i8 = self.types[np.dtype("<f8")], self.types[np.dtype("<i8")]
        self._empty_f8 = np.array(float(EMPTY_TRIAL))
        self._empty_i8 = np.array(EMPTY_TRIAL, dtype=np.int64)
        self.scalar = h5s.create(h5s.SCALAR)
        self.vlen_str = h5t.py_create(_vlen_str_dtype(), logical=True)  # file type
        self.vlen_str_mem = h5t.py_create(_vlen_str_dtype())  # in-memory (object pointer) type

    def group(self, parent_id, name: str):
        return self._h5g.create(parent_id, name.encode(), None, self.gcpl)

    def trial(
        self, parent_id, name: bytes, times: np.ndarray, ids: np.ndarray, attrs: list[tuple[str, float]]
    ) -> None:
        """Trial group ``name`` with ``spike_times`` and ``spike_ids`` (the scalar -999
        when there is no spike) and float attributes: the hot loop, kept lean."""
        h5s, h5d = self._h5s, self._h5d
        tg = self._h5g.create(parent_id, name, None, self.gcpl)
        if times.shape[0] == 0:
            space, times, ids = self.scalar, self._empty_f8, self._empty_i8
        else:
            space = h5s.create_simple(times.shape)
        dcpl = self.dcpl_compact if times.nbytes <= self._COMPACT_MAX_BYTES else self.dcpl
        h5d.create(tg, b"spike_times", self._f8, space, dcpl).write(h5s.ALL, h5s.ALL, times)
        h5d.create(tg, b"spike_ids", self._i8, space, dcpl).write(h5s.ALL, h5s.ALL, ids)
        for key, value in attrs:
            self._h5a.create(tg, key.encode(), self._f8, self.scalar).write(np.asarray(value, dtype="<f8"))

    def num_attr(self, parent_id, name: str, value, dtype: str = "<f8") -> None:
        arr = np.asarray(value, dtype=dtype)
        self._h5a.create(parent_id, name.encode(), self.types[arr.dtype], self.scalar).write(arr)

    def str_attr(self, parent_id, name: str, value: str, style: str) -> None:
        """A string attribute as upstream files hold them: variable-length ``str``, a
        fixed-length ``bytes`` scalar, or a one-element fixed-length bytes array."""
        if style == "str":
            arr = np.array(value, dtype=_vlen_str_dtype())
            tid, mtid, space = self.vlen_str, self.vlen_str_mem, self.scalar
        else:
            raw = value.encode("utf-8")
            arr = np.array(raw if style == "bytes" else [raw], dtype=f"S{max(len(raw), 1)}")
            tid = mtid = self._h5t.py_create(arr.dtype)
            space = self.scalar if style == "bytes" else self._h5s.create_simple((1,))
        self._h5a.create(parent_id, name.encode(), tid, space).write(arr, mtype=mtid)


def _vlen_str_dtype() -> np.dtype:
    import h5py

    return h5py.string_dtype("utf-8")


def _trial_attr_values(
    times: np.ndarray, offsets: np.ndarray, duration_s: float, spec: SyntheticSettings
) -> dict[str, np.ndarray]:
    """Upstream-like per-trial attributes for one stimulus (vectorised over trials)."""
    trial = np.repeat(np.arange(offsets.shape[0] - 1), np.diff(offsets))
    n_pre = np.bincount(trial[times < 0], minlength=offsets.shape[0] - 1)
    n_in = np.bincount(trial[(times >= 0) & (times < duration_s)], minlength=offsets.shape[0] - 1)
    values = {
        "bg_rate": n_pre / spec.pre_onset_s if spec.pre_onset_s > 0 else np.zeros(n_pre.shape),
        "peri_rate": n_in / duration_s,
        "pre_time": np.full(n_pre.shape, spec.pre_onset_s),
        "post_time": np.full(n_pre.shape, spec.post_stim_s),
    }
    return {k: values[k] for k in spec.trial_attrs}


def write_unit_file(
    path: Path,
    unit: Unit,
    spikes: list[StimSpikes],
    pool: tuple[PoolStim, ...],
    stims: dict[int, int],
    spec: SyntheticSettings,
    animal: str,
    ll: _LowLevel,
) -> list[tuple[int, int, bool, np.ndarray]]:
    """Write one unit file; returns (stim number, trial, is_empty_scalar, times) per trial."""
    import h5py

    s = unit.string_style
    rows: list[tuple[int, int, bool, np.ndarray]] = []
    trial_names = [str(r + 1).encode() for r in range(spec.n_trials)]
    with h5py.File(path, "w", track_order=False) as fh:
        root = fh.id
        ll.str_attr(root, "sortType", unit.sort_type_raw, s)
        ll.str_attr(root, "site", f"Site{unit.site}", s)
        ll.num_attr(root, "electrode", unit.electrode, "<i8")
        if unit.ldepth is not None:
            ll.num_attr(root, "ldepth", unit.ldepth)
        if unit.rdepth is not None:
            ll.num_attr(root, "rdepth", unit.rdepth)
        ll.num_attr(root, "sortid", unit.sortid, "<i8")
        ll.str_attr(root, "tank_name", f"{animal}_tank", s)
        ll.str_attr(root, "source_directory", f"/auto/tdrive/{animal}/Site{unit.site}", s)
        protocols: dict[str, Any] = {}
        numbers: dict[str, list[int]] = {}
        spike_id = 0
        for item in spikes:
            stim = pool[stims[item.number]]
            proto = _protocol(stim)
            if proto not in protocols:
                protocols[proto] = ll.group(root, proto)
                numbers[proto] = []
            numbers[proto].append(item.number)
            sg = ll.group(protocols[proto], str(item.number))
            ll.str_attr(sg, "stim_type", stim.type, s)
            ll.str_attr(sg, "stim_md5", stim.md5, s)
            ll.str_attr(sg, "stim_class", stim.cls, s)
            ll.num_attr(sg, "stim_duration", stim.duration_s)
            ll.str_attr(sg, "original_wavfile", f"synthetic_{stim.type}_{stim.index:03d}.wav", s)
            offsets = np.concatenate([[0], np.cumsum(item.counts)])
            attrs = _trial_attr_values(item.times, offsets, stim.duration_s, spec)
            ids = np.arange(spike_id, spike_id + item.times.shape[0], dtype=np.int64)
            spike_id += item.times.shape[0]
            for r in range(spec.n_trials):
                times = item.times[offsets[r] : offsets[r + 1]]
                empty = times.shape[0] == 0
                ll.trial(
                    sg,
                    trial_names[r],
                    times,
                    ids[offsets[r] : offsets[r + 1]],
                    [(key, values[r]) for key, values in attrs.items()],
                )
                rows.append((item.number, r + 1, empty, times))
        info = fh.create_group("class_info")
        for proto, nums in sorted(numbers.items()):
            g = info.create_group(proto)
            ll.str_attr(g.id, "stim_type", pool[stims[nums[0]]].type, s)
            g.create_dataset("stim_numbers", data=np.array(nums, dtype=np.int64))
        extra = fh.create_group("extra_info")
        ll.str_attr(extra.id, "recording", f"{animal} synthetic session", s)
        ll.num_attr(extra.id, "n_trials", spec.n_trials, "<i8")
        extra.create_dataset("electrode_map", data=np.arange(1, 33, dtype=np.int64))
    return rows
