"""Reader for CRCNS AA4 (Elie & Theunissen 2019): one HDF5 file per unit, per bird.

Layout (``shared/reference/raw_formats.md`` §6)::

    <raw>/<AnimalID>/Site<S>_L<ld>R<rd>_e<E>_s<sort>[_ss<subsort>].h5
    <raw>/<AnimalID>/wavfiles/stim<K>.wav

Every quirk of the release is handled here and nowhere else:

* ``sortType`` 'singl' is the typo for 'single'; 'noise' and 'tdt' units are skipped
  (recorded in ``skipped``).  String attributes may be str, bytes or numpy bytes.
* Missing ``ldepth``/``rdepth`` become null (NaN in pandas); ``electrode``/``sortid`` default to 0 only
  if absent (recorded nowhere: they are metadata, not data).
* Top-level groups ``class_info`` and ``extra_info`` are metadata, not stimuli.
* Stimulus and trial group names are numbers and are ordered numerically (the
  lexicographic order '1','10','2' is wrong).
* An empty trial is stored as the scalar -999.  It is a presented trial in which the
  unit did not fire, so by default it is kept as a zero-spike trial
  (``empty_trials: keep``).  ``empty_trials: skip`` reproduces deepSTRF, which drops it
  (and every trial without a post-onset spike); each dropped trial is recorded.
* Pre-onset (negative) and post-stimulus spike times are kept in the interim trials
  table; binning decides what falls on the stimulus grid.
* ``stim_md5`` identifies a stimulus across birds, whose per-bird numbers differ.
* ``cell_id`` is ``<AnimalID>/<file stem>``: file stems repeat across birds.

Errors: an unreadable or invalid unit file (see :func:`read_animal`) or a missing wav is an error naming the file, unless
``on_unreadable: skip`` / ``on_missing_wav: skip`` is configured, in which case the
unit or stimulus is recorded in ``skipped`` and the run continues.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from strflow.store.tables import AA4_NEURONS_SCHEMA as NEURONS_SCHEMA
from strflow.io.readers.shard import Shard, SkipLog, TrialsBuilder, check_trials
from strflow.processing.spectrogram import wav_info

ANIMAL_IDS = ("BlaBro09xxF", "GreBlu9508M", "LblBlu2028M", "WhiBlu5396M", "WhiWhi4522M", "YelBlu6903F")
METADATA_GROUPS = frozenset({"class_info", "extra_info"})
SKIPPED_SORT_TYPES = frozenset({"noise", "tdt"})
SORT_TYPE_ALIASES = {"singl": "single"}
EMPTY_TRIAL_SENTINEL = -999.0
_SUBSORT = re.compile(r"_ss(\d+)$")


@dataclass(frozen=True)
class AA4Settings:
    stim_types: tuple[str, ...] = ("song", "call", "mlnoise")
    empty_trials: str = "keep"  # keep | skip
    on_unreadable: str = "error"  # error | skip
    on_missing_wav: str = "error"  # error | skip

    def __post_init__(self) -> None:
        for name, allowed in (
            ("empty_trials", ("keep", "skip")),
            ("on_unreadable", ("error", "skip")),
            ("on_missing_wav", ("error", "skip")),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")


def decode_attr(value) -> str:
    """str from str, bytes, numpy bytes/str scalar or a 1-element array of either."""
    if isinstance(value, np.ndarray):
        if value.size != 1:
            raise ValueError(f"expected a scalar string attribute, got array of shape {value.shape}")
        value = value.reshape(-1)[0]
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", errors="replace").strip()
    return str(value).strip()


def _num_attr(attrs, key: str, default: float | None) -> float | None:
    if key not in attrs:
        return default
    value = attrs[key]
    if isinstance(value, (bytes, np.bytes_, str)):
        text = decode_attr(value)
        return float(text) if text else default
    return float(np.asarray(value).reshape(-1)[0])


def subsort_id(stem: str) -> int | None:
    match = _SUBSORT.search(stem)
    return int(match.group(1)) if match else None


def _numeric_key(name: str):
    try:
        return (0, int(name), name)
    except ValueError:
        return (1, 0, name)


def _children(group_id) -> list[str]:
    return [name.decode("utf-8") for name in group_id]


def read_spike_times_lowlevel(stim_id, trial_name: str, where: str) -> np.ndarray | None:
    """``<trial>/spike_times`` of a stimulus group (low-level ids); ``None`` for -999."""
    import h5py

    try:  # one open resolving both links: fewer Python-side objects than group then dataset
        dataset = h5py.h5d.open(stim_id, trial_name.encode() + b"/spike_times")
    except (KeyError, ValueError) as exc:  # say what is wrong with the trial
        try:
            trial_id = h5py.h5g.open(stim_id, trial_name.encode())
        except (KeyError, ValueError) as why:
            raise ValueError(f"{where}/{trial_name}: cannot open the trial group ({why})") from None
        if not trial_id.links.exists(b"spike_times"):
            raise ValueError(f"{where}/{trial_name}: trial group without a spike_times dataset") from None
        raise ValueError(f"{where}/{trial_name}/spike_times: cannot open as a dataset ({exc})") from None
    out = np.empty(dataset.shape, dtype=np.float64)
    dataset.read(h5py.h5s.ALL, h5py.h5s.ALL, out, mtype=h5py.h5t.NATIVE_DOUBLE)
    values = out.ravel()
    if values.shape[0] == 1 and values[0] == EMPTY_TRIAL_SENTINEL:
        return None
    return values


class MissingWav(FileNotFoundError):
    """A stimulus wav is absent (``on_missing_wav: error``): a release problem, not a unit's."""


