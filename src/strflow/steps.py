"""One function per workflow rule: file paths in, files out.

``workflow/scripts/*.py`` are thin adapters that unpack the ``snakemake`` object and
call these; tests call them directly.  Every writer is atomic (temp file + rename), so
an interrupted step never leaves an output that looks complete.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

log = logging.getLogger("strflow")


def synthesize(raw_dir, ground_truth, animal: str, synthetic: dict, dt_ms: float, spectrogram: dict) -> None:
    from strflow.spectrogram import SpectrogramParams
    from strflow.synthetic import SyntheticSpec, generate_animal

    spec = SyntheticSpec.from_config(synthetic)
    log.info("generating synthetic AA4 animal %s (seed %s)", animal, spec.seed)
    generate_animal(Path(raw_dir).parent, ground_truth, animal, spec, dt_ms, SpectrogramParams.from_config(spectrogram))


AA4_READING = ("empty_trials", "on_unreadable", "on_missing_wav", "stim_types")
NS1_READING = ("spike_rounding", "on_unreadable")


def read_shard(fmt: str, raw_dir, shard: str, reading: dict, outputs: dict) -> None:
    if fmt == "aa4":
        from strflow.readers.aa4 import AA4Options, read_animal

        opts = {k: v for k, v in reading.items() if k in AA4_READING}
        if "stim_types" in opts:
            opts["stim_types"] = tuple(opts["stim_types"])
        data = read_animal(raw_dir, shard, AA4Options(**opts))
    elif fmt == "ns1":
        from strflow.readers.ns1 import NS1Options, read_ns1

        data = read_ns1(raw_dir, NS1Options(**{k: v for k, v in reading.items() if k in NS1_READING}))
    elif fmt in ("aa1", "aa2"):
        from strflow.readers.aa1 import read_aa1
        from strflow.readers.aa2 import read_aa2
        from strflow.readers.crcns_text import TextOptions

        types = reading.get("stim_types")
        opts = TextOptions(stim_types=tuple(types) if types else None, on_missing_wav=reading.get("on_missing_wav", "skip"))
        data = (read_aa1 if fmt == "aa1" else read_aa2)(raw_dir, opts)
    elif fmt == "nwb":
        from strflow.readers.nwb import NWBOptions, read_nwb

        data = read_nwb(raw_dir, NWBOptions.from_config(reading.get("nwb")))
    else:
        raise ValueError(f"unknown dataset format {fmt!r}")
    log.info(
        "%s: %d units, %d trials, %d stimuli, %d skip records",
        shard, data.neurons.num_rows, data.trials.num_rows, data.stims.num_rows, data.skipped.num_rows,
    )
    data.write(outputs)


def stim_table(shard_stims: list, dt_ms: float, out, pre_bins: int = 0) -> None:
    from strflow.store.tables import write_parquet
    from strflow.tables import build_stim_table
    from strflow.store.tables import read_tables

    table = build_stim_table(read_tables(shard_stims), dt_ms, pre_bins)
    log.info("%d unique stimuli", table.num_rows)
    write_parquet(table, out)


def spectrograms(stims_path, raw_dir, dt_ms: float, params: dict, out) -> None:
    from strflow.spectrogram import compute_spectrogram, spectrogram_settings
    from strflow.store.spectrograms import write_spectrograms
    from strflow.waveforms import read_stimulus_audio

    sp = spectrogram_settings(params)  # mel (SpectrogramParams) or cochleagram (CochleagramParams)
    stims = pq.read_table(stims_path).to_pylist()

    def computed():
        freqs = None
        for row in stims:
            if not row["wav"]:
                continue
            wave, _ = read_stimulus_audio(raw_dir, row["wav"])  # a wav, or audio inside an NWB file
            sr = row["wav_sample_rate"]  # the reader's rate: NS1 headers round 48828.125 Hz to 48828
            spec, freqs_s = compute_spectrogram(wave, sr, dt_ms, sp, pre_bins=row["n_pre_bins"])
            if spec.shape[1] != row["n_bins"]:
                raise ValueError(f"{row['wav']}: {spec.shape[1]} frames but the stimulus table says {row['n_bins']} bins")
            if freqs is None:
                freqs = freqs_s
            elif not np.allclose(freqs, freqs_s):
                raise ValueError(f"{row['wav']}: band centres differ from the first stimulus' (different sample rate?)")
            yield row["stim_id"], spec, freqs_s

    write_spectrograms(out, computed(), dt_ms, sp.as_dict())
    log.info("%d spectrograms written to %s", len(stims), out)


def waveforms(stims_path, raw_dir, dt_ms: float, out) -> None:
    """One grid-rate waveform per stimulus (``waveforms.h5``, see :mod:`strflow.waveforms`)."""
    from strflow.waveforms import write_waveforms

    n = write_waveforms(stims_path, raw_dir, dt_ms, out)
    log.info("%d waveforms written to %s", n, out)


def nwb_export(dataset_dir, fmt: str, shards: list, settings: dict, provenance: dict, out, raw_dir=None) -> None:
    """The processed dataset as NWB files, one per subject/session (:mod:`strflow.nwb`)."""
    from strflow.nwb import export_dataset

    files = export_dataset(dataset_dir, fmt, list(shards), dict(settings), dict(provenance), out, raw_dir=raw_dir)
    log.info("%d NWB files written to %s", len(files), out)


# Bins processed at once by the streaming steps: 4 M bins keep the temporaries of one
# piece (int64 bincount, casts, cumulative sums) near 100 MB.
STREAM_BINS = 1 << 22


def bin_shard(trials_path, neurons_path, stims_path, dt_ms: float, out_h5, out_coverage) -> None:
    """Count spikes per bin for every trial of a shard, streaming bounded pieces to disk."""
    from strflow.binning import plan_pairs, summary_from_trials, trial_totals
    from strflow.store.tables import flat_spikes, write_parquet
    from strflow.store.blocks import BlockWriter
    from strflow.tables import coverage_table

    trials = pq.read_table(trials_path)
    stims = pq.read_table(stims_path, columns=["stim_id", "n_bins", "n_pre_bins"]).to_pydict()
    cells = pq.read_table(neurons_path, columns=["cell_id"]).column("cell_id").to_pylist()
    pre = set(stims["n_pre_bins"]) - {0} or {0}  # stimuli without a grid have 0
    if len(pre) != 1:
        raise ValueError(f"{stims_path}: stimuli disagree on the pre-stimulus window: n_pre_bins {sorted(pre)}")
    values, offsets = flat_spikes(trials)
    plan = plan_pairs(
        cell_id=trials.column("cell_id").to_numpy(zero_copy_only=False),
        stim_id=trials.column("stim_id").to_numpy(zero_copy_only=False),
        trial=trials.column("trial").to_numpy(),
        spike_times_s=values,
        offsets=offsets,
        stim_order={s: i for i, s in enumerate(stims["stim_id"])},
        stim_n_bins=dict(zip(stims["stim_id"], stims["n_bins"])),
        cell_order={c: i for i, c in enumerate(cells)},
        dt_ms=dt_ms,
        pre_bins=pre.pop(),
    )
    del trials, values
    per_trial = np.zeros(plan.n_bins.shape[0], dtype=np.int64)
    attrs = dict(kind="binned", units="spikes/bin", dt_ms=dt_ms, n_pre_bins=plan.pre_bins)
    with BlockWriter(out_h5, plan.index, plan.block_offsets[-1], np.uint16, attrs) as writer:
        for start, stop in plan.ranges(STREAM_BINS):
            counts = plan.count(start, stop)
            writer.write(int(plan.block_offsets[start]), counts)
            per_trial[start:stop] = trial_totals(counts, plan.n_bins[start:stop])
    summary = summary_from_trials(plan.index, per_trial, dt_ms)
    write_parquet(coverage_table(plan.index, summary), out_coverage)
    log.info("binned %d pairs (%d trials) at %g ms", len(plan.index), plan.n_bins.shape[0], dt_ms)


def smooth_shard(binned_path, smoothing: dict, out) -> None:
    """Smooth every trial of a shard, streaming runs of equal-length trials."""
    from strflow.smoothing import equal_length_runs, hanning_kernel, smooth_rows
    from strflow.store.blocks import BlockWriter, open_data, read_index

    index, attrs = read_index(binned_path)
    dt_ms = float(attrs["dt_ms"])
    kernel = hanning_kernel(smoothing["window_ms"], dt_ms, smoothing["kernel"])
    sizes = index.n_trials.astype(np.int64) * index.n_bins
    total = int(sizes.sum())
    out_attrs = dict(
        kind="smoothed",
        units="spikes/bin" if smoothing["kernel"] == "normalized" else "spikes/bin x kernel sum (legacy)",
        dt_ms=dt_ms,
        smoothing=dict(smoothing),
        kernel=kernel.tolist(),
    )
    data = open_data(binned_path)
    try:
        with BlockWriter(out, index, total, np.float32, out_attrs) as writer:
            for start, rows, t in equal_length_runs(index, STREAM_BINS):
                writer.write(start, smooth_rows(data[start : start + rows * t].reshape(rows, t), kernel).ravel())
    finally:
        data.file.close()
    log.info("smoothed %d pairs with a %d-tap %s Hanning kernel", len(index), kernel.size, smoothing["kernel"])


def gather_tables(neurons: list, skipped: list, coverage: list, outputs: dict, neuron_filter: dict | None = None,
                  species: str | None = None) -> None:
    """Concatenate the shards' tables, adding the dataset's ``species`` to every neuron;
    neurons failing ``neuron_filter`` are moved to ``skipped`` with the failed condition
    as the reason (and out of ``coverage``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from strflow.store.tables import SKIPPED_SCHEMA, write_parquet
    from strflow.selection import check, validate
    from strflow.tables import check_unique
    from strflow.store.tables import read_tables

    table = pa.concat_tables(read_tables(neurons), promote_options="permissive")
    check_unique(table, "cell_id", "neuron")
    if species:  # the dataset's species (config, default by format) on every neuron
        column = pa.array([species] * table.num_rows, pa.string())
        i = table.schema.get_field_index("species")
        table = table.set_column(i, "species", column) if i >= 0 else table.append_column("species", column)
    skips = pa.concat_tables(read_tables(skipped), promote_options="permissive")
    cov = pa.concat_tables(read_tables(coverage), promote_options="permissive")
    n_read = table.num_rows
    if neuron_filter:
        validate(neuron_filter, table.schema)
        rows = table.to_pylist()
        reasons = [check(r, neuron_filter) for r in rows]
        keep = pa.array([not r for r in reasons])
        dropped = [dict(what="unit", file=row["file"], reason=why, cell_id=row["cell_id"], stim_id=None, trial=None)
                   for row, why in zip(rows, reasons) if why]
        table = table.filter(keep)
        cov = cov.filter(pc.is_in(cov.column("cell_id"), table.column("cell_id")))
        skips = pa.concat_tables([skips, pa.Table.from_pylist(dropped, schema=SKIPPED_SCHEMA)])
        log.info("neuron filter %s: %d of %d neurons kept", neuron_filter, table.num_rows, len(rows))
    if table.num_rows == 0:
        raise ValueError(f"{Path(outputs['neurons']).parents[1]}: " + no_neurons_message(n_read, skips, neuron_filter))
    write_parquet(table, outputs["neurons"])
    write_parquet(skips, outputs["skipped"])
    write_parquet(cov, outputs["coverage"])
    log.info("tables: %d neurons, %d heard pairs, %d skip records", table.num_rows, cov.num_rows, skips.num_rows)


def no_neurons_message(n_read: int, skips, neuron_filter: dict | None) -> str:
    """Why a dataset has no neurons left, from its skip records (most frequent reasons)."""
    from collections import Counter

    units = [r for r in skips.to_pylist() if r["what"] == "unit"]
    top = "; ".join(f"{n} x {reason}" for reason, n in Counter(r["reason"] for r in units).most_common(5))
    if n_read and neuron_filter:
        return (f"no neurons left: the neuron_filter {neuron_filter} removed all {n_read} neurons the readers kept "
                f"({top}). Check the filter's columns and values against tables/skipped.parquet")
    return (f"no neurons left: the readers kept no unit ({len(units)} unit skip records: {top or 'none'}). "
            "See the shards' skipped.parquet under interim/")


def quality(binned: list, neurons_path, out, out_by_stim) -> None:
    from strflow.quality import quality_rows, tables
    from strflow.store.tables import write_parquet
    from strflow.store.blocks import read_blocks

    neurons = pq.read_table(neurons_path, columns=["cell_id", "shard"]).to_pylist()
    rows, pairs = [], []
    for path in binned:  # one shard in memory at a time
        blocks, _ = read_blocks(path)
        shard = Path(path).stem
        cells = [n["cell_id"] for n in neurons if n["shard"] == shard]
        r, p = quality_rows(blocks, cells)
        rows += r
        pairs += p
    per_neuron, per_pair = tables(rows, pairs)
    write_parquet(per_neuron, out)
    write_parquet(per_pair, out_by_stim)
    ok = np.isfinite(per_neuron.column("noise_ratio").to_numpy(zero_copy_only=False))
    log.info("quality: %d neurons, %d with a finite noise ratio", per_neuron.num_rows, int(ok.sum()))


def _ground_truth_strfs(paths: list) -> dict:
    import h5py

    out = {}
    for path in paths:
        with h5py.File(path, "r") as f:
            # the generator's band std: gt_corr compares STRFs in raw-spectrogram units
            std = f["standardisation/std"][()] if "standardisation/std" in f else None
            for g in f["units"].values():
                if "strf" in g:
                    out[str(g.attrs["cell_id"])] = {"strf": g["strf"][()], "std": std}
    return out


def strf_fit_chunk(dataset_dir, fmt: str, settings: dict, chunk: int, ground_truth: list, out_h5, out_table) -> None:
    """Fit the linear and LN STRFs of one chunk of the dataset's neurons."""
    import pyarrow as pa

    from strflow.dataset import NeuralDataset
    from strflow.models import STRFSettings, fit_cells, make_split
    from strflow.store.fits import write_chunk_fits
    from strflow.store.tables import write_parquet

    st = STRFSettings.from_config(settings)
    ds = NeuralDataset(dataset_dir)
    cells = [int(n) for n in np.array_split(np.arange(ds.N_neurons), st.n_chunks)[chunk]]
    split = make_split(ds.stim_meta, fmt, st)
    log.info("chunk %d/%d: %d neurons; %d training and %d test stimuli", chunk, st.n_chunks, len(cells),
             sum(v == "train" for v in split.values()), sum(v == "test" for v in split.values()))
    fit = fit_cells(ds, cells, split, st, _ground_truth_strfs(ground_truth))
    write_chunk_fits(out_h5, fit.cell_ids, split, {"linear": fit.linear, "ln": fit.ln}, ds.freqs_hz, ds.dt, st.as_dict())
    write_parquet(pa.Table.from_pylist(fit.rows), out_table)


def strf_gather(chunks_h5: list, chunk_tables: list, quality_path, out_h5, out_table) -> None:
    """Merge chunk fits into fits.h5 and metrics.parquet (adding each neuron's noise ratio)."""
    import pyarrow as pa

    from strflow.store.fits import merge_fits
    from strflow.store.tables import read_tables, write_parquet

    merge_fits(chunks_h5, out_h5)
    table = pa.concat_tables(read_tables(chunk_tables))
    nr = dict(zip(*(pq.read_table(quality_path, columns=["cell_id", "noise_ratio"]).to_pydict().values())))
    table = table.append_column("noise_ratio", pa.array([nr.get(c, float("nan")) for c in table.column("cell_id").to_pylist()], pa.float64()))
    write_parquet(table, out_table)
    for model in ("linear", "ln"):
        cc = np.array([r["ccnorm"] for r in table.to_pylist() if r["model"] == model], dtype=float)
        log.info("%s: CCnorm mean %.3f median %.3f over %d neurons with a value (of %d)", model,
                 np.nanmean(cc), np.nanmedian(cc), int(np.isfinite(cc).sum()), cc.size)


def download_archive(url_path: str, dest, sha_file, download: dict) -> None:
    """Fetch one archive (credentials from the environment only) and record its sha256.

    Reuse is Snakemake's: the rule does not rerun while the archive exists; its recorded
    sha256 is verified before every extraction (:func:`verify_recorded`).  Snakemake
    removes a job's outputs before running it, so a (re)fetch always starts clean;
    toggling ``download.force`` changes the rule's params and so refetches."""
    from strflow.download import fetch, sha256_file

    dest, sha_file = Path(dest), Path(sha_file)
    if download.get("protocol") == "osf":
        fetch(url_path, dest, protocol="osf", base_url=download.get("osf_base_url"), progress=True)
    else:
        fetch(url_path, dest, protocol=download["protocol"], base_url=download.get("base_url"),
              download_base=download.get("download_base"), progress=True)
    digest = sha256_file(dest)
    sha_file.write_text(f"{digest}  {dest.name}\n")
    log.info("%s: %d bytes, sha256 %s", dest.name, dest.stat().st_size, digest)


def verify_recorded(archive, sha_file=None) -> None:
    """Raise naming the file when an archive no longer matches the sha256 recorded at download."""
    from strflow.download import DownloadError, sha256_file

    archive = Path(archive)
    recorded = Path(sha_file or f"{archive}.sha256").read_text().split()[0]
    if sha256_file(archive) != recorded:
        raise DownloadError(
            f"{archive}: sha256 does not match the value recorded at download; set download.force: true to refetch"
        )


def extract_archive(archive, sha_file, dest, strip_components: int = 1) -> None:
    """Verify the archive against its recorded sha256, then extract it safely and atomically."""
    from strflow.download import safe_extract

    archive, dest = Path(archive), Path(dest)
    verify_recorded(archive, sha_file)
    safe_extract(archive, dest, strip_components=strip_components)
    log.info("extracted %s into %s", archive.name, dest)


OSF_FILES = {"MetadataSHEnCneurons.mat": "gdwyd", "spikesandwav.zip": "5nxga", "ReadMe.rtf": "f3rtm"}


def assemble_osf_raw(downloads: dict, out) -> None:
    """NS1 raw folder from the OSF files: the zip (which holds ``spikesandwav/``) safely
    extracted, the metadata and readme beside it; built in a temporary folder and renamed."""
    import shutil

    from strflow.download import safe_extract
    from strflow.store.atomic import atomic_path

    for path in downloads.values():
        verify_recorded(path)
    with atomic_path(out, suffix=".assembling") as tmp:
        safe_extract(Path(downloads["spikesandwav.zip"]), tmp)
        for name in ("MetadataSHEnCneurons.mat", "ReadMe.rtf"):
            shutil.copyfile(downloads[name], tmp / name)
    log.info("NS1 release assembled in %s", out)


CRCNS_RELEASE_FILES = {
    "aa1": {"crcns-aa1.zip": 0},  # name -> strip_components (a single wrapping folder is dropped too)
    "aa2": {"crcns-aa2-docs.tar.gz": 2, "crcns-aa2-all_cells.tar.gz": 2, "crcns-aa2-all_stims.tar.gz": 2},
}


def assemble_release(fmt: str, archives: dict, out) -> None:
    """Raw folder of a CRCNS text release: every archive verified, safely extracted and
    merged in a temporary folder (AA2's three tarballs wrap ``crcns/aa2/``; a single
    wrapping folder of the AA1 zip is dropped), then renamed into place."""
    from strflow.download import safe_extract
    from strflow.store.atomic import atomic_path

    with atomic_path(out, suffix=".assembling") as tmp:
        tmp.mkdir(parents=True)
        for name, strip in CRCNS_RELEASE_FILES[fmt].items():
            path = Path(archives[name])
            verify_recorded(path)
            safe_extract(path, tmp, strip_components=strip)
        entries = list(tmp.iterdir())
        if len(entries) == 1 and entries[0].is_dir():
            inner = entries[0]
            for child in list(inner.iterdir()):
                child.rename(tmp / child.name)
            inner.rmdir()
    log.info("%s release assembled in %s", fmt.upper(), out)
