"""Pooling datasets by neuron metadata: AA1 + AA2 + AA4 (demo) as one zebra-finch
population through `strflow.concat_datasets`, checked pair by pair against the
datasets it was built from."""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import strflow
from strflow.dataset import neural_collate
from tests.helpers import REPO
from tests.helpers.aa1_aa2 import C1, pair


pytestmark = pytest.mark.workflow


@pytest.fixture
def pooled(aa1_raw, aa2_raw, tmp_path):
    # AA2 gets one cell that heard AA1's first conspecific song (the same wav, the same md5)
    shutil.copy(aa1_raw / "all_stims/conspecific" / f"{C1}.wav", aa2_raw / "all_stims" / f"{C1}.wav")
    pair(aa2_raw / "all_cells/pool_1/conspecific", 1, f"{C1}.wav\n", "5 15 \n25\n")
    with (aa2_raw / "cell_regions.csv").open("a") as fh:
        fh.write("pool_1,mld\n")
    skip = {"reading": {"on_missing_wav": "skip"}}
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"datasets": {
        "a1": dict(format="aa1", source="local", path=str(aa1_raw), processing=skip),
        "a2": dict(format="aa2", source="local", path=str(aa2_raw), processing=skip)}}))
    work = tmp_path / "wf"
    targets = [f"results/{d}/tables/quality.parquet" for d in ("a1", "a2", "demo")]
    targets += [f"results/{d}/responses/{s}.h5" for d, s in (("a1", "all"), ("a2", "all"))]
    targets += ["results/demo/qc.pdf", "results/a1/spectrograms.h5", "results/a2/spectrograms.h5"]
    out = subprocess.run([str(Path(sys.executable).parent / "snakemake"), *targets, "-s", str(REPO / "Snakefile"),
                          "-d", str(work), "--cores", "2", "--configfile", str(cfg)],
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    parts = {name: strflow.open_dataset(work / "results" / d) for name, d in
             (("aa1", "a1"), ("aa2", "a2"), ("aa4", "demo"))}
    return parts, strflow.concat_datasets(parts)


def check_pooled_population_matches_its_parts(parts, zf):
    assert zf.N_neurons == sum(p.N_neurons for p in parts.values())
    all_ids = [m["stim_id"] for p in parts.values() for m in p.stim_meta]
    assert len(zf.stims) == len(set(all_ids)) == len(all_ids) - 1  # C1 is shared by AA1 and AA2
    shared = [m for m in zf.stim_meta if m["stim_id"] == C1]
    assert len(shared) == 1 and shared[0]["datasets"] == ["aa1", "aa2"]
    sid = [m["stim_id"] for m in zf.stim_meta]
    assert [m["dataset"] for m in zf.nrn_meta] == [n for n, p in parts.items() for _ in range(p.N_neurons)]
    masks = zf.nrn_masks
    n0 = 0
    for name, p in parts.items():
        local = {m["stim_id"]: s for s, m in enumerate(p.stim_meta)}
        for n in range(p.N_neurons):
            assert zf.nrn_meta[n0 + n]["cell_id"] == p.nrn_meta[n]["cell_id"]
            for s, stim in enumerate(sid):
                got = zf.responses[s][n0 + n]
                if stim not in local:  # a stimulus this neuron's dataset never played
                    assert got.shape == (1, 1) and torch.isnan(got).all() and not masks[s, n0 + n]
                    continue
                assert bool(masks[s, n0 + n]) == bool(p.nrn_masks[local[stim], n])
                torch.testing.assert_close(got, p.responses[local[stim]][n], equal_nan=True, rtol=0, atol=0)
        n0 += p.N_neurons
    # the pool_1 cell of AA2 and the AA1 cells heard C1, nobody from the demo did
    heard_c1 = {zf.nrn_meta[n]["dataset"] for n in torch.nonzero(masks[sid.index(C1)]).flatten().tolist()}
    assert heard_c1 == {"aa1", "aa2"}
    n = next(i for i, m in enumerate(zf.nrn_meta) if m["dataset"] == "aa2" and m["cell_id"] == "pool_1")
    trains = zf.spike_times(sid.index(C1), n)
    np.testing.assert_allclose(np.concatenate(trains), [0.005, 0.015, 0.025])


def check_selection_by_species_and_area_across_datasets(parts, zf):
    assert zf.select_pop_by_nrn_attr("species", "zebra finch") == list(range(zf.N_neurons))
    # MLd: AA1's MLd_cells folder, AA2's cells labelled mld in cell_regions.csv
    expected = [n for n, m in enumerate(zf.nrn_meta)
                if (m["dataset"] == "aa1" and m["file"].startswith("MLd_cells/"))
                or (m["dataset"] == "aa2" and m["cell_id"] in ("obla1305_8", "pool_1"))]
    assert len(expected) >= 3
    assert zf.select_pop_by_nrn_predicate(lambda m: m.get("area") in ("MLd", "mld")) == expected
    heard = zf.nrn_masks[:, expected].any(dim=1)
    assert len(zf) == int(heard.sum()) > 0
    stims, responses, valid, metas = neural_collate([zf[i] for i in range(len(zf))])
    assert responses.shape[:2] == (len(zf), len(expected)) and valid.any()
    assert {m["stim_id"] for m in metas} == {zf.stim_meta[s]["stim_id"] for s in torch.nonzero(heard).flatten().tolist()}
    zf.reset_pop_selection()
    # the AA4 demo neurons have no area: a predicate on it selects none of them
    assert not [n for n in zf.select_pop_by_nrn_predicate(lambda m: m["area"] == "L") if zf.nrn_meta[n]["dataset"] == "aa4"]


def check_pooling_refuses_different_grids(parts):
    other = copy.copy(parts["aa2"])
    other.dt = 1.0
    with pytest.raises(ValueError, match=r"'aa1' and 'aa2' differ in bin width"):
        strflow.concat_datasets({"aa1": parts["aa1"], "aa2": other})
    with pytest.raises(ValueError, match="no datasets"):
        strflow.concat_datasets({})


def test_pooling_aa1_aa2_aa4(pooled):
    """One workflow run (three datasets) serves the three checks."""
    parts, zf = pooled
    check_pooled_population_matches_its_parts(parts, zf)
    check_selection_by_species_and_area_across_datasets(parts, zf)
    check_pooling_refuses_different_grids(parts)