@dataclass
class _Unit:
    """What one unit file contributes; merged into the shard only if the whole file reads."""

    neuron: dict | None = None
    trials: list = field(default_factory=list)  # (cell_id, stim_id, trial number, spike times)
    new_stims: dict = field(default_factory=dict)  # stim number -> stimulus row registered by this unit
    missing_wavs: set = field(default_factory=set)  # stim numbers whose wav is absent (on_missing_wav: skip)
    skips: list = field(default_factory=list)  # SkipLog.add argument tuples


# A stimulus's recorded duration (stim_duration) and its wav's length are the same fact
# twice: they must agree within this tolerance, or the unit file contradicts the release.
DURATION_TOLERANCE_S = 0.05


def read_animal(raw_root: str | Path, animal: str, options: AA4Settings = AA4Settings()) -> Shard:
    """Read every unit file of one bird into a :class:`Shard`.

    A unit file that cannot be read, or whose content is invalid (non-finite or absurd
    spike times, a duration contradicting its wav, a corrupt group), is an error naming
    the file, or with ``on_unreadable: skip`` a ``unit`` skip record with the reason:
    either way nothing of that file reaches the tables."""
    raw_root = Path(raw_root)
    folder = raw_root / animal
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: AA4 animal folder not found")
    skips = SkipLog()
    trials = TrialsBuilder()
    neurons: list[dict] = []
    stims: dict[int, dict] = {}  # this animal's stim number -> registry row
    bad_stims: set[int] = set()

    files = sorted(folder.glob("*.h5"))
    if not files:
        raise FileNotFoundError(f"{folder}: no unit files (*.h5) found")
    for path in files:
        rel = path.relative_to(raw_root).as_posix()
        try:
            unit = _read_unit(path, rel, raw_root, animal, options, stims, bad_stims)
        except MissingWav:
            raise
        except Exception as exc:
            what = f"{type(exc).__name__}: {exc}" if not isinstance(exc, ValueError) else str(exc)
            if options.on_unreadable == "skip":
                skips.add("unit", rel, f"unreadable unit file: {what}")
                continue
            raise ValueError(
                f"{path}: unreadable AA4 unit file ({what}); fix or remove it, or set "
                "processing.reading.on_unreadable: skip to record it in skipped and continue"
            ) from exc
        stims.update(unit.new_stims)
        bad_stims |= unit.missing_wavs
        for args in unit.skips:
            skips.add(*args)
        for row in unit.trials:
            trials.add(*row)
        if unit.neuron is not None:
            neurons.append(unit.neuron)
    stim_rows = sorted(stims.values(), key=lambda r: r["stim_number"])
    return Shard.assemble(animal, trials, neurons, NEURONS_SCHEMA, stim_rows, skips)


