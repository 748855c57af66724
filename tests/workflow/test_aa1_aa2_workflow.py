"""AA1 and AA2 layouts (the hand-built fixtures aa1_raw/aa2_raw of tests/helpers/aa1_aa2.py) through the whole
chain to qc.pdf with source: local; the coverage table is checked against counts made
here directly from the spike files."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import soundfile as sf
import yaml

import strflow
from tests.helpers import REPO


pytestmark = pytest.mark.workflow


def expected_coverage(root: Path, wav_dir_of, dt=5.0) -> dict:
    """(stim_id, cell folder) -> (trials, spikes in the whole-bin window), straight from the text files."""
    out = {}
    for stim_file in sorted(root.rglob("stim*")):
        spike = stim_file.with_name("spike" + stim_file.name[4:])
        lines = stim_file.read_text().splitlines()
        if not spike.is_file() or not lines or not stim_file.name[4:].isdigit():
            continue
        wav = wav_dir_of(root, stim_file) / lines[0].strip()
        if not wav.is_file():
            continue
        info = sf.info(str(wav))
        window = math.floor(round(info.frames * 1000.0 / info.samplerate / dt, 9)) * dt
        trials = spike.read_text().replace("\r", "").split("\n")
        if trials and trials[-1] == "" and spike.read_text().endswith("\n"):
            trials = trials[:-1]
        n = sum(1 for line in trials for t in line.split() if 0 <= float(t) < window)
        key = (wav.stem, stim_file.parents[1].name)
        out.setdefault(key, []).append((len(trials), n))
    return out


@pytest.mark.parametrize("fmt", ["aa1", "aa2"])
def test_text_formats_through_the_chain(fmt, request, tmp_path):
    raw = request.getfixturevalue(f"{fmt}_raw")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"datasets": {"t": dict(format=fmt, source="local", path=str(raw),
                                                          processing=dict(reading=dict(on_missing_wav="skip")))}}))
    out = subprocess.run([str(Path(sys.executable).parent / "snakemake"), "results/t/qc.pdf", "-s", str(REPO / "Snakefile"),
                          "-d", str(tmp_path), "--cores", "2", "--configfile", str(cfg)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    res = tmp_path / "results" / "t"
    assert (res / "tables" / "quality.parquet").is_file() and len(list((res / "qc").glob("*.png"))) == 5
    ds = strflow.open_dataset(res)
    cov = pq.read_table(res / "tables" / "coverage.parquet").to_pylist()
    folder = {m["cell_id"]: m["file"].rsplit("/", 1)[-1] for m in ds.nrn_meta}
    wav_dir = (lambda root, f: root / "all_stims" / f.parent.name) if fmt == "aa1" else (lambda root, f: root / "all_stims")
    expected = expected_coverage(raw, wav_dir)
    got = {}
    for r in cov:
        got.setdefault((r["stim_id"], folder[r["cell_id"]]), []).append((r["n_trials"], r["n_spikes"]))
    # each (stim, cell folder) pair read by strflow matches the hand count of one of its stim files
    assert got and all(v[0] in expected[k] for k, v in got.items())
    assert int(ds.nrn_masks.sum()) == len(cov)
