"""Reader for NS1 (Harper et al. 2016; Rahman et al. 2019/2020): ferret A1, 20 natural sounds.

Layout (``shared/reference/raw_formats.md`` §7)::

    <raw>/MetadataSHEnCneurons.mat                       struct array ``neuron`` (1×N)
    <raw>/spikesandwav/<exp>/<penetration>/cluster.NN.data.mat
    <raw>/spikesandwav/SH.En.C/source.{1|2}.sound.0.snr.0.token.0.fw.{2|1}.frozen.K

The whole release is one shard, ``"all"``.  Every quirk of the release is handled here
and nowhere else:

* The metadata lists the units; ``cell_id`` is the metadata ``path`` without ``.mat``
  (deepSTRF's uid).  ``animal_id`` is the experiment folder (first path component, e.g.
  ``exp57_L4x8``): NS1 does not name its ferrets, so this is the recording/penetration
  group, the closest thing the release has to an animal.
* A listed cluster file may be stored as ``<path without .mat>_1.mat``; if neither
  exists the unit is recorded in ``skipped`` (a partial copy of the release, such as
  the shared one, holds only 73 of the 119 listed files).  A present but unreadable
  file is an error.
* ``data.set`` has 32 entries in a fixed order: sets 0..19 are the natural sounds
  ``nat01``..``nat20``, sets 20..31 are DRCs ``drc01``..``drc12``.  ``repeats(r).t`` is a
  1×n row of spike times in **ms** from onset; ``r`` (1-based) is the trial number.
  Empty repeats are 1×0 (sometimes of dtype uint8) and are kept as zero-spike trials;
  a 0×0 array is treated the same way.  Spike times are converted to seconds and
  sorted (the ``dataAC`` experiment stores some repeats as several concatenated,
  individually sorted runs).  Pre-onset and post-stimulus spikes are kept: binning
  decides the window.
* The 20 natural-sound wavs have no extension and are IEEE-float WAVs whose header
  says 48828 Hz; the true rate of the TDT system that played them is
  100 MHz / 2048 = 48828.125 Hz (the header field is an integer, so it is rounded).
  ``wav_n_samples`` comes from the header, ``wav_sample_rate`` is the true rate, so
  that strflow's time grid (samples ↔ seconds) does not drift by 2.6 µs per second.
* The DRC waveforms are not in the release.  Their trials are kept (trial counts show
  in coverage), their stimulus rows have null wav/rate/length/duration, and each DRC
  gets one ``stim`` skip record saying it is kept out of stimulus-locked outputs.

``NS1Settings.spike_rounding="legacy"`` reproduces deepSTRF's NS1 loader, which rounds
each spike to the nearest integer ms (``np.round``, half to even) and writes it into a
one-hot ms vector by assignment, so spikes of one trial that round to the same ms
count once.  About 2-2.5% of the spikes in 0..4995 ms collapse that way (2.1% over the
73 units of the shared copy; ~2.5% is reported over all 119).  The default ``"none"``
keeps the true spike times.  (deepSTRF also discards everything outside 0..4995 ms;
here that is left to binning, in both modes.)

Errors: a missing metadata file, a missing natural-sound wav, an unreadable cluster
file or one that does not have the NS1 structure is an error naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from strflow.store.tables import NS1_NEURONS_SCHEMA as NEURONS_SCHEMA
from strflow.io.readers.shard import Shard, SkipLog, TrialsBuilder, check_trials
from strflow.processing.spectrogram import wav_info

SHARD = "all"
STIM_ANIMAL_ID = "NS1"
METADATA_FILE = "MetadataSHEnCneurons.mat"
SPIKES_DIR = "spikesandwav"
WAV_DIR = f"{SPIKES_DIR}/SH.En.C"
N_NATURAL = 20
N_DRC = 12
N_SETS = N_NATURAL + N_DRC
HEADER_WAV_RATE = 48828  # what the wav headers say
TRUE_WAV_RATE = 48828.125  # 100 MHz / 2048, the TDT sample rate the header rounds

NATURAL_WAVS = tuple(f"source.1.sound.0.snr.0.token.0.fw.2.frozen.{k}" for k in range(1, 13)) + tuple(
    f"source.2.sound.0.snr.0.token.0.fw.1.frozen.{k}" for k in range(1, 9)
)
NATURAL_TYPES = {
    0: "water_sounds",
    19: "water_sounds",
    3: "ferret_vocalization",
    6: "insects_buzzing",
    8: "human_speech",
    9: "human_speech",
    10: "human_speech",
    11: "human_speech",
}
STIM_IDS = tuple(f"nat{j + 1:02d}" for j in range(N_NATURAL)) + tuple(f"drc{j + 1:02d}" for j in range(N_DRC))
DRC_SKIP_REASON = "DRC stimulus waveform not in the release: kept out of stimulus-locked outputs"
MISSING_UNIT_REASON = "cluster file missing (not in this copy of the release)"
VALID73_SINGLE_T = frozenset({"Yes", "Maybe"})

_METADATA_FIELDS = {
    "path": "path",
    "NrOfElectrodes": "n_electrodes",
    "ElectrodeNumber": "electrode_number",
    "depth": "depth_um",
    "NoiseRatio": "noise_ratio",
    "singleT": "single_t",
    "singleN": "single_n",
}


@dataclass(frozen=True)
class NS1Settings:
    # "none": true spike times.  "legacy": deepSTRF's quirk, each time rounded to the
    # nearest integer ms (half to even) and at most one spike per ms per trial kept
    # (~2-2.5% of the spikes in 0..4995 ms collapse on the real files).
    spike_rounding: str = "none"
    # "error": a cluster file that cannot be read or contradicts itself stops the run,
    # naming the file; "skip": it becomes a `unit` skip record with the reason.
    on_unreadable: str = "error"

    def __post_init__(self) -> None:
        if self.spike_rounding not in ("none", "legacy"):
            raise ValueError(f"spike_rounding must be 'none' or 'legacy', got {self.spike_rounding!r}")
        if self.on_unreadable not in ("error", "skip"):
            raise ValueError(f"on_unreadable must be 'error' or 'skip', got {self.on_unreadable!r}")


def is_valid73(row: dict) -> bool:
    """The published 73-unit selection: ``single_t in {Yes, Maybe} and depth_um >= 0``.

    This is the criterion of the original analyses and of deepSTRF; on the real metadata
    it selects 73 of 119 units.  (README_NS1's "noise ratio < 40" cannot be it: every
    listed unit is below 40.)  A missing depth is not valid.
    """
    depth = row.get("depth_um")
    if depth is None or not np.isfinite(depth):
        return False
    return row.get("single_t") in VALID73_SINGLE_T and depth >= 0


def legacy_round_ms(times_ms: np.ndarray) -> np.ndarray:
    """deepSTRF's NS1 spikes: rounded to whole ms (half to even), one per ms, sorted."""
    return np.unique(np.round(np.asarray(times_ms, dtype=np.float64)))


