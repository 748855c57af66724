"""Reader for CRCNS AA2 (Theunissen lab): zebra finch auditory areas, ~494 cells, 117 stims.

Layout (``shared/reference/raw_formats.md`` §5)::

    <raw>/all_cells/<cell>/<type>/stim<i>, spike<i>     type: conspecific | flatrip | songrip
    <raw>/all_stims/<MD5>.wav                           one flat folder
    <raw>/cell_regions.csv        header-less "cell,region"
    <raw>/cell_stim_classes.csv   header-less "cell,type[,type...]" (variable field count)
    <raw>/stim_data.csv           header-less "wav,sample_rate,bit_depth,n_samples,class"

The whole release is one shard, ``"all"``.  Text-file parsing (and the deepSTRF bugs it
avoids) is in :mod:`strflow.io.readers.crcns_text`.  AA2 specifics:

* ``cell_id`` is the cell folder name; neurons are ordered by folder name.
* ``area`` is the fine label of ``cell_regions.csv`` kept as given (``L, L1, L2a, L2b,
  L3, mld, OV, CM`` or the string ``"None"``, the release's "unknown region"); a cell
  folder not listed there gets a null area.  A listed cell without a folder is a
  ``unit`` skip record.  Rows with fewer than 2 fields are ignored.
* A stimulus's ``type`` is the stim-type folder it was first read from; its ``class``
  is the class column of ``stim_data.csv`` (which also has ``bengalese``/``unknown``),
  or the type if the wav is not listed there.  Rows of ``stim_data.csv`` with fewer
  than 5 fields are ignored; its sample rate and sample count are the same facts as the
  wav header's, so a mismatch is an error naming both files.
* ``cell_stim_classes.csv`` is parsed with the csv module (deepSTRF uses pandas' header
  inference, which eats the first row and, when a later row has more fields than the
  first, shifts every column; its animal list is then wrong).  It is only cross-checked
  against the type folders of each cell: a disagreement is logged, nothing else.
* Entries of ``all_cells/`` that are not directories are ``file`` skip records.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pyarrow as pa

from strflow.io.readers.crcns_text import Cell, TextSettings, list_dirs, neuron_row, read_cells, read_headerless_csv
from strflow.io.readers.shard import Shard, SkipLog

log = logging.getLogger(__name__)

DATASET = "AA2"
CELLS_DIR = "all_cells"
STIMS_DIR = "all_stims"
REGIONS_FILE = "cell_regions.csv"
CLASSES_FILE = "cell_stim_classes.csv"
STIM_DATA_FILE = "stim_data.csv"
STIM_TYPES = ("conspecific", "flatrip", "songrip")
REGIONS = frozenset({"L", "L1", "L2a", "L2b", "L3", "mld", "OV", "CM", "None"})
NO_FOLDER_REASON = f"listed in {REGIONS_FILE} but no cell folder"


def read_cell_regions(path: Path) -> dict[str, str]:
    """cell -> fine region label (file order); unknown labels are kept and logged."""
    regions: dict[str, str] = {}
    for lineno, row in enumerate(read_headerless_csv(path), start=1):
        if len(row) < 2:
            log.warning("%s: row %d %r has fewer than 2 fields; ignored", path, lineno, row)
            continue
        cell, region = row[0], row[1]
        if cell in regions and regions[cell] != region:
            raise ValueError(f"{path}: cell {cell!r} listed with regions {regions[cell]!r} and {region!r}")
        if region not in REGIONS:
            log.warning("%s: cell %s has the unknown region label %r (kept as given)", path, cell, region)
        regions[cell] = region
    return regions


def read_stim_data(path: Path) -> dict[str, dict]:
    """wav name -> {sample_rate, bit_depth, n_samples, class}; rows with < 5 fields ignored."""
    out: dict[str, dict] = {}
    for row in read_headerless_csv(path):
        if len(row) < 5:
            continue
        try:
            out[row[0]] = dict(
                sample_rate=float(row[1]), bit_depth=int(float(row[2])), n_samples=int(float(row[3])), cls=row[4]
            )
        except ValueError:
            log.warning("%s: row %r does not parse as wav,sample_rate,bit_depth,n_samples,class; ignored", path, row)
    return out


def read_aa2(raw_root: str | Path, options: TextSettings = TextSettings()) -> Shard:
    """Read the AA2 release under ``raw_root`` into the single shard ``"all"``."""
    raw_root = Path(raw_root)
    types = options.types(STIM_TYPES, DATASET)
    for name in (CELLS_DIR, STIMS_DIR):
        if not (raw_root / name).is_dir():
            raise FileNotFoundError(f"{raw_root / name}: AA2 folder not found")
    regions = read_cell_regions(raw_root / REGIONS_FILE) if (raw_root / REGIONS_FILE).is_file() else {}
    if not regions:
        log.warning("%s: missing or empty; every area is null", raw_root / REGIONS_FILE)
    stim_data = read_stim_data(raw_root / STIM_DATA_FILE) if (raw_root / STIM_DATA_FILE).is_file() else {}

    skips = SkipLog()
    dirs, others = list_dirs(raw_root / CELLS_DIR)
    for name in others:
        skips.add("file", f"{CELLS_DIR}/{name}", "not a cell folder")
    for cell in regions:
        if cell not in dirs:
            skips.add("unit", f"{CELLS_DIR}/{cell}", NO_FOLDER_REASON, cell)
    cells = [
        Cell(name, f"{CELLS_DIR}/{name}", neuron_row(name, name, f"{CELLS_DIR}/{name}", regions.get(name)))
        for name in dirs
    ]
    if (raw_root / CLASSES_FILE).is_file():
        _cross_check_classes(raw_root, raw_root / CLASSES_FILE, dirs)

    def stim_class(stim_type: str, wav: str) -> str:
        row = stim_data.get(wav)
        return row["cls"] if row is not None and row["cls"] else stim_type

    shard = read_cells(
        raw_root,
        DATASET,
        cells,
        types,
        STIM_TYPES,
        wav_rel=lambda stim_type, wav: f"{STIMS_DIR}/{wav}",
        stim_class=stim_class,
        options=options,
        skips=skips,
    )
    _cross_check_stims(shard.stims, stim_data, raw_root / STIM_DATA_FILE)
    return shard


def _cross_check_classes(raw_root: Path, path: Path, dirs: list[str]) -> None:
    listed: dict[str, set[str]] = {}
    for row in read_headerless_csv(path):
        listed.setdefault(row[0], set()).update(t for t in row[1:] if t)
    folders = set(dirs)
    for cell, listed_types in listed.items():
        if cell not in folders:
            log.warning("%s: cell %s has no folder in %s/", path, cell, CELLS_DIR)
            continue
        present = {t for t in list_dirs(raw_root / CELLS_DIR / cell)[0] if t in STIM_TYPES}
        if present != listed_types:
            log.warning(
                "%s: cell %s lists stim types %s but its folder has %s",
                path, cell, sorted(listed_types), sorted(present),
            )
    missing = sorted(folders - set(listed))
    if missing:
        log.warning("%s: %d cell folders not listed (e.g. %s)", path, len(missing), missing[:5])


def _cross_check_stims(stims: pa.Table, stim_data: dict[str, dict], path: Path) -> None:
    unlisted = []
    for row in stims.to_pylist():
        ref = stim_data.get(row["name"])
        if ref is None:
            unlisted.append(row["name"])
            continue
        if ref["sample_rate"] != row["wav_sample_rate"] or ref["n_samples"] != row["wav_n_samples"]:
            raise ValueError(
                f"{path}: {row['name']} is listed as {ref['sample_rate']:g} Hz, {ref['n_samples']} samples, but its "
                f"wav {row['wav']} has {row['wav_sample_rate']:g} Hz, {row['wav_n_samples']} samples: the release "
                "contradicts itself (a truncated or replaced wav?)"
            )
    if unlisted:
        log.warning("%s: %d stimuli not listed (e.g. %s); class = stim type", path, len(unlisted), unlisted[:5])
