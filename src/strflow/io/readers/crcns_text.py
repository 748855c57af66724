"""Shared parsing for the CRCNS text-format releases AA1 and AA2 (Theunissen lab).

Both releases store, per cell folder and stimulus-type folder, pairs of text files
(``shared/reference/raw_formats.md`` §3.2-3.3, §4-§5)::

    <cell>/<stim_type>/stim<i>     first line: the wav file name, "<MD5>.wav"
    <cell>/<stim_type>/spike<i>    one line per trial, spike times in ms from onset

This module parses those files and assembles the :class:`~strflow.io.readers.shard.Shard`
tables; :mod:`strflow.io.readers.aa1` and :mod:`strflow.io.readers.aa2` only know where the
cells and wavs of their release are.  Quirks and the deepSTRF bugs avoided here:

* ``spike<i>``: deepSTRF splits each line on a single space and drops the last token,
  assuming every line ends with ``" \\n"``.  A line without the trailing space (or a
  final line without a newline) silently loses its last spike, and a double space makes
  ``float('')`` raise.  Here a line is split on any run of whitespace (spaces, tabs),
  Windows (``\\r\\n``) and old-Mac line endings are accepted, a missing final newline
  loses nothing, and an empty (or blank) line is a presented trial without spikes.  The
  trial number is the 1-based line number.  A token that is not a finite number is a
  ValueError naming the file and the line.  Times are converted to **seconds**; every
  spike is kept (pre-onset ones too: binning decides the window).
* ``stim<i>``: deepSTRF keeps ``readline()[:-1]``, which chops the last character of a
  file without a final newline (``x.wav`` -> ``x.wa``, which then never matches).  Here
  the first line is stripped of surrounding whitespace instead.
* ``stim_id`` is the wav name without ``.wav`` (the MD5 as written, upper-case in the
  releases); ``stim_number`` is the order of first appearance (stim-type order, then
  cell order, then stim index ``i`` numerically).
* A ``stim<i>`` without ``spike<i>``, a wav absent from ``all_stims``, an empty spike
  file is a ``pair`` skip record (the cell keeps its other stimuli).  The same wav in
  two spike files of one cell (a second block of presentations, e.g. 10 trials then
  4 more) is one pair: the second file's trials are appended, numbered on, and a
  ``merged`` record in ``skipped`` names the file and the trial numbers it supplied.  With ``on_missing_wav="error"`` a missing wav raises.
  A ``spike<i>`` without ``stim<i>`` and a stim-type folder that is not selected are
  ``file`` skip records; a cell left with no trials is a ``unit`` skip record.
"""

from __future__ import annotations

import csv
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from strflow.store.tables import TEXT_NEURONS_SCHEMA as NEURONS_SCHEMA
from strflow.io.readers.shard import Shard, SkipLog, TrialsBuilder, check_trials
from strflow.processing.spectrogram import wav_info

log = logging.getLogger(__name__)

SHARD = "all"
SPECIES = "zebra finch"
_CELL_NAME = re.compile(r"^(?P<animal>[^_]+)_(?P<seq>\d+)(?:_(?P<rig>[A-Z]))?$")
_STIM_FILE = re.compile(r"^stim(\d+)$")
_SPIKE_FILE = re.compile(r"^spike(\d+)$")

MISSING_SPIKE_REASON = "spike file missing for this stim file"
NO_TRIALS_REASON = "spike file has no trial lines"
MERGED_PAIR_REASON = "nothing left out: trials of the same stimulus for this cell appended to those of"
ORPHAN_SPIKE_REASON = "spike file without a stim file"
NO_TRIALS_UNIT_REASON = "no trials for the selected stimulus types"


@dataclass(frozen=True)
class TextSettings:
    stim_types: tuple[str, ...] | None = None  # None: all the format's types
    on_missing_wav: str = "skip"  # skip | error

    def __post_init__(self) -> None:
        if self.on_missing_wav not in ("skip", "error"):
            raise ValueError(f"on_missing_wav must be 'skip' or 'error', got {self.on_missing_wav!r}")
        if self.stim_types is not None:
            if isinstance(self.stim_types, str) or not all(isinstance(t, str) for t in self.stim_types):
                raise ValueError(f"stim_types must be a tuple of strings or None, got {self.stim_types!r}")
            object.__setattr__(self, "stim_types", tuple(self.stim_types))

    def types(self, all_types: tuple[str, ...], dataset: str) -> tuple[str, ...]:
        """The selected types in the order given (all the format's types if None)."""
        if self.stim_types is None:
            return all_types
        unknown = [t for t in self.stim_types if t not in all_types]
        if unknown:
            raise ValueError(f"{dataset}: unknown stim_types {unknown}; the release has {list(all_types)}")
        return tuple(dict.fromkeys(self.stim_types))