def read_ns1(raw_root: str | Path, options: NS1Settings = NS1Settings()) -> Shard:
    """Read the NS1 release under ``raw_root`` into the single shard ``"all"``."""
    import scipy.io

    raw_root = Path(raw_root)
    meta_path = raw_root / METADATA_FILE
    if not meta_path.is_file():
        raise FileNotFoundError(f"{meta_path}: NS1 metadata file not found")
    units = read_metadata(meta_path)
    skips = SkipLog()
    trials = TrialsBuilder()
    neurons: list[dict] = []
    stims = _stim_rows(raw_root, skips)

    for unit in units:
        path = unit["path"]
        cell_id = path[:-4]
        rel = f"{SPIKES_DIR}/{path}"
        found = None
        for candidate in (rel, f"{SPIKES_DIR}/{path[:-4]}_1.mat"):
            if (raw_root / candidate).is_file():
                found = candidate
                break
        if found is None:
            skips.add("unit", rel, MISSING_UNIT_REASON, cell_id)
            continue
        try:
            try:
                mat = scipy.io.loadmat(raw_root / found, variable_names=["data"])
            except Exception as exc:
                raise ValueError(f"{raw_root / found}: cannot read as a MATLAB v5 file ({exc})") from exc
            sets = _repeat_arrays(mat, raw_root / found, [row["duration_s"] for row in stims])
        except ValueError as exc:
            if options.on_unreadable == "skip":
                skips.add("unit", found, f"unreadable cluster file: {exc}", cell_id)
                continue
            raise ValueError(f"{exc}; fix or remove the file, or set processing.reading.on_unreadable: skip") from exc
        for set_index, repeats in enumerate(sets):
            stim_id = STIM_IDS[set_index]
            for r, times_ms in enumerate(repeats, start=1):
                if options.spike_rounding == "legacy":
                    times_ms = legacy_round_ms(times_ms)
                trials.add(cell_id, stim_id, r, times_ms / 1000.0)
        neurons.append(
            dict(
                cell_id=cell_id,
                animal_id=path.split("/", 1)[0],
                shard=SHARD,
                file=found,
                area="A1",
                depth_um=unit["depth_um"],
                noise_ratio=unit["noise_ratio"],
                single_n=unit["single_n"],
                single_t=unit["single_t"],
                n_electrodes=unit["n_electrodes"],
                electrode_number=unit["electrode_number"],
            )
        )
    return Shard.assemble(SHARD, trials, neurons, NEURONS_SCHEMA, stims, skips)