def _read_unit(path: Path, rel: str, raw_root: Path, animal: str, options: AA4Settings,
               stims: dict[int, dict], bad_stims: set[int]) -> _Unit:
    """One unit file, without touching the shard's state (``stims``/``bad_stims`` are read only)."""
    import h5py

    unit = _Unit()
    try:
        handle = h5py.File(path, "r", driver="core", backing_store=False)
    except OSError as exc:
        raise ValueError(f"cannot open as HDF5 ({exc})") from exc
    with handle:
        if "sortType" not in handle.attrs:
            raise ValueError("missing root attribute 'sortType'")
        raw_sort = decode_attr(handle.attrs["sortType"])
        sort_type = SORT_TYPE_ALIASES.get(raw_sort, raw_sort)
        if sort_type in SKIPPED_SORT_TYPES:
            unit.skips.append(("unit", rel, f"sort type {sort_type}"))
            return unit
        if sort_type not in ("single", "multi"):
            raise ValueError(f"unknown sortType {raw_sort!r} (expected single, multi, noise or tdt)")
        cell_id = f"{animal}/{path.stem}"
        # Low-level traversal: h5py's high-level wrappers cost ~0.3 ms per trial, which
        # dominates a 1.8-million-trial release.
        root = handle.id
        for group_name in sorted(_children(root)):
            group_id = h5py.h5o.open(root, group_name.encode())
            if group_name in METADATA_GROUPS or not isinstance(group_id, h5py.h5g.GroupID):
                continue
            for stim_name in sorted(_children(group_id), key=_numeric_key):
                stim_id = h5py.h5o.open(group_id, stim_name.encode())
                if not isinstance(stim_id, h5py.h5g.GroupID):
                    continue
                stim_group = h5py.Group(stim_id)
                where = f"{rel}:/{group_name}/{stim_name}"
                number, md5 = _stim_identity(stim_group, stim_name, where)
                known = stims.get(number) or unit.new_stims.get(number)
                if known is not None and known["stim_id"] != md5:
                    raise ValueError(
                        f"{where}: stim {number} has md5 {md5} but another unit of {animal} gives {known['stim_id']}"
                    )
                stim_type = known["type"] if known is not None else decode_attr(stim_group.attrs.get("stim_type", b""))
                if stim_type not in options.stim_types:
                    unit.skips.append(("pair", rel, f"stim_type {stim_type!r} not selected", cell_id, md5))
                    continue
                if number in bad_stims or number in unit.missing_wavs:
                    unit.skips.append(("pair", rel, "stimulus wav missing", cell_id, md5))
                    continue
                if known is None:
                    known = _register_stim(raw_root, animal, number, md5, stim_type, stim_group, where, options, unit.skips)
                    if known is None:
                        unit.missing_wavs.add(number)
                        unit.skips.append(("pair", rel, "stimulus wav missing", cell_id, md5))
                        continue
                    unit.new_stims[number] = known
                _check_duration(stim_group, known, where)
                names = sorted(_children(stim_id), key=_numeric_key)
                read = [read_spike_times_lowlevel(stim_id, name, where) for name in names]
                check_trials(read, known["wav_n_samples"] / known["wav_sample_rate"], lambda i: f"{where}/{names[i]}")
                for trial_name, times in zip(names, read):
                    trial_no = _numeric_key(trial_name)[1]
                    if times is None or (options.empty_trials == "skip" and not np.any(times >= 0)):
                        if options.empty_trials == "skip":
                            reason = "empty trial (-999)" if times is None else "no post-onset spike"
                            unit.skips.append(("trial", rel, reason, cell_id, md5, trial_no))
                            continue
                        times = np.zeros(0)
                    unit.trials.append((cell_id, md5, trial_no, times))
        if not unit.trials:
            unit.skips.append(("unit", rel, "no trials for the selected stimulus types", cell_id))
            return unit
        attrs = handle.attrs
        unit.neuron = dict(
            cell_id=cell_id,
            animal_id=animal,
            shard=animal,
            file=rel,
            sex=animal[-1],
            site=decode_attr(attrs["site"]) if "site" in attrs else "",
            electrode=int(_num_attr(attrs, "electrode", 0)),
            ldepth=_num_attr(attrs, "ldepth", None),
            rdepth=_num_attr(attrs, "rdepth", None),
            sort_type=sort_type,
            sort_id=int(_num_attr(attrs, "sortid", 0)),
            subsort_id=subsort_id(path.stem),
        )
    return unit