def parse_cell_name(name: str) -> tuple[str, int | None, str | None]:
    """``<animal>_<seq>[_<rig>]`` -> (animal, seq, rig); else (text before the first '_', None, None)."""
    match = _CELL_NAME.match(name)
    if match is None:
        return name.split("_", 1)[0], None, None
    return match["animal"], int(match["seq"]), match["rig"]


def parse_spike_text(text: str, where: str) -> list[np.ndarray]:
    """Spike times (ms, float64) of each line/trial of a ``spike<i>`` file's text."""
    tokens_per_line = [line.split() for line in text.splitlines()]
    flat = [tok for toks in tokens_per_line for tok in toks]
    try:
        values = np.fromiter(map(float, flat), dtype=np.float64, count=len(flat))
        bad = not np.isfinite(values).all()
    except ValueError:
        bad = True
    if bad:
        for lineno, toks in enumerate(tokens_per_line, start=1):
            for tok in toks:
                try:
                    ok = np.isfinite(float(tok))
                except ValueError:
                    ok = False
                if not ok:
                    raise ValueError(f"{where}: line {lineno}: {tok!r} is not a finite spike time (ms)")
    out, start = [], 0
    for toks in tokens_per_line:
        stop = start + len(toks)
        out.append(values[start:stop])
        start = stop
    return out


def _read_text(path: str | Path, kind: str, encoding: str = "utf-8") -> str:
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a text {kind} file ({exc})") from exc


def read_spike_file(path: str | Path) -> list[np.ndarray]:
    """Spike times in ms, one array per line (trial) of a ``spike<i>`` file."""
    return parse_spike_text(_read_text(path, "spike"), str(path))


def read_stim_file(path: str | Path) -> str:
    """The wav file name on the first line of a ``stim<i>`` file (whitespace stripped)."""
    text = _read_text(path, "stim", "utf-8-sig")
    lines = text.splitlines()
    name = lines[0].strip() if lines else ""
    if not name:
        raise ValueError(f"{path}: empty first line, expected a wav file name")
    return name


def stim_id_of(wav_name: str) -> str:
    return wav_name[:-4] if wav_name.lower().endswith(".wav") else wav_name


def read_headerless_csv(path: str | Path) -> list[list[str]]:
    """Rows of a header-less csv with any number of fields (fields stripped, blank rows dropped).

    Parsed with the csv module on purpose: deepSTRF reads ``cell_stim_classes.csv`` with
    pandas' default header inference, which eats the first row as a header and, when a
    later row has more fields than the first, turns column 0 into the index.
    """
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = [[field.strip() for field in row] for row in csv.reader(handle)]
    return [row for row in rows if any(row)]


@dataclass
class Cell:
    cell_id: str
    rel: str  # cell folder relative to raw_root (posix)
    row: dict  # the neuron row (NEURONS_SCHEMA)


def neuron_row(cell_id: str, animal_folder_name: str, rel: str, area: str | None) -> dict:
    animal, seq, rig = parse_cell_name(animal_folder_name)
    return dict(
        cell_id=cell_id, animal_id=animal, shard=SHARD, file=rel, area=area, cell_seq=seq, rig=rig, species=SPECIES
    )


def list_dirs(folder: Path) -> tuple[list[str], list[str]]:
    """(sorted sub-directory names, sorted other entry names) of ``folder``."""
    dirs, others = [], []
    with os.scandir(folder) as it:
        for entry in it:
            (dirs if entry.is_dir() else others).append(entry.name)
    return sorted(dirs), sorted(others)


def _pair_files(folder: Path) -> tuple[dict[int, str], dict[int, str]]:
    stims, spikes = {}, {}
    with os.scandir(folder) as it:
        for entry in it:
            for pattern, target in ((_STIM_FILE, stims), (_SPIKE_FILE, spikes)):
                match = pattern.match(entry.name)
                if match and entry.is_file():
                    target[int(match.group(1))] = entry.name
    return stims, spikes


