"""Reader for NWB files (``format: nwb``): units with spike times, stimulus
presentations as intervals, audio in stimulus templates or acquisition (DANDI's
layout).  ``path:`` is one ``.nwb`` file or a folder searched recursively for them
(sorted by path); the whole set is one shard, ``"all"``.

What is read is configurable (``processing.reading.nwb``, :class:`NWBSettings`):

``presentations``
    the ``TimeIntervals`` table of stimulus presentations (default
    ``stimulus_presentations``; ``trials`` reads ``nwbfile.trials``).
``stim_id_column``, ``trial_column``, ``type_column``, ``class_column``
    its columns naming the stimulus, the repeat number (absent: presentations of a
    stimulus are numbered 1, 2, ... in time order), type and class.
``cell_id_column``
    a units column with unique unit names (absent: ``<subject>/<unit id>``).
``audio``
    where the stimulus waveforms are, searched in order for a series named like the
    stimulus (default ``stimulus/templates``, then ``acquisition``).
``pre_s``, ``post_s``
    the spike window of a presentation when the table has no ``window_start_time`` /
    ``window_stop_time`` columns: ``[start_time - pre_s, stop_time + post_s)``.
    Windows must not overlap.  A spike at ``t`` in window ``p`` becomes a spike of
    trial ``p`` at ``t - start_time[p]`` (onset-relative); a unit took part in the
    presentations whose windows lie inside its ``obs_intervals`` (all of them without
    that column).  Spikes outside every window a unit took part in are not part of any
    trial: they are counted in one ``spikes`` skip record per unit.
``audio_root``
    for files exported with ``nwb.waveforms: reference``: the release folder the wav
    paths are relative to.

Files written by strflow (:mod:`strflow.io.nwb.export`) carry the exact neuron schema,
the stimulus registry and the spike windows, so reading one back gives the original
tables (``shard`` becomes ``all``; ``wav`` points into the NWB file,
``<file>#stimulus/templates/<name>``), spike counts and responses.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from strflow.store.tables import NEURON_KEY_FIELDS, STIMS_SCHEMA
from strflow.io.readers.shard import Shard, SkipLog, TrialsBuilder

SHARD = "all"


@dataclass(frozen=True)
class NWBSettings:
    presentations: str = "stimulus_presentations"
    stim_id_column: str = "stim_id"
    trial_column: str | None = "trial"
    type_column: str | None = "stim_type"
    class_column: str | None = None
    cell_id_column: str | None = "cell_id"
    audio: tuple[str, ...] = ("stimulus/templates", "acquisition")
    pre_s: float = 0.0
    post_s: float = 0.0
    audio_root: str | None = None

    @classmethod
    def from_config(cls, cfg: dict | None) -> "NWBSettings":
        cfg = dict(cfg or {})
        if "audio" in cfg:
            cfg["audio"] = tuple(cfg["audio"])
        return cls(**cfg)


def nwb_files(path) -> tuple[Path, list[Path]]:
    """(root the wav references are relative to, the NWB files in path order)."""
    path = Path(path)
    if path.is_file():
        return path.parent, [path]
    files = sorted(p for p in path.rglob("*.nwb") if p.is_file())
    if not files:
        raise FileNotFoundError(f"{path}: no .nwb file found")
    return path, files


def read_nwb_audio(file, series: str) -> tuple[np.ndarray, float]:
    """Mono float64 samples and rate of the TimeSeries at ``series`` in an NWB file."""
    import h5py

    try:
        with h5py.File(file, "r") as f:
            g = f[series]
            data = g["data"][()].astype(np.float64)
            conv = float(g["data"].attrs.get("conversion", 1.0))
            if "starting_time" not in g:
                raise ValueError("no starting_time/rate (timestamps are not supported for audio)")
            rate = float(g["starting_time"].attrs["rate"])
    except (OSError, KeyError, ValueError) as exc:
        raise ValueError(f"{file}: cannot read audio series {series!r} ({exc})") from exc
    if data.ndim == 2:
        data = data.mean(axis=1)
    return data * conv, rate


def _ragged(table, name):
    """Per-row arrays of a ragged column (None when absent)."""
    if name not in table.colnames:
        return None
    col = table[name]
    ends = np.asarray(col.data[:], dtype=np.int64)
    values = np.asarray(col.target.data[:])
    starts = np.concatenate([[0], ends[:-1]])
    return [values[a:b] for a, b in zip(starts, ends)]


def read_nwb(path, opts: NWBSettings = NWBSettings()) -> Shard:
    from pynwb import NWBHDF5IO

    root, files = nwb_files(path)
    skips = SkipLog()
    trials = TrialsBuilder()
    neuron_tables: list[tuple[int, pa.Table]] = []
    registry: list[tuple[int, int, dict]] = []
    for k, file in enumerate(files):
        rel = file.relative_to(root).as_posix()
        with NWBHDF5IO(str(file), "r", load_namespaces=True) as io:
            nwb = io.read()
            prov = None  # files written by strflow carry the neuron schema (strflow.io.nwb.export)
            if "strflow_provenance" in nwb.scratch:
                data = nwb.scratch["strflow_provenance"].data
                prov = json.loads(data if isinstance(data, str) else data[()])
            neurons, cells = _neurons(nwb, rel, opts, prov)
            neuron_tables.append((prov is not None, neurons))
            pres = _presentations(nwb, file, opts)
            _trials(nwb, file, cells, pres, trials, skips)
            registry += _registry(nwb, rel, k, pres, opts)
    # dataset order: strflow files carry the original row (the unit id); others keep file order
    neurons = pa.concat_tables([t for _, t in neuron_tables], promote_options="permissive")
    if all(k for k, _ in neuron_tables):
        neurons = neurons.sort_by("__order")
    neurons = neurons.drop(["__order"])
    registry.sort(key=lambda x: (x[0], x[1]))
    seen, stim_rows = set(), []
    for _, _, row in registry:
        if (row["stim_id"], row["animal_id"]) not in seen:
            seen.add((row["stim_id"], row["animal_id"]))
            stim_rows.append(row)
    return Shard(name=SHARD, trials=trials.table(), neurons=neurons,
                 stims=pa.Table.from_pylist(stim_rows, schema=STIMS_SCHEMA), skipped=skips.table())


def _neurons(nwb, rel: str, opts: NWBSettings, prov: dict | None) -> tuple[pa.Table, list[str]]:
    units = nwb.units
    if units is None:
        raise ValueError(f"{rel}: no units table")
    ids = np.asarray(units.id.data[:], dtype=np.int64)
    ragged = {"spike_times", "obs_intervals", "electrodes", "waveform_mean", "waveform_sd", "waveforms"}
    names = [c for c in units.colnames if c not in ragged and not c.endswith("_index")]
    if prov and "neurons_schema" in prov:
        schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(prov["neurons_schema"])))
        nulls = prov.get("neuron_nulls", {})
        arrays = []
        for fld in schema:
            values = list(units[fld.name].data[:])
            values = [v.decode() if isinstance(v, bytes) else v for v in values]
            for i in nulls.get(fld.name, []):
                values[i] = None
            if fld.name == "shard":
                values = [SHARD] * len(values)
            if pa.types.is_integer(fld.type):
                values = [None if v is None else int(v) for v in values]
            elif pa.types.is_floating(fld.type):
                values = [None if v is None else float(v) for v in values]
            arrays.append(pa.array(values, fld.type))
        table = pa.Table.from_arrays(arrays, schema=schema)
        # the unit id is the row in the original neurons table
        table = table.append_column("__order", pa.array(ids))
        return table, [str(c) for c in table.column("cell_id").to_pylist()]
    subject = nwb.subject.subject_id if nwb.subject is not None and nwb.subject.subject_id else Path(rel).stem
    cols = {}
    for name in names:
        data = units[name].data[:]
        arr = np.asarray(data)
        if arr.ndim != 1:
            continue
        cols[name] = [v.decode() if isinstance(v, bytes) else (v.item() if hasattr(v, "item") else v) for v in data]
    if opts.cell_id_column and opts.cell_id_column in cols:
        cells = [str(c) for c in cols.pop(opts.cell_id_column)]
    else:
        cells = [f"{subject}/{i}" for i in ids]
    key = dict(cell_id=cells, animal_id=[subject] * len(ids), shard=[SHARD] * len(ids), file=[rel] * len(ids))
    for name, _ in NEURON_KEY_FIELDS:
        cols.pop(name, None)
    table = pa.table({**key, **cols})
    if nwb.subject is not None and nwb.subject.species and "species" not in cols:
        table = table.append_column("species", pa.array([nwb.subject.species] * len(ids), pa.string()))
    return table.append_column("__order", pa.array(ids)), cells


def _presentations(nwb, file, opts: NWBSettings) -> dict:
    table = nwb.trials if opts.presentations == "trials" else nwb.intervals.get(opts.presentations) if nwb.intervals else None
    if table is None:
        raise ValueError(f"{file}: no intervals table {opts.presentations!r} (set processing.reading.nwb.presentations)")
    if opts.stim_id_column not in table.colnames:
        raise ValueError(f"{file}: intervals table {opts.presentations!r} has no column {opts.stim_id_column!r} "
                         f"(columns: {list(table.colnames)}; set processing.reading.nwb.stim_id_column)")
    start = np.asarray(table["start_time"].data[:], dtype=np.float64)
    stop = np.asarray(table["stop_time"].data[:], dtype=np.float64)
    stim = [s.decode() if isinstance(s, bytes) else str(s) for s in table[opts.stim_id_column].data[:]]
    if "window_start_time" in table.colnames:
        ws = np.asarray(table["window_start_time"].data[:], dtype=np.float64)
        we = np.asarray(table["window_stop_time"].data[:], dtype=np.float64)
    else:
        ws, we = start - opts.pre_s, stop + opts.post_s
    order = np.argsort(ws, kind="stable")
    if (we[order][:-1] > ws[order][1:]).any():
        i = int(np.nonzero(we[order][:-1] > ws[order][1:])[0][0])
        raise ValueError(f"{file}: presentation windows overlap (rows {int(order[i])} and {int(order[i + 1])}); "
                         "reduce processing.reading.nwb.pre_s/post_s")
    if opts.trial_column and opts.trial_column in table.colnames:
        trial = np.asarray(table[opts.trial_column].data[:], dtype=np.int64)
    else:
        trial = np.zeros(start.size, dtype=np.int64)
        counter: dict[str, int] = {}
        for i in np.argsort(start, kind="stable"):
            counter[stim[i]] = counter.get(stim[i], 0) + 1
            trial[i] = counter[stim[i]]

    def text(col):
        if col and col in table.colnames:
            return [v.decode() if isinstance(v, bytes) else str(v) for v in table[col].data[:]]
        return [""] * start.size

    return dict(start=start, stop=stop, stim=stim, ws=ws, we=we, order=order, trial=trial,
                type=text(opts.type_column), cls=text(opts.class_column))


def _trials(nwb, file, cells: list[str], pres: dict, out: TrialsBuilder, skips: SkipLog) -> None:
    units = nwb.units
    spikes = _ragged(units, "spike_times")
    obs = _ragged(units, "obs_intervals")
    order = pres["order"]
    ws, we = pres["ws"][order], pres["we"][order]
    onset = pres["start"][order]
    stim = [pres["stim"][i] for i in order]
    trial = pres["trial"][order]
    for u, cell in enumerate(cells):
        t = np.asarray(spikes[u], dtype=np.float64)
        if obs is not None and len(obs[u]):
            iv = np.asarray(obs[u], dtype=np.float64).reshape(-1, 2)
            heard = np.zeros(ws.size, dtype=bool)
            for a, b in iv:
                lo, hi = np.searchsorted(ws, a, "left"), np.searchsorted(ws, b, "right")
                heard[lo:hi] |= we[lo:hi] <= b
        elif obs is not None:
            heard = np.zeros(ws.size, dtype=bool)
        else:
            heard = np.ones(ws.size, dtype=bool)
        p = np.searchsorted(ws, t, "right") - 1
        ok = (p >= 0) & (t < we[np.clip(p, 0, None)])
        ok &= heard[np.clip(p, 0, None)]
        if (~ok).any():
            skips.add("spikes", file, f"{int((~ok).sum())} spikes outside every presentation window of the unit",
                      cell_id=cell)
        t, p = t[ok], p[ok]
        sort = np.argsort(p, kind="stable")
        t, p = t[sort], p[sort]
        bounds = np.searchsorted(p, np.arange(ws.size + 1))
        for q in np.nonzero(heard)[0]:
            out.add(cell, stim[q], int(trial[q]), t[bounds[q] : bounds[q + 1]] - onset[q])


def _registry(nwb, rel: str, k: int, pres: dict, opts: NWBSettings) -> list[tuple[int, int, dict]]:
    mod = nwb.processing.get("strflow") if nwb.processing else None
    if mod is not None and "stimuli" in mod.data_interfaces:
        t = mod["stimuli"]
        col = {c: list(t[c].data[:]) for c in t.colnames}
        col = {c: [x.decode() if isinstance(x, bytes) else x for x in v] for c, v in col.items()}
        rows = []
        for i in range(len(col["stim_id"])):
            tpl, wav = col["template"][i], col["wav"][i]
            if tpl:
                wav = f"{rel}#stimulus/templates/{tpl}"
            elif wav and opts.audio_root:
                wav = str(Path(opts.audio_root) / wav)
            else:
                wav = None
            rate, n, dur = float(col["wav_sample_rate"][i]), int(col["wav_n_samples"][i]), float(col["duration_s"][i])
            rows.append((int(col["stim_index"][i]), i, dict(
                stim_id=col["stim_id"][i], animal_id=col["animal_id"][i], stim_number=int(col["stim_number"][i]),
                name=col["stim_name"][i], type=col["stim_type"][i] or None, **{"class": col["stim_class"][i] or None},
                duration_s=None if np.isnan(dur) else dur, wav=wav,
                wav_sample_rate=None if np.isnan(rate) else rate, wav_n_samples=None if n < 0 else n)))
        return rows
    # a foreign file: one stimulus per distinct id, in order of first presentation
    subject = nwb.subject.subject_id if nwb.subject is not None and nwb.subject.subject_id else Path(rel).stem
    rows, first = [], {}
    for i in np.argsort(pres["start"], kind="stable"):
        first.setdefault(pres["stim"][i], int(i))
    for number, (sid, i) in enumerate(first.items(), start=1):
        wav, rate, n = None, None, None
        for group in opts.audio:
            container = _group(nwb, group)
            if container is not None and sid in container:
                series = container[sid]
                wav, rate, n = f"{rel}#{group}/{sid}", float(series.rate), int(series.data.shape[0])
                break
        rows.append((k * 1_000_000 + number, 0, dict(
            stim_id=sid, animal_id=subject, stim_number=number, name=sid, type=pres["type"][i] or None,
            **{"class": pres["cls"][i] or None}, duration_s=float(pres["stop"][i] - pres["start"][i]),
            wav=wav, wav_sample_rate=rate, wav_n_samples=n)))
    return rows


def _group(nwb, group: str):
    if group == "stimulus/templates":
        return nwb.stimulus_template
    if group == "acquisition":
        return nwb.acquisition
    if group == "stimulus/presentation":
        return nwb.stimulus
    raise ValueError(f"unknown audio location {group!r} (stimulus/templates, acquisition, stimulus/presentation)")