def _check_duration(stim_group, stim: dict, where: str) -> None:
    """``stim_duration`` (if recorded) must agree with the wav's length."""
    recorded = _num_attr(stim_group.attrs, "stim_duration", None)
    wav_s = stim["wav_n_samples"] / stim["wav_sample_rate"]
    if recorded is not None and not abs(recorded - wav_s) <= DURATION_TOLERANCE_S:
        raise ValueError(
            f"{where}: stim_duration {recorded:g} s contradicts the wav {stim['wav']} ({wav_s:.4f} s, "
            f"tolerance {DURATION_TOLERANCE_S:g} s)"
        )


def _string_attr(group, name: str):
    """A scalar string attribute through h5py's low-level API (half the cost of
    ``group.attrs[name]``, read once per stimulus group); anything else -- arrays,
    numbers, empty dataspaces -- through ``group.attrs`` as usual."""
    import h5py

    attr = h5py.h5a.open(group.id, name.encode())
    dtype = attr.dtype
    if attr.shape != () or dtype.kind not in "SO" or (dtype.kind == "O" and h5py.check_string_dtype(dtype) is None):
        return group.attrs[name]
    out = np.empty((), dtype)
    attr.read(out, mtype=h5py.h5t.py_create(dtype))
    return out[()]


def _stim_identity(stim_group, stim_name: str, where: str) -> tuple[int, str]:
    try:
        number = int(stim_name)
    except ValueError:
        raise ValueError(f"{where}: stimulus group name is not a number") from None
    import h5py

    if not h5py.h5a.exists(stim_group.id, b"stim_md5"):
        raise ValueError(f"{where}: missing attribute 'stim_md5'")
    md5 = decode_attr(_string_attr(stim_group, "stim_md5")).lower()
    if not md5:
        raise ValueError(f"{where}: empty attribute 'stim_md5'")
    return number, md5


def _register_stim(raw_root, animal, number, md5, stim_type, stim_group, where, options, skips) -> dict | None:
    wav_rel = f"{animal}/wavfiles/stim{number}.wav"
    wav = Path(raw_root) / wav_rel
    if not wav.is_file():
        if options.on_missing_wav == "skip":
            skips.append(("stim", wav_rel, f"wav file missing (referenced by {where})", None, md5))
            return None
        raise MissingWav(
            f"{wav}: wav file missing for stimulus {number} (md5 {md5}) referenced by {where}; "
            "set on_missing_wav: skip to record and continue"
        )
    n_samples, sample_rate = wav_info(wav)
    if n_samples <= 0 or not sample_rate > 0:
        raise MissingWav(f"{wav}: wav file has {n_samples} samples at {sample_rate:g} Hz (referenced by {where})")
    duration = _num_attr(stim_group.attrs, "stim_duration", n_samples / sample_rate)
    return dict(
        stim_id=md5,
        animal_id=animal,
        stim_number=number,
        name=f"stim{number}",
        type=stim_type,
        **{"class": decode_attr(stim_group.attrs.get("stim_class", b""))},
        duration_s=duration,
        wav=wav_rel,
        wav_sample_rate=sample_rate,
        wav_n_samples=n_samples,
    )