def read_cells(
    raw_root: Path,
    dataset: str,
    cells: list[Cell],
    types: tuple[str, ...],
    all_types: tuple[str, ...],
    wav_rel: Callable[[str, str], str],
    stim_class: Callable[[str, str], str],
    options: TextSettings,
    skips: SkipLog,
) -> Shard:
    """Read every (cell, type, stim<i>/spike<i>) of ``cells`` into the shard ``"all"``.

    ``wav_rel(type, wav_name)`` is the wav path relative to ``raw_root``;
    ``stim_class(type, wav_name)`` the stims-table class of a stimulus.
    """
    root = str(raw_root)
    stims: dict[str, dict] = {}
    seen_pairs: dict[tuple[int, str], str] = {}
    entries: list[tuple[int, int, str, list[np.ndarray]]] = []
    type_dirs: list[list[str]] = []
    for cell in cells:
        dirs, _ = list_dirs(raw_root / cell.rel)
        type_dirs.append(dirs)
        for name in dirs:
            if name not in types:
                known_type = name in all_types
                reason = f"stim type {name!r} not selected" if known_type else f"unknown stim-type folder {name!r}"
                skips.add("file", f"{cell.rel}/{name}", reason, cell.cell_id)

    for stim_type in types:
        for ci, cell in enumerate(cells):
            if stim_type not in type_dirs[ci]:
                continue
            folder_rel = f"{cell.rel}/{stim_type}"
            stim_files, spike_files = _pair_files(os.path.join(root, folder_rel))
            for i in sorted(stim_files):
                stim_rel = f"{folder_rel}/{stim_files[i]}"
                wav_name = read_stim_file(os.path.join(root, stim_rel))
                stim_id = stim_id_of(wav_name)
                if i not in spike_files:
                    skips.add("pair", stim_rel, f"{MISSING_SPIKE_REASON} (spike{i})", cell.cell_id, stim_id)
                    continue
                known = stims.get(stim_id)
                wav = known["wav"] if known is not None else wav_rel(stim_type, wav_name)
                if known is None and not (raw_root / wav).is_file():
                    if options.on_missing_wav == "error":
                        raise FileNotFoundError(
                            f"{raw_root / stim_rel}: names {wav_name!r} but {raw_root / wav} does not exist; "
                            "set on_missing_wav: skip to record and continue"
                        )
                    skips.add("pair", stim_rel, f"wav {wav} not in the release", cell.cell_id, stim_id)
                    continue
                spike_rel = f"{folder_rel}/{spike_files[i]}"
                trials_ms = read_spike_file(os.path.join(root, spike_rel))
                if not trials_ms:
                    skips.add("pair", spike_rel, NO_TRIALS_REASON, cell.cell_id, stim_id)
                    continue
                if known is None:
                    known = _stim_row(raw_root, dataset, stim_id, wav_name, stim_type, wav, stim_class, len(stims) + 1)
                    stims[stim_id] = known
                check_trials([t / 1000.0 for t in trials_ms], known["duration_s"],
                             lambda i: f"{raw_root / spike_rel}: line {i + 1}")
                if (ci, stim_id) in seen_pairs:
                    # the same sound presented again to the cell (a second block): its trials
                    # continue the first block's numbering
                    first_rel, first = seen_pairs[ci, stim_id]
                    n = len(first)
                    first.extend(trials_ms)
                    skips.add("merged", spike_rel, f"{MERGED_PAIR_REASON} {first_rel}: trials {n + 1}-{len(first)}",
                              cell.cell_id, stim_id)
                    continue
                trials_ms = list(trials_ms)
                seen_pairs[ci, stim_id] = (spike_rel, trials_ms)
                entries.append((ci, known["stim_number"], stim_id, trials_ms))
            for i in sorted(set(spike_files) - set(stim_files)):
                skips.add("file", f"{folder_rel}/{spike_files[i]}", ORPHAN_SPIKE_REASON, cell.cell_id)

    entries.sort(key=lambda e: (e[0], e[1]))
    trials = TrialsBuilder()
    kept = set()
    for ci, _, stim_id, trials_ms in entries:
        kept.add(ci)
        _add_file_trials(trials, cells[ci].cell_id, stim_id, trials_ms)
    neurons = []
    for ci, cell in enumerate(cells):
        if ci in kept:
            neurons.append(cell.row)
        else:
            skips.add("unit", cell.rel, NO_TRIALS_UNIT_REASON, cell.cell_id)
    return Shard.assemble(SHARD, trials, neurons, NEURONS_SCHEMA, list(stims.values()), skips)


def _add_file_trials(trials: TrialsBuilder, cell_id: str, stim_id: str, trials_ms: list[np.ndarray]) -> None:
    """Append one spike file's trials (numbered 1..n) to ``trials``, in seconds and sorted.

    Equivalent to ``trials.add`` per line, with one sort and one division per file.
    """
    n = len(trials_ms)
    counts = np.fromiter((t.shape[0] for t in trials_ms), dtype=np.int64, count=n)
    values = np.concatenate(trials_ms) / 1000.0
    line = np.repeat(np.arange(n), counts)
    values = values[np.lexsort((values, line))]
    bounds = np.concatenate(([0], np.cumsum(counts)))
    trials.cell_id.extend([cell_id] * n)
    trials.stim_id.extend([stim_id] * n)
    trials.trial.extend(range(1, n + 1))
    trials.spikes.extend(values[bounds[j] : bounds[j + 1]] for j in range(n))


def _stim_row(raw_root, dataset, stim_id, wav_name, stim_type, wav, stim_class, number) -> dict:
    n_samples, sample_rate = wav_info(raw_root / wav)
    return dict(
        stim_id=stim_id,
        animal_id=dataset,
        stim_number=number,
        name=wav_name,
        type=stim_type,
        **{"class": stim_class(stim_type, wav_name)},
        duration_s=n_samples / sample_rate,
        wav=wav,
        wav_sample_rate=sample_rate,
        wav_n_samples=n_samples,
    )
