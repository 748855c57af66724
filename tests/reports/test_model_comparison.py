"""The model-comparison table (strflow.reports.model_comparison) against a hand-built metrics
fixture, and the validation of training protocols (strflow.nn.protocols): malformed
splits are refused with errors naming the dataset and the protocol."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from strflow.reports.model_comparison import (comparison_table, resolve_settings, ridge_rows, training_seconds,
                                              write_table)
from strflow.nn.protocols import protocol_roles, resolve_protocols
from strflow.nn.steps import model_settings, training_settings

NAN = math.nan


def _rows(protocol, model, seed, values, epochs):
    return [dict(protocol=protocol, model=model, arch=model, seed=seed, cell_id=c, ccnorm=n, ccabs=a, epochs=epochs)
            for c, (n, a) in values.items()]


@pytest.fixture
def metrics():
    rows = (_rows("A", "m1", 0, {"a": (0.5, 0.4), "b": (0.7, 0.6), "c": (NAN, 0.1), "d": (NAN, 0.1)}, 5)
            + _rows("A", "m1", 1, {"a": (0.7, 0.2), "b": (0.9, 0.4), "c": (NAN, 0.3), "d": (0.4, 0.3)}, 7)
            + _rows("B", "m1", 0, {"a": (0.25, 0.2)}, 3))
    return pd.DataFrame(rows)


def test_table_averages_over_seeds_then_neurons(metrics):
    t = comparison_table(metrics, {("A", "m1", 0): 10.0, ("A", "m1", 1): 20.0}).set_index("protocol")
    a = t.loc["A"]
    # per neuron over seeds (NaN seeds skipped): a 0.6, b 0.8, c none, d 0.4
    assert a.model == "m1" and a.n_neurons == 4 and a.n_valid == 3 and a.n_seeds == 2
    assert a.ccnorm_mean == pytest.approx(0.6) and a.ccnorm_median == pytest.approx(0.6)
    assert a.ccnorm_sem == pytest.approx(0.2 / np.sqrt(3))  # sd of (0.6, 0.8, 0.4) is 0.2
    # CC per neuron: 0.3, 0.5, 0.2, 0.2
    assert a.cc_mean == pytest.approx(0.3) and a.cc_median == pytest.approx(0.25)
    assert a.cc_sem == pytest.approx(np.sqrt(0.06 / 3) / 2)
    assert a.train_seconds == pytest.approx(15.0) and a.epochs_mean == pytest.approx(6.0)
    b = t.loc["B"]
    assert b.n_neurons == 1 and b.n_seeds == 1 and b.ccnorm_mean == pytest.approx(0.25)
    assert math.isnan(b.ccnorm_sem) and math.isnan(b.train_seconds)  # one neuron; no training log given


def test_table_parquet_records_the_protocols(metrics, tmp_path):
    record = {"A": {"dataset": "x", "split": {"test": [3]}, "neuron_set": ["a", "b"]}}
    write_table(comparison_table(metrics), record, tmp_path / "t.parquet")
    t = pq.read_table(tmp_path / "t.parquet")
    assert json.loads(t.schema.metadata[b"strflow.protocols"]) == record
    assert t.num_rows == 2 and t.column_names[:2] == ["model", "protocol"]


def test_training_seconds_sums_the_epochs(tmp_path):
    p = tmp_path / "log.csv"
    p.write_text("epoch,train_loss,val_loss,val_ccnorm,seconds\n1,1,1,0.1,1.5\n2,1,1,0.2,2.25\n")
    assert training_seconds(p) == pytest.approx(3.75)


META = [dict(stim_id=f"s{i:02d}", type="song" if i % 2 else "call") for i in range(10)]


def _one(entry, name="p"):
    return resolve_protocols("dsx", {name: entry})[name]


def test_explicit_split_by_index_and_id():
    p = _one({"split": {"train": [0, 1, 2, "s03"], "val": [4], "test": [5, "s06"]}})
    roles = protocol_roles(META, p, "dsx")
    assert roles == {"s00": "train", "s01": "train", "s02": "train", "s03": "train", "s04": "val", "s05": "test",
                     "s06": "test", "s07": "unused", "s08": "unused", "s09": "unused"}
    assert p["dataset"] == "dsx" and p["neuron_filter"] == {}


def test_train_defaults_to_the_rest_and_val_is_drawn_from_train():
    roles = protocol_roles(META, _one({"split": {"test": [0, 1]}}), "dsx", val_fraction=0.25)
    assert {s for s, r in roles.items() if r == "test"} == {"s00", "s01"}
    val = {s for s, r in roles.items() if r == "val"}
    # 0.25 of each type's 4 training stimuli: one song, one call, none of them a test stimulus
    assert len(val) == 2 and not val & {"s00", "s01"}
    assert {META[int(s[1:])]["type"] for s in val} == {"song", "call"}
    assert sum(r == "train" for r in roles.values()) == 6


@pytest.mark.parametrize("split, message", [
    ({"train": [0, 1], "test": [1]}, r"stimulus 1 is in split.train and split.test"),
    ({"train": [0], "val": [], "test": [2]}, r"split.val must be a non-empty list"),
    ({"train": [0], "val": [1]}, r"split needs a test list"),
    ({"train": [0], "tests": [1], "test": [2]}, r"split has unknown role\(s\) \['tests'\]"),
    ({"train": [-1], "test": [2]}, r"split.train: -1 is neither a stimulus index"),
])
def test_malformed_split_is_refused_when_the_config_is_read(split, message):
    with pytest.raises(ValueError, match=r"dataset 'dsx', protocol 'p': " + message):
        _one({"split": split})


@pytest.mark.parametrize("split, message", [
    ({"train": [0, 1], "test": [10]}, r"split.test: stimulus index 10 is not in dataset 'dsx', which has 10 stimuli"),
    ({"train": [0, 1], "test": ["nat99"]}, r"split.test: unknown stimulus 'nat99'"),
    ({"train": [0, "s01"], "test": [1]}, r"stimulus 's01' is in split.train and split.test"),
])
def test_split_against_the_dataset_is_checked(split, message):
    with pytest.raises(ValueError, match=r"dataset 'dsx', protocol 'p': " + message):
        protocol_roles(META, _one({"split": split}), "dsx")


def test_a_split_leaving_no_validation_stimulus_is_refused():
    # one training stimulus per type: nothing to draw validation stimuli from
    with pytest.raises(ValueError, match=r"dataset 'dsx', protocol 'p': the split leaves no val stimulus"):
        protocol_roles(META[:4], _one({"split": {"test": [0, 1]}}), "dsx")


def test_shipped_config_protocols_and_figure(tmp_path):
    from strflow.config import load_config

    from tests.helpers import REPO

    cfg = load_config(REPO / "config.yaml")
    m = model_settings(cfg, "ns1")
    rahman, statenet = m["protocols"]["rahman"], m["protocols"]["statenet"]
    assert rahman["dataset"] == "ns1" and sorted(rahman["split"]["test"]) == [3, 6, 9, 19]
    assert sorted(rahman["split"]["train"] + rahman["split"]["test"]) == list(range(20)) and "val" not in rahman["split"]
    assert statenet["dataset"] == "ns1_all" and not cfg["datasets"]["ns1_all"].get("neuron_filter")
    assert statenet["split"] == {"train": list(range(14)), "val": [14, 15, 16], "test": [17, 18, 19]}
    # the statenet model under the statenet protocol trains as the reference did: its own loop (one clip per
    # step, AdamW lr 1e-3, 80 epochs, patience 15), patience on validation CCnorm, no refit
    sn = training_settings(m["zoo"]["statenet"], m, statenet)
    assert {k: sn[k] for k in ("epochs", "patience", "lr", "weight_decay", "batch_clips", "refit", "val_score")} == {
        "epochs": 80, "patience": 15, "lr": 0.001, "weight_decay": 0.0, "batch_clips": 1, "refit": False,
        "val_score": "ccnorm"}
    # every hidden-layer model of the figure: deepSTRF's output softplus and that loop, under both
    # protocols (under rahman with the refit on training + validation clips); linear and ln: no
    # softplus and the full-batch loop of models.train
    fig_models = cfg["datasets"]["ns1"]["figures"]["model_comparison"]["models"]
    for name in fig_models:
        spec = m["zoo"][name]
        hidden = spec["arch"] not in ("linear", "ln")
        assert spec["options"].get("output", "linear") == ("softplus" if hidden else "linear"), name
        for prot in (rahman, statenet):
            t = training_settings(spec, m, prot)
            assert (t["batch_clips"], t["lr"]) == ((1, 0.001) if hidden else (0, 0.003)), (name, prot["name"])
            assert t["refit"] is (prot is rahman), (name, prot["name"])
    # the AdapTrans StateNet is the shipped StateNet with the front end (its options are copied by hand)
    assert dict(m["zoo"]["statenet_adaptrans"]["options"], adaptrans=False) == m["zoo"]["statenet"]["options"]
    fig = resolve_settings("ns1", cfg["datasets"]["ns1"]["figures"]["model_comparison"], m)
    assert fig["protocols"] == ["rahman", "statenet"] and fig["seeds"] == 3
    # every zoo architecture; the hidden-layer ones with and without the AdapTrans front end
    archs = {(m["zoo"][k]["arch"], m["zoo"][k]["options"]["adaptrans"]) for k in fig["models"]}
    assert archs == {("linear", False), ("ln", False)} | {
        (a, f) for a in ("nrf", "dnet", "cnn2d", "statenet") for f in (False, True)}
    # a protocol error names the dataset and the protocol; unknown figure entries too
    cfg["datasets"]["ns1"]["models"]["protocols"]["statenet"]["split"]["val"] = [13, 14]
    with pytest.raises(ValueError, match=r"dataset 'ns1', protocol 'statenet': stimulus 13 is in split.train and "
                                          r"split.val"):
        model_settings(cfg, "ns1")
    with pytest.raises(ValueError, match=r"dataset 'ns1': figures.model_comparison.protocols \['nope'\]"):
        resolve_settings("ns1", {"protocols": ["nope"]}, m)
    with pytest.raises(ValueError, match=r"figures.model_comparison.models \['mystery'\]"):
        resolve_settings("ns1", {"models": ["mystery"]}, m)


def test_ridge_fits_join_the_protocol_that_is_their_split_and_neurons():
    ridge = pd.DataFrame(dict(cell_id=["a", "b", "a", "b"], model=["linear", "linear", "ln", "ln"],
                              ccnorm=[0.5, 0.7, 0.6, 0.8], ccabs=[0.4, 0.6, 0.5, 0.7]))
    split = {"s1": "train", "s2": "test", "s3": "test"}
    record = {"other": dict(neuron_set=["a", "b"], stims=dict(test=["s3"])),
              "same": dict(neuron_set=["a", "b"], stims=dict(test=["s2", "s3"]))}
    rows, name = ridge_rows(ridge, split, record)
    assert name == "same"
    assert rows.model.tolist() == ["ridge_linear", "ridge_linear", "ridge_ln", "ridge_ln"]
    assert (rows.protocol == "same").all() and (rows.seed == 0).all() and rows.epochs.isna().all()
    t = comparison_table(rows).set_index("model")
    assert t.loc["ridge_ln", "ccnorm_mean"] == pytest.approx(0.7) and t.loc["ridge_linear", "cc_mean"] == pytest.approx(0.5)
    # other neurons (one more cell in the protocol) or other test stimuli: no protocol matches
    record["same"]["neuron_set"] = ["a", "b", "c"]
    rows, name = ridge_rows(ridge, split, record)
    assert name is None and rows.empty
