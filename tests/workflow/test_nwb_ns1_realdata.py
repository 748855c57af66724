"""NWB out and back in on the real NS1 files (``$STRFLOW_REAL_DATA/ns1_harper2016``):
the 73 published units, their 20 natural sounds and 12 DRCs (no waveform in the
release: presentations and spikes only).  Skipped without the variable."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from tests.helpers import REPO, real_data_dir
from tests.helpers.nwb import assert_same_dataset, inspector_problems, round_trip

pytestmark = [pytest.mark.realdata, pytest.mark.workflow]


@pytest.fixture(scope="module")
def ns1(tmp_path_factory) -> tuple[Path, Path]:
    root = real_data_dir()
    if root is None:
        pytest.skip("STRFLOW_REAL_DATA not set")
    path = (root / "ns1_harper2016").resolve()
    assert (path / "MetadataSHEnCneurons.mat").is_file(), f"STRFLOW_REAL_DATA is set but {path} lacks the NS1 files"
    shipped = yaml.safe_load((REPO / "config.yaml").read_text())["datasets"]["ns1"]
    entry = dict(shipped, source="local", path=str(path))  # the shipped entry: 73 published units
    return round_trip(tmp_path_factory.mktemp("nwbns1"), "ns1n", ["all"], datasets={"ns1n": entry})


def test_ns1_nwbinspector_clean(ns1):
    assert inspector_problems(ns1[0] / "nwb") == []


def test_ns1_round_trip_equals_the_original(ns1):
    orig, back = ns1
    neurons = pq.read_table(orig / "tables" / "neurons.parquet")
    files = sorted((orig / "nwb").rglob("*.nwb"))
    assert neurons.num_rows == 73
    # one file per experiment folder (NS1's animal_id), no session split
    assert [f.name for f in files] == sorted(f"sub-{a.replace('_', '-')}.nwb" for a in set(neurons.column("animal_id").to_pylist()))
    stims = pq.read_table(back / "tables" / "stims.parquet").to_pylist()
    assert sum(s["wav"] is None for s in stims) == 12  # the DRCs: trials kept, no waveform
    assert_same_dataset(orig, back)