def read_metadata(meta_path: str | Path) -> list[dict]:
    """The metadata rows in file order, with the field names of :data:`NEURONS_SCHEMA`
    (plus ``path``, relative to ``spikesandwav/``)."""
    import scipy.io

    meta_path = Path(meta_path)
    try:
        mat = scipy.io.loadmat(meta_path, variable_names=["neuron"])
    except Exception as exc:
        raise ValueError(f"{meta_path}: cannot read as a MATLAB v5 file ({exc})") from exc
    neuron = mat.get("neuron")
    names = getattr(getattr(neuron, "dtype", None), "names", None)
    if names is None:
        raise ValueError(f"{meta_path}: no struct array variable 'neuron'")
    missing = [f for f in _METADATA_FIELDS if f not in names]
    if missing:
        raise ValueError(f"{meta_path}: struct 'neuron' lacks the fields {missing}")
    rows = []
    seen: set[str] = set()
    for i, entry in enumerate(neuron.ravel()):
        where = f"{meta_path}: neuron({i + 1})"
        row = {key: _scalar(entry[field], f"{where}.{field}") for field, key in _METADATA_FIELDS.items()}
        for key in ("path", "single_t"):
            row[key] = str(row[key]).strip()
        if not row["path"].endswith(".mat"):
            raise ValueError(f"{where}.path = {row['path']!r} does not end with '.mat'")
        if row["path"] in seen:
            raise ValueError(f"{where}.path = {row['path']!r} is listed twice")
        seen.add(row["path"])
        for key in ("depth_um", "noise_ratio"):
            row[key] = float(row[key])
        for key in ("single_n", "n_electrodes", "electrode_number"):
            row[key] = int(row[key])
        if not 1 <= row["electrode_number"] <= row["n_electrodes"]:
            raise ValueError(
                f"{where}: ElectrodeNumber {row['electrode_number']} is not on a probe of NrOfElectrodes "
                f"{row['n_electrodes']}"
            )
        if not (np.isfinite(row["noise_ratio"]) and row["noise_ratio"] > 0):
            raise ValueError(f"{where}.NoiseRatio = {row['noise_ratio']!r}: expected a positive number")
        rows.append(row)
    return rows


def _scalar(value, where: str):
    """The one element of a loadmat field (``(1,)`` string or ``(1,1)`` number)."""
    arr = np.asarray(value)
    if arr.dtype.kind == "U":
        if arr.size != 1:
            raise ValueError(f"{where}: expected one string, got shape {arr.shape}")
        return str(arr.reshape(-1)[0])
    if arr.dtype == object and arr.size == 1:
        return _scalar(arr.reshape(-1)[0], where)
    if arr.size != 1:
        raise ValueError(f"{where}: expected a scalar, got shape {arr.shape}")
    return arr.reshape(-1)[0].item()


def _field(struct, name: str, where: str):
    names = getattr(getattr(struct, "dtype", None), "names", None)
    if names is None or name not in names:
        raise ValueError(f"{where}: expected a struct with field '{name}'")
    return struct[name]


