"""Reader for CRCNS AA1 (Theunissen lab): zebra finch Field L and MLd, 100 cells, 30 stims.

Layout (``shared/reference/raw_formats.md`` §4)::

    <raw>/all_stims/<type>/<MD5>.wav                    type: conspecific | flatrip
    <raw>/Field_L_cells/<cell>/<type>/stim<i>, spike<i>
    <raw>/MLd_cells/<cell>/<type>/stim<i>, spike<i>

The whole release is one shard, ``"all"``.  Text-file parsing (and the deepSTRF bugs it
avoids) is in :mod:`strflow.io.readers.crcns_text`.  AA1 specifics:

* ``area`` comes from the area folder: ``Field_L_cells`` -> ``Field_L``,
  ``MLd_cells`` -> ``MLd``; neurons are ordered by area (that order), then folder name.
* ``cell_id`` is the cell folder name (``<animal>_<seq>[_<rig>]``).  If the same folder
  name occurs in both area folders, both cells get ``<folder>@<area>`` so ids stay unique.
* A ``stim<i>`` names a wav that is looked up in ``all_stims/<type>/`` of its own type
  folder; a stimulus's ``type`` and ``class`` are that folder name.
* Entries of an area folder that are not directories are ``file`` skip records; a
  missing area folder is an error.
"""

from __future__ import annotations

from pathlib import Path

from strflow.io.readers.crcns_text import Cell, TextSettings, list_dirs, neuron_row, read_cells
from strflow.io.readers.shard import Shard, SkipLog

DATASET = "AA1"
STIMS_DIR = "all_stims"
AREAS = (("Field_L_cells", "Field_L"), ("MLd_cells", "MLd"))
STIM_TYPES = ("conspecific", "flatrip")


def read_aa1(raw_root: str | Path, options: TextSettings = TextSettings()) -> Shard:
    """Read the AA1 release under ``raw_root`` into the single shard ``"all"``."""
    raw_root = Path(raw_root)
    types = options.types(STIM_TYPES, DATASET)
    if not (raw_root / STIMS_DIR).is_dir():
        raise FileNotFoundError(f"{raw_root / STIMS_DIR}: AA1 stimulus folder not found")
    skips = SkipLog()
    found: list[tuple[str, str]] = []  # (area folder, cell folder name), layout order
    for area_dir, _ in AREAS:
        folder = raw_root / area_dir
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: AA1 area folder not found")
        dirs, others = list_dirs(folder)
        for name in others:
            skips.add("file", f"{area_dir}/{name}", "not a cell folder")
        found.extend((area_dir, name) for name in dirs)
    counts: dict[str, int] = {}
    for _, name in found:
        counts[name] = counts.get(name, 0) + 1
    area_of = dict(AREAS)
    cells = []
    for area_dir, name in found:
        area = area_of[area_dir]
        cell_id = name if counts[name] == 1 else f"{name}@{area}"
        rel = f"{area_dir}/{name}"
        cells.append(Cell(cell_id, rel, neuron_row(cell_id, name, rel, area)))
    return read_cells(
        raw_root,
        DATASET,
        cells,
        types,
        STIM_TYPES,
        wav_rel=lambda stim_type, wav: f"{STIMS_DIR}/{stim_type}/{wav}",
        stim_class=lambda stim_type, wav: stim_type,
        options=options,
        skips=skips,
    )
