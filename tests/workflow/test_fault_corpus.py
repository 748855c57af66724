"""The fault corpus, end to end: small broken copies of demo-layout raw files (the
synthetic generator's AA4 layout, two birds) run through the real workflow as a
``source: local`` dataset.  For each fault: a clear error naming the file, or with the
skip options a recorded skip; and after the fix a plain rerun (no ``--forcerun``)
succeeds, reruns exactly the shard whose files changed, and gives the tables of an
intact copy.  Config typos stop before any job with the valid choices.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from strflow.processing.spectrogram import SpectrogramSettings
from strflow.synthetic import SyntheticSettings, generate_animal
from tests.helpers import REPO, job_counts, run_snakemake


pytestmark = pytest.mark.workflow
BIRDS = ("AaaBbb0001M", "CccDdd0002F")
SPEC = SyntheticSettings(seed=3, animals=BIRDS, n_stims=6, stims_per_animal=5, units_per_animal=6, n_trials=3)
TARGETS = ("results/fc/tables/neurons.parquet", "results/fc/tables/coverage.parquet", "results/fc/spectrograms.h5")


def smk(workdir: Path, *args: str, check: bool = True):
    return run_snakemake(workdir, *args, configfiles=[workdir / "fc.yaml"], check=check)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fc_raw")
    params = SpectrogramSettings.from_config(yaml.safe_load((REPO / "config.yaml").read_text())["processing"]["spectrogram"])
    for bird in BIRDS:
        generate_animal(root / "raw", root / f"truth_{bird}.h5", bird, SPEC, 5.0, params)
    return root / "raw"


def workdir(tmp: Path, pristine: Path, entry: dict | None = None, **reading) -> Path:
    """A copy of the raw files and a config with the local dataset ``fc``."""
    shutil.copytree(pristine, tmp / "raw")
    ds = dict(format="aa4", source="local", path=str(tmp / "raw"), animals=list(BIRDS))
    if reading:
        ds["processing"] = {"reading": reading}
    ds.update(entry or {})
    (tmp / "fc.yaml").write_text(yaml.safe_dump({"targets": [], "datasets": {"fc": ds}}))
    return tmp


@pytest.fixture(scope="module")
def reference(tmp_path_factory, pristine) -> dict:
    work = workdir(tmp_path_factory.mktemp("fc_ref"), pristine)
    smk(work, *TARGETS)
    return tables(work)


def tables(work: Path) -> dict:
    out = {name: pq.read_table(work / "results/fc/tables" / f"{name}.parquet").to_pylist() for name in ("neurons", "coverage")}
    with h5py.File(work / "results/fc/spectrograms.h5", "r") as f:
        out["spectrograms"] = sorted(f["spectrograms"])
    return out


def unit_files(work: Path, bird: str) -> list[Path]:
    return sorted((work / "raw" / bird).glob("*.h5"))


def kept_unit(work: Path, bird: str, reference: dict) -> Path:
    """A unit file of `bird` whose unit is kept in the reference tables."""
    kept = {r["file"] for r in reference["neurons"]}
    return next(p for p in unit_files(work, bird) if f"{bird}/{p.name}" in kept)


def test_skips_are_recorded_and_fixes_rerun_exactly_their_shard(tmp_path, pristine, reference):
    work = workdir(tmp_path, pristine, on_unreadable="skip", on_missing_wav="skip")
    bird1, bird2 = BIRDS
    # bird 2: one unit file corrupt (truncated); bird 1: a wav missing and two unit files
    # not there yet (a partial download)
    bad = kept_unit(work, bird2, reference)
    intact = bad.read_bytes()
    bad.write_bytes(intact[: len(intact) // 3])
    wav = sorted((work / "raw" / bird1 / "wavfiles").glob("*.wav"))[0]
    wav_bytes = wav.read_bytes()
    wav.unlink()
    later = tmp_path / "later"
    later.mkdir()
    moved = [kept_unit(work, bird1, reference)]
    moved += [p for p in unit_files(work, bird1) if p not in moved][:1]
    for p in moved:
        shutil.move(p, later / p.name)

    smk(work, *TARGETS)
    skipped = pq.read_table(work / "results/fc/tables/skipped.parquet").to_pylist()
    unit = [r for r in skipped if r["file"] == f"{bird2}/{bad.name}"]
    assert len(unit) == 1 and unit[0]["what"] == "unit" and "cannot open as HDF5" in unit[0]["reason"]
    assert any(r["what"] == "stim" and r["file"] == f"{bird1}/wavfiles/{wav.name}" for r in skipped)
    cells = {r["cell_id"] for r in pq.read_table(work / "results/fc/tables/neurons.parquet").to_pylist()}
    assert f"{bird2}/{bad.stem}" not in cells and f"{bird1}/{moved[0].stem}" not in cells

    # fix bird 2 only: its read reruns, bird 1's does not
    bird1_trials = work / f"results/fc/interim/{bird1}/trials.parquet"
    stamp = bird1_trials.stat().st_mtime_ns
    bad.write_bytes(intact)
    out = smk(work, *TARGETS)
    assert job_counts(out.stdout + out.stderr).get("read_shard") == 1
    assert bird1_trials.stat().st_mtime_ns == stamp
    cells = {r["cell_id"] for r in pq.read_table(work / "results/fc/tables/neurons.parquet").to_pylist()}
    assert f"{bird2}/{bad.stem}" in cells

    # restore the wav and finish the download of bird 1: tables equal an intact copy's
    wav.write_bytes(wav_bytes)
    for p in moved:
        shutil.move(later / p.name, p)
    out = smk(work, *TARGETS)
    assert job_counts(out.stdout + out.stderr).get("read_shard") == 1
    assert tables(work) == reference
    assert "Nothing to be done" in (o := smk(work, *TARGETS)).stdout + o.stderr


def test_bad_value_is_an_error_naming_file_stimulus_trial_then_fixed(tmp_path, pristine, reference):
    work = workdir(tmp_path, pristine)
    path = kept_unit(work, BIRDS[0], reference)
    intact = path.read_bytes()
    with h5py.File(path, "a") as f:
        group = next(g for name, g in f.items() if name not in ("class_info", "extra_info"))
        stim = next(iter(group.values()))
        trial = stim[sorted(stim, key=int)[0]]
        where = f"{trial.name}"
        del trial["spike_times"]
        trial.create_dataset("spike_times", data=np.array([0.1, np.nan]))
    out = smk(work, *TARGETS, check=False)
    assert out.returncode != 0
    log = out.stdout + out.stderr
    assert f"{path}: unreadable AA4 unit file" in log and f"{BIRDS[0]}/{path.name}:{where}: 1 non-finite" in log
    assert not (work / "results/fc/tables/neurons.parquet").exists()  # nothing partial
    path.write_bytes(intact)
    smk(work, *TARGETS)
    assert tables(work) == reference


@pytest.mark.parametrize("entry, message", [
    ({"neuron_filter": {"sortType": {"in": ["single"]}}},
     "datasets.fc.neuron_filter.sortType: unknown neuron column 'sortType'; valid columns: animal_id, cell_id"),
    ({"neuron_filter": {"sort_type": {"in": ["single", True]}}}, "value True is a boolean but column 'sort_type' holds strings"),
    ({"neuron_filter": {"ldepth": {"above": 0}}}, "unknown operator(s) ['above']; valid operators: in, min, max"),
    ({"processing": {"dt_ms": 10}}, "window_ms 21 at dt_ms 10 gives a 3-tap Hanning kernel"),
])
def test_config_typos_stop_before_any_job(tmp_path, pristine, entry, message):
    work = workdir(tmp_path, pristine, entry)
    out = smk(work, "-n", *TARGETS, check=False)
    assert out.returncode != 0 and message in out.stdout + out.stderr, (out.stdout + out.stderr)[-3000:]


def test_misspelled_dataset_lists_the_configured_ones(tmp_path, pristine):
    work = workdir(tmp_path, pristine)
    out = smk(work, "-n", "results/fcc/qc.pdf", check=False)
    text = out.stdout + out.stderr
    assert out.returncode != 0
    shipped = list(yaml.safe_load((REPO / "config.yaml").read_text())["datasets"])  # the test's fc comes first
    assert f"'fcc' is not a configured dataset. Configured datasets: {', '.join(['fc', *shipped])}." in text


def test_filter_that_keeps_no_neuron_stops_with_the_reason(tmp_path, pristine):
    work = workdir(tmp_path, pristine, {"neuron_filter": {"sort_type": {"in": ["singel"]}}})
    out = smk(work, TARGETS[0], check=False)
    text = out.stdout + out.stderr
    assert out.returncode != 0 and "no neurons left: the neuron_filter" in text and "not in ['singel']" in text
    assert not (work / TARGETS[0]).exists()