def _repeat_arrays(mat: dict, file: Path, durations_s: list) -> list[list[np.ndarray]]:
    """For each of the 32 sets, the list of its repeats' spike times (ms, 1-D float64),
    validated: finite, within the plausible window of the set's stimulus, and equal to
    the same spikes recorded a second time in ``set.spikes`` (``t`` + ``repeat_id``)."""
    if "data" not in mat:
        raise ValueError(f"{file}: no variable 'data'")
    data = mat["data"]
    if data.size != 1:
        raise ValueError(f"{file}: 'data' should be a 1×1 struct, got shape {data.shape}")
    sets = np.asarray(_field(data.reshape(-1)[0], "set", f"{file}: data")).ravel()
    if sets.size == 1 and sets.dtype == object:  # a struct array wrapped in a 1×1 cell
        sets = np.asarray(sets[0]).ravel()
    if sets.shape[0] != N_SETS:
        raise ValueError(f"{file}: data.set has {sets.shape[0]} entries, expected {N_SETS} (20 natural + 12 DRC)")
    out = []
    for j in range(N_SETS):
        where = f"{file}: data.set({j + 1})"
        repeats = np.asarray(_field(sets[j], "repeats", where)).ravel()
        if repeats.dtype == object and repeats.size == 1 and getattr(getattr(repeats[0], "dtype", None), "names", None):
            repeats = np.asarray(repeats[0]).ravel()  # a struct array wrapped in a 1×1 cell
        if repeats.size and "t" not in (repeats.dtype.names or ()):
            raise ValueError(f"{where}.repeats: expected a struct array with field 't'")
        times = []
        for r, t in enumerate(repeats["t"] if repeats.size else ()):
            t = np.asarray(t)
            if t.size == 0:  # 1×0 (observed, often uint8) or 0×0 (defensive)
                times.append(np.zeros(0))
                continue
            if t.ndim > 2 or (t.ndim == 2 and min(t.shape) != 1):
                raise ValueError(f"{where}.repeats({r + 1}).t: expected a row vector, got shape {t.shape}")
            times.append(t.astype(np.float64).ravel())
        check_trials([t / 1000.0 for t in times], durations_s[j] or 0.0, lambda r: f"{where}.repeats({r + 1}).t")
        _cross_check_spikes(sets[j], times, where)
        out.append(times)
    return out


def _cross_check_spikes(entry, times: list[np.ndarray], where: str) -> None:
    """``set.spikes.t`` / ``set.spikes.repeat_id`` repeat every spike of ``repeats(r).t``
    (identical on all 119 real cluster files): a disagreement is a corrupt file."""
    names = getattr(getattr(entry, "dtype", None), "names", None) or ()
    if "spikes" not in names:
        return
    spikes = np.asarray(entry["spikes"]).ravel()
    if spikes.dtype == object and spikes.size == 1:
        spikes = np.asarray(spikes[0]).ravel()
    fields = getattr(spikes.dtype, "names", None) or ()
    if spikes.size != 1 or "t" not in fields or "repeat_id" not in fields:
        return
    t = np.asarray(spikes["t"][0], dtype=np.float64).ravel()
    rid = np.asarray(spikes["repeat_id"][0], dtype=np.float64).ravel()
    if t.shape != rid.shape:
        raise ValueError(f"{where}.spikes: {t.size} times but {rid.size} repeat ids")
    for r, rep in enumerate(times):
        other = np.sort(t[rid == r + 1])
        if not np.array_equal(np.sort(rep), other):
            raise ValueError(
                f"{where}.repeats({r + 1}).t ({rep.size} spikes) contradicts spikes.t for repeat_id {r + 1} "
                f"({other.size} spikes): the file records the same spikes twice, differently"
            )
    if np.count_nonzero((rid < 1) | (rid > len(times))):
        raise ValueError(f"{where}.spikes.repeat_id: ids outside 1..{len(times)} (spikes of no repeat)")


def _stim_rows(raw_root: Path, skips: SkipLog) -> list[dict]:
    """The 32 stimulus rows in set order; one skip record per DRC."""
    rows = []
    for j, name in enumerate(NATURAL_WAVS):
        rel = f"{WAV_DIR}/{name}"
        wav = raw_root / rel
        if not wav.is_file():
            raise FileNotFoundError(f"{wav}: natural-sound wav of {STIM_IDS[j]} (set {j}) missing")
        n_samples, header_rate = wav_info(wav)
        if round(header_rate) != HEADER_WAV_RATE:
            raise ValueError(f"{wav}: header sample rate {header_rate} Hz, expected {HEADER_WAV_RATE} (48828.125) Hz")
        rows.append(
            dict(
                stim_id=STIM_IDS[j],
                animal_id=STIM_ANIMAL_ID,
                stim_number=j + 1,
                name=STIM_IDS[j],  # readable (deepSTRF's nat01..nat20); the file name is in wav
                type=NATURAL_TYPES.get(j, "unknown"),
                **{"class": "natural"},
                duration_s=n_samples / TRUE_WAV_RATE,
                wav=rel,
                wav_sample_rate=TRUE_WAV_RATE,
                wav_n_samples=n_samples,
            )
        )
    for j in range(N_NATURAL, N_SETS):
        stim_id = STIM_IDS[j]
        rows.append(
            dict(
                stim_id=stim_id,
                animal_id=STIM_ANIMAL_ID,
                stim_number=j + 1,
                name=stim_id,
                type="drc",
                **{"class": "drc"},
                duration_s=None,
                wav=None,
                wav_sample_rate=None,
                wav_n_samples=None,
            )
        )
        skips.add("stim", "", DRC_SKIP_REASON, stim_id=stim_id)
    return rows
