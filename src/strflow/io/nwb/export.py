"""A processed dataset as NWB files (pynwb), one per subject/session.

``results/<ds>/nwb/sub-<subject>/sub-<subject>[_ses-<session>].nwb`` (DANDI's layout;
labels keep letters and digits, anything else becomes ``-``).  The subject is the
neurons' ``animal_id`` (AA4: the bird; NS1: the experiment folder); AA4 has one session
per recording ``site``, the other formats one session per subject.

Each file holds

* ``units``: every kept unit of the session (``tables/neurons.parquet``, in dataset
  order; the unit ``id`` is its row in that table) with every neuron column (numbers
  with nulls as float NaN, null strings as ``""``; the exact Arrow schema and where the
  nulls were is in the provenance), ``spike_times`` (all of them, pre-onset and
  post-stimulus spikes included) on the session clock below, and ``obs_intervals``: the
  spike windows of the presentations the unit was recorded in.
* ``intervals/stimulus_presentations`` (``TimeIntervals``): one row per (stimulus,
  trial number) heard by a unit of the session, in stimulus (dataset) order then trial:
  ``start_time`` (onset), ``stop_time`` (onset + duration), ``stim_id``, ``stim_type``,
  ``trial``, and ``window_start_time`` / ``window_stop_time``, the spike window that
  belongs to the presentation.
* ``stimulus/templates/<stim_id>``: the stimulus waveform as read from the release
  (mono, float32 when that is exact, else float64, at the wav's rate; NS1 at its true
  48828.125 Hz), unless
  ``nwb.waveforms: reference``, which leaves the audio out and keeps the wav path
  (relative to the release folder) in ``processing/strflow/stimuli``.
* ``processing/spectrograms/<stim_id>``: the mel spectrogram (time x band) on the grid
  (``rate = 1000 / dt_ms``; ``starting_time`` = start of bin 0 relative to onset), its
  settings and band centres in the module description and each series' ``comments``.
* ``processing/responses/smoothed`` (``nwb.responses: true``): the smoothed responses,
  one row per (stimulus, unit) pair with the ragged ``(n_trials * n_bins)`` block.
* ``processing/strflow/stimuli``: strflow's stimulus registry rows for the stimuli of
  the file (so that ``format: nwb`` reads back the same stimulus table).
* ``subject`` (species as a Latin binomial, sex where the release gives it, the animal
  id) and the provenance (strflow version, the dataset's config entry and settings) in
  ``scratch/strflow_provenance`` (JSON).

The session clock
-----------------
The releases give spike times relative to each presentation's onset and no absolute
presentation times, so the clock is synthetic.  Presentations are laid end to end in
their table order: presentation ``p`` owns the spike window
``[window_start_time, window_stop_time)``; windows tile the clock from 0 without gaps.
Inside a window the onset ``start_time`` is a whole number of seconds, at least 1 s
after the window start and after the earliest (pre-onset) spike of any unit minus 1 s;
the window ends 0.5 s after the later of the stimulus end and the last spike.  A
spike at ``t`` seconds after onset in trial ``r`` of stimulus ``s`` is at
``start_time[p] + t`` on the clock.  Reading back (:mod:`strflow.io.readers.nwb`) assigns
each spike to the window containing it and subtracts the onset, which recovers the
onset-relative time to within float64 rounding (< 1e-9 s), so spike counts on any grid
are exactly the originals.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import math
import re
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

GAP_S = 1.0  # silence between presentations on the synthetic clock
PRESENTATIONS = "stimulus_presentations"
LATIN = {"zebra finch": "Taeniopygia guttata", "ferret": "Mustela furo"}
# Not in the releases: a fixed, documented placeholder (the data's publication year).
SESSION_START = {"aa4": "2019-01-01", "ns1": "2016-01-01", "aa1": "2008-01-01", "aa2": "2008-01-01"}
# Nor are ages; the publications describe adults (zebra finches are adult from ~90 days,
# ferrets from ~6 months): ISO 8601 lower bounds.  Override with nwb.subject_age.
SUBJECT_AGE = {"aa4": "P90D/", "aa1": "P90D/", "aa2": "P90D/", "ns1": "P6M/"}
# Spike-time resolution (s): the TDT systems of AA4 and NS1 sample at 24414.0625 Hz;
# AA1/AA2 text files are in ms.  Override with nwb.spike_resolution_s.
SPIKE_RESOLUTION = {"aa4": 1 / 24414.0625, "ns1": 1 / 24414.0625, "aa1": 1e-3, "aa2": 1e-3}
SESSION_COLUMN = {"aa4": "site"}  # one NWB session per value of this neuron column
NEURON_DESCRIPTIONS = {
    "cell_id": "strflow cell id, unique in the dataset (<animal>/<file stem>)",
    "animal_id": "animal (AA4 bird; NS1 experiment folder)",
    "shard": "strflow shard whose files held the unit's responses",
    "file": "unit file, relative to the release folder",
    "sex": "sex of the animal (M/F)",
    "site": "recording site",
    "electrode": "electrode number",
    "ldepth": "depth of the left array (um); NaN when absent",
    "rdepth": "depth of the right array (um); NaN when absent",
    "sort_type": "spike sort type (single or multi)",
    "sort_id": "online sort id",
    "subsort_id": "offline sort id from the _ss<N> file-name suffix; NaN without one",
    "area": "brain area",
    "depth_um": "recording depth (um)",
    "noise_ratio": "published noise ratio",
    "single_n": "NS1 singleN",
    "single_t": "NS1 singleT (Yes/Maybe/No)",
    "n_electrodes": "number of electrodes of the probe",
    "electrode_number": "electrode number on the probe",
    "species": "species (common name)",
    "cell_seq": "cell sequence number in the release",
    "rig": "recording rig",
}


def label(value: str) -> str:
    """A DANDI label: letters and digits, anything else as '-'."""
    return re.sub(r"[^A-Za-z0-9]+", "-", str(value)).strip("-") or "x"


def _session_start(fmt: str, settings: dict) -> _dt.datetime:
    text = settings.get("session_start_time") or SESSION_START.get(fmt, "2020-01-01")
    when = _dt.datetime.fromisoformat(str(text))
    return when if when.tzinfo else when.replace(tzinfo=_dt.timezone.utc)


def _schema_b64(schema: pa.Schema) -> str:
    return base64.b64encode(schema.serialize().to_pybytes()).decode("ascii")


def build_clock(stim_order: dict, durations: dict, cell, stim, trial, values, offsets):
    """The synthetic session clock of a set of trials (see the module docstring).

    Returns ``(p_of_row, pres)`` where ``pres`` holds per presentation ``stim_id``,
    ``trial``, ``onset``, ``stop``, ``window_start``, ``window_stop``."""
    stim = np.asarray(stim, dtype=object)
    trial = np.asarray(trial, dtype=np.int64)
    rank = np.array([stim_order[s] for s in stim], dtype=np.int64)
    key = rank * (1 << 32) + (trial - trial.min() if trial.size else trial)
    uniq, p_of_row = np.unique(key, return_inverse=True)
    n_p = uniq.size
    counts = np.diff(offsets)
    lo = np.zeros(n_p)
    hi = np.zeros(n_p)
    has = counts > 0
    if has.any():
        starts = offsets[:-1][has]
        np.minimum.at(lo, p_of_row[has], np.minimum.reduceat(values, starts))
        np.maximum.at(hi, p_of_row[has], np.maximum.reduceat(values, starts))
    first_row = np.zeros(n_p, dtype=np.int64)
    first_row[p_of_row[::-1]] = np.arange(p_of_row.size)[::-1]
    p_stim = stim[first_row]
    p_trial = trial[first_row]
    dur = np.array([durations.get(s, 0.0) for s in p_stim], dtype=np.float64)
    hi = np.maximum(hi, dur)
    onset = np.empty(n_p)
    wstart = np.empty(n_p)
    wstop = np.empty(n_p)
    cursor = 0.0
    for p in range(n_p):  # sequential by nature; one float op per presentation
        wstart[p] = cursor
        onset[p] = math.ceil(cursor + GAP_S - lo[p])
        cursor = onset[p] + hi[p] + GAP_S / 2
        wstop[p] = cursor
    pres = dict(stim_id=p_stim, trial=p_trial, onset=onset, stop=onset + dur, window_start=wstart, window_stop=wstop)
    return p_of_row, pres


def _stim_durations(stims: list[dict]) -> dict:
    out = {}
    for row in stims:
        d = [x for x in (row["duration_s"],) if x is not None and np.isfinite(x)]
        if row["wav_n_samples"] and row["wav_sample_rate"]:
            d.append(row["wav_n_samples"] / row["wav_sample_rate"])
        out[row["stim_id"]] = max(d) if d else 0.0
    return out


def export_dataset(dataset_dir, fmt: str, shards: list, settings: dict, provenance: dict, out,
                   raw_dir=None) -> list[Path]:
    """Write ``out/sub-*/...nwb`` for a processed dataset folder; returns the files.

    ``settings``: ``waveforms`` (``embed`` | ``reference``), ``responses`` (bool),
    ``session_start_time`` (ISO date or null); ``provenance``: JSON-able dict recorded
    in each file (strflow version, the dataset's config)."""
    import shutil

    from strflow.store.atomic import atomic_path

    folder = Path(dataset_dir)
    out = Path(out)
    raw_dir = Path(raw_dir) if raw_dir is not None else None
    neurons = pq.read_table(folder / "tables" / "neurons.parquet")
    stims = pq.read_table(folder / "tables" / "stims.parquet").to_pylist()
    registry = []
    for shard in shards:
        registry += pq.read_table(folder / "interim" / shard / "stims.parquet").to_pylist()
    written = []
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        session_col = SESSION_COLUMN.get(fmt)
        rows = neurons.to_pylist()
        groups: dict[tuple, list[int]] = {}
        for i, r in enumerate(rows):
            ses = r.get(session_col) if session_col and session_col in r else None
            groups.setdefault((r["animal_id"], ses), []).append(i)
        trials = {shard: pq.read_table(folder / "interim" / shard / "trials.parquet") for shard in shards}
        audio_cache: dict = {}
        for (animal, ses), idx in groups.items():
            name = f"sub-{label(animal)}" + (f"_ses-{label(ses)}" if ses is not None else "")
            path = tmp / f"sub-{label(animal)}" / f"{name}.nwb"
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_session(path, folder, fmt, neurons, idx, stims, registry, trials, settings, provenance,
                           animal, ses, raw_dir, audio_cache)
            written.append(path)
        if out.exists():
            shutil.rmtree(out)
    return [out / p.relative_to(tmp) for p in written]


def _session_trials(trials: dict, cells: set, shards: set):
    import pyarrow.compute as pc

    from strflow.store.tables import flat_spikes

    parts = [trials[s].filter(pc.is_in(trials[s].column("cell_id"), pa.array(sorted(cells)))) for s in sorted(shards)]
    table = pa.concat_tables(parts) if parts else None
    values, offsets = flat_spikes(table)
    return table, values, offsets


def _write_session(path, folder, fmt, neurons, idx, stims, registry, trials, settings, provenance, animal, ses,
                   raw_dir, audio_cache: dict) -> None:
    from hdmf.backends.hdf5.h5_utils import H5DataIO
    from hdmf.common import DynamicTable, VectorData, VectorIndex
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries
    from pynwb.misc import Units
    from pynwb.epoch import TimeIntervals
    from pynwb.file import Subject

    import strflow

    sub = neurons.take(pa.array(idx))
    rows = sub.to_pylist()
    cells = [r["cell_id"] for r in rows]
    table, values, offsets = _session_trials(trials, set(cells), {r["shard"] for r in rows})
    stim_order = {s["stim_id"]: i for i, s in enumerate(stims)}
    stim_by_id = {s["stim_id"]: s for s in stims}
    cell_col = np.asarray(table.column("cell_id").to_pylist(), dtype=object)
    p_of_row, pres = build_clock(stim_order, _stim_durations(stims), cell_col, table.column("stim_id").to_pylist(),
                                 table.column("trial").to_numpy(), values, offsets)
    species = {r.get("species") for r in rows} - {None, ""}
    common = species.pop() if len(species) == 1 else None
    sexes = {r.get("sex") for r in rows} - {None, ""}
    sex = sexes.pop() if len(sexes) == 1 and next(iter(sexes)) in ("M", "F") else "U"
    ident = str(uuid.uuid5(uuid.NAMESPACE_URL, f"strflow/{provenance.get('dataset', '')}/{path.name}"))
    nwb = NWBFile(
        session_description=f"strflow export of dataset {provenance.get('dataset', '?')!r} ({fmt}): "
        f"subject {animal}" + (f", session {ses}" if ses is not None else "")
        + "; auditory responses to stimulus presentations on a synthetic session clock",
        identifier=ident,
        session_start_time=_session_start(fmt, settings),
        session_id=label(ses) if ses is not None else label(animal),
        experiment_description=f"{fmt.upper()} release, processed by strflow {strflow.__version__}",
        source_script=f"strflow {strflow.__version__} (strflow.io.nwb.export)",
        source_script_file_name="strflow/nwb/export.py",
        keywords=["auditory", "spike times", "STRF"],
    )
    nwb.subject = Subject(
        subject_id=label(animal),
        species=LATIN.get(common, common) if common else None,
        sex=sex,
        description=f"animal id in the release: {animal}",
        age=settings.get("subject_age") or SUBJECT_AGE.get(fmt),
        age__reference="birth",
    )

    # -- presentations --------------------------------------------------------------
    p_type = [stim_by_id[s]["type"] or "" for s in pres["stim_id"]]
    cols = [
        VectorData(name="start_time", description="stimulus onset (s, session clock)", data=pres["onset"]),
        VectorData(name="stop_time", description="stimulus end: onset + duration (s)", data=pres["stop"]),
        VectorData(name="stim_id", description="strflow stimulus id (tables/stims.parquet)", data=list(pres["stim_id"])),
        VectorData(name="stim_type", description="stimulus type", data=p_type),
        VectorData(name="trial", description="trial (repeat) number in the release", data=pres["trial"].astype(np.int64)),
        VectorData(name="window_start_time", description="start of the spike window of this presentation (s); "
                   "windows tile the clock", data=pres["window_start"]),
        VectorData(name="window_stop_time", description="end of the spike window of this presentation (s)",
                   data=pres["window_stop"]),
    ]
    nwb.add_time_intervals(TimeIntervals(
        name=PRESENTATIONS,
        description="one presentation per (stimulus, trial) heard in the session; synthetic clock "
        "(see strflow.io.nwb.export): presentations end to end, spikes at onset + onset-relative time",
        columns=cols,
    ))

    # -- units ----------------------------------------------------------------------
    counts = np.diff(offsets)
    abs_times = values + np.repeat(pres["onset"][p_of_row], counts)
    row_of_cell: dict[str, list[int]] = {}
    cell_rank = {c: k for k, c in enumerate(cells)}
    order = np.lexsort((p_of_row, np.array([cell_rank[c] for c in cell_col], dtype=np.int64)))
    for r in order:
        row_of_cell.setdefault(cell_col[r], []).append(int(r))
    nulls: dict[str, list[int]] = {}
    unit_cols = {}
    for field in sub.schema:
        col = sub.column(field.name)
        missing = [i for i, v in enumerate(col.is_null().to_pylist()) if v]
        if missing:
            nulls[field.name] = missing
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            unit_cols[field.name] = ["" if v is None else v for v in col.to_pylist()]
        elif pa.types.is_integer(field.type) or pa.types.is_floating(field.type) or pa.types.is_boolean(field.type):
            arr = col.to_numpy(zero_copy_only=False)
            unit_cols[field.name] = arr.astype(np.float64) if missing or pa.types.is_floating(field.type) else arr
        else:
            raise ValueError(f"{folder / 'tables' / 'neurons.parquet'}: column {field.name!r} has type {field.type}, "
                             "which the NWB export does not support")
    # Built column by column from numpy arrays: row-by-row add_unit leaves Python lists
    # that hdmf converts element by element at write time (minutes for NS1).
    st_parts, st_ends, obs_parts, obs_ends = [], [], [], []
    n_st = n_obs = 0
    for cell in cells:
        rws = row_of_cell.get(cell, [])
        st = np.concatenate([abs_times[offsets[r] : offsets[r + 1]] for r in rws]) if rws else np.zeros(0)
        ps = p_of_row[rws] if rws else np.zeros(0, dtype=np.int64)
        obs = np.stack([pres["window_start"][ps], pres["window_stop"][ps]], axis=1) if rws else np.zeros((0, 2))
        st_parts.append(st)
        obs_parts.append(obs)
        n_st += st.size
        n_obs += obs.shape[0]
        st_ends.append(n_st)
        obs_ends.append(n_obs)
    spike_times = VectorData(name="spike_times", description="spike times (s, session clock), all spikes",
                             data=np.concatenate(st_parts) if st_parts else np.zeros(0))
    obs_intervals = VectorData(name="obs_intervals", description="spike windows of the presentations the unit "
                               "was recorded in", data=np.concatenate(obs_parts) if obs_parts else np.zeros((0, 2)))
    columns = [
        spike_times, VectorIndex(name="spike_times_index", data=np.asarray(st_ends, dtype=np.int64), target=spike_times),
        obs_intervals, VectorIndex(name="obs_intervals_index", data=np.asarray(obs_ends, dtype=np.int64),
                                   target=obs_intervals),
    ]
    for name, vals in unit_cols.items():
        data = np.asarray(vals, dtype=object) if isinstance(vals, list) else vals
        columns.append(VectorData(name=name, data=list(data) if isinstance(vals, list) else data,
                                  description=NEURON_DESCRIPTIONS.get(name, f"strflow neurons table column {name}")))
    resolution = settings.get("spike_resolution_s") or SPIKE_RESOLUTION.get(fmt)
    nwb.units = Units(name="units", description="kept units of the session (strflow tables/neurons.parquet)",
                      resolution=float(resolution) if resolution else -1.0, columns=columns,
                      id=np.asarray(idx, dtype=np.int64))

    # -- stimuli ----------------------------------------------------------------------
    heard = list(dict.fromkeys(pres["stim_id"]))
    embed = settings.get("waveforms", "embed") == "embed"
    template_of = {}
    for sid in heard:
        s = stim_by_id[sid]
        if not s["wav"] or not embed:
            continue
        from strflow.processing.waveforms import read_stimulus_audio

        if sid not in audio_cache:  # each sound read once for all the files that hold it
            wave64 = read_stimulus_audio(raw_dir, s["wav"])[0]
            wave32 = wave64.astype(np.float32)  # exact for 16/24-bit PCM and float wavs; else kept as float64
            audio_cache[sid] = wave32 if np.array_equal(wave32, wave64) else wave64
        wave = audio_cache[sid]
        name = label(sid) if "/" in sid else sid
        nwb.add_stimulus_template(TimeSeries(
            name=name, data=H5DataIO(wave, compression="gzip", compression_opts=1),
            rate=float(s["wav_sample_rate"]), starting_time=0.0, unit="a.u.",
            description=f"stimulus {sid} waveform ({s['wav']}), mono, as stored in the release",
        ))
        template_of[sid] = name
    reg = [r for r in registry if r["stim_id"] in set(heard)]
    seen = set()
    reg_rows = []
    for r in sorted(reg, key=lambda r: (stim_order[r["stim_id"]], stim_by_id[r["stim_id"]]["animals"].index(r["animal_id"])
                                         if r["animal_id"] in stim_by_id[r["stim_id"]]["animals"] else 0)):
        if (r["stim_id"], r["animal_id"]) in seen:
            continue
        seen.add((r["stim_id"], r["animal_id"]))
        reg_rows.append(r)
    def strs(key):
        return ["" if r[key] is None else str(r[key]) for r in reg_rows]

    def floats(key):
        return np.array([np.nan if r[key] is None else r[key] for r in reg_rows], dtype=np.float64)

    stim_table = DynamicTable(
        name="stimuli",
        description="strflow stimulus registry rows of the stimuli presented in this file (interim stims.parquet)",
        columns=[
            VectorData(name="stim_id", description="stimulus id", data=strs("stim_id")),
            VectorData(name="animal_id", description="animal whose registry lists it", data=strs("animal_id")),
            VectorData(name="stim_number", description="stimulus number in that animal",
                       data=np.array([r["stim_number"] for r in reg_rows], dtype=np.int64)),
            VectorData(name="stim_name", description="file stem in the release", data=strs("name")),
            VectorData(name="stim_type", description="stimulus type", data=strs("type")),
            VectorData(name="stim_class", description="stimulus class", data=strs("class")),
            VectorData(name="duration_s", description="stimulus duration attribute (s); NaN when unknown",
                       data=floats("duration_s")),
            VectorData(name="wav", description="wav file relative to the release folder; empty when none",
                       data=strs("wav")),
            VectorData(name="wav_sample_rate", description="wav sample rate (Hz); NaN when none",
                       data=floats("wav_sample_rate")),
            VectorData(name="wav_n_samples", description="samples in the wav; -1 when none",
                       data=np.array([-1 if r["wav_n_samples"] is None else r["wav_n_samples"] for r in reg_rows],
                                     dtype=np.int64)),
            VectorData(name="stim_index", description="row of the stimulus in tables/stims.parquet",
                       data=np.array([stim_order[r["stim_id"]] for r in reg_rows], dtype=np.int64)),
            VectorData(name="template", description="name of the waveform in stimulus/templates; empty when absent",
                       data=[template_of.get(r["stim_id"], "") for r in reg_rows]),
        ],
    )
    mod = nwb.create_processing_module(name="strflow", description="strflow tables needed to read the file back")
    mod.add(stim_table)

    # -- spectrograms -----------------------------------------------------------------
    import h5py

    spec_path = folder / "spectrograms.h5"
    with h5py.File(spec_path, "r") as f:
        params = json.loads(f.attrs["params"])
        dt_ms = float(f.attrs["dt_ms"])
        freqs = f["freqs_hz"][()].tolist()
        info = json.dumps(dict(dt_ms=dt_ms, params=params, freqs_hz=freqs))
        smod = nwb.create_processing_module(
            name="spectrograms", description=f"mel spectrograms on the strflow time grid (time x band); settings: {info}")
        for sid in heard:
            if sid not in f["spectrograms"]:
                continue
            s = stim_by_id[sid]
            smod.add(TimeSeries(
                name=label(sid) if "/" in sid else sid,
                data=H5DataIO(f["spectrograms"][sid][()].T, compression="gzip", compression_opts=1),
                rate=1000.0 / dt_ms, starting_time=-s["n_pre_bins"] * dt_ms / 1000.0, unit="a.u.",
                description=f"mel spectrogram of stimulus {sid}: frame k covers [k*dt, (k+1)*dt) ms after the start",
                comments=info,
            ))

    if settings.get("responses"):
        _add_responses(nwb, folder, cells, {r["shard"] for r in rows}, heard)

    record = dict(provenance, strflow_version=strflow.__version__, format=fmt,
                  neurons_schema=_schema_b64(sub.schema), neuron_nulls=nulls, gap_s=GAP_S)
    nwb.add_scratch(json.dumps(record, sort_keys=True, default=str), name="strflow_provenance",
                    description="strflow version, dataset config and export settings (JSON)")
    with NWBHDF5IO(str(path), "w") as io:  # inside the export's temporary folder (renamed when complete)
        io.write(nwb)


def _add_responses(nwb, folder: Path, cells: list, shards: set, stims: list) -> None:
    """Smoothed responses: one row per (stimulus, unit) pair, the (n_trials, n_bins)
    block flattened row-major in a ragged column."""
    import h5py
    from hdmf.common import DynamicTable, VectorData, VectorIndex

    from strflow.store.blocks import read_index

    cell_set, stim_set = set(cells), set(stims)
    rows_s, rows_c, rows_r, rows_t, blocks = [], [], [], [], []
    for shard in sorted(shards):
        path = folder / "responses" / f"{shard}.h5"
        index, _ = read_index(path)
        with h5py.File(path, "r") as f:
            data = f["data"]
            for s, c, o, r, t in zip(index.stim_id, index.cell_id, index.offset, index.n_trials, index.n_bins):
                if c in cell_set and s in stim_set:
                    rows_s.append(str(s)); rows_c.append(str(c)); rows_r.append(int(r)); rows_t.append(int(t))
                    blocks.append(data[int(o) : int(o) + int(r) * int(t)])
    flat = np.concatenate(blocks) if blocks else np.zeros(0, np.float32)
    ends = np.cumsum([b.size for b in blocks]).astype(np.int64)
    values = VectorData(name="response", description="smoothed response (spikes/bin), (n_trials, n_bins) row-major",
                        data=flat.astype(np.float32))
    table = DynamicTable(
        name="smoothed",
        description="smoothed responses (responses/<shard>.h5) of the units of this file",
        columns=[
            VectorData(name="stim_id", description="stimulus id", data=rows_s),
            VectorData(name="cell_id", description="unit cell_id", data=rows_c),
            VectorData(name="n_trials", description="trials", data=np.array(rows_r, dtype=np.int64)),
            VectorData(name="n_bins", description="bins", data=np.array(rows_t, dtype=np.int64)),
            values,
            VectorIndex(name="response_index", data=ends, target=values),
        ],
    )
    nwb.create_processing_module(name="responses", description="strflow smoothed responses").add(table)
