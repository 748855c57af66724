"""Neuron filters: what the config and the API refuse, and the shipped entries."""

from __future__ import annotations

import pyarrow as pa
import pytest
import yaml

from strflow.config import dataset_settings
from strflow.io.readers import neuron_columns
from strflow.selection import FilterError, check, validate
from tests.helpers import REPO


NS1 = neuron_columns("ns1")


def shipped() -> dict:
    return yaml.safe_load((REPO / "config.yaml").read_text())


def test_every_shipped_dataset_entry_resolves():
    config = shipped()
    for name in config["datasets"]:
        assert dataset_settings(config, name).name == name


def test_unquoted_yes_is_refused_with_the_yaml_hint():
    text = (REPO / "config.yaml").read_text().replace('{in: ["Yes", "Maybe"]}', "{in: [Yes, Maybe]}")
    config = yaml.safe_load(text)
    assert config["datasets"]["ns1"]["neuron_filter"]["single_t"]["in"] == [True, "Maybe"]  # the trap itself
    with pytest.raises(FilterError, match=r'datasets.ns1.neuron_filter.single_t: value True is a boolean but column '
                                          r"'single_t' holds strings.*quotes, e.g. \"Yes\""):
        dataset_settings(config, "ns1")


@pytest.mark.parametrize("spec, error, message", [
    ({"sorttype": {"in": ["single"]}}, KeyError, r"unknown neuron column 'sorttype'; valid columns: .*single_t.*species"),
    ({"depth_um": {"minn": 0}}, FilterError, r"unknown operator\(s\) \['minn'\]; valid operators: in, min, max"),
    ({"depth_um": {}}, FilterError, r"expected a condition"),
    ({"depth_um": 5}, FilterError, r"expected a condition"),
    ({"single_t": {"min": 1}}, FilterError, r"'min' compares numbers but column 'single_t' holds strings"),
    ({"depth_um": {"min": "0"}}, FilterError, r"'min' takes a number, got '0'"),
    ({"depth_um": {"in": ["450"]}}, FilterError, r"value '450' is a string but column 'depth_um' holds numbers"),
    ({"single_t": {"in": "Yes"}}, FilterError, r"'in' takes a list"),
    ({"single_t": {"in": []}}, FilterError, r"empty list"),
])
def test_malformed_filters_name_the_problem_and_the_choices(spec, error, message):
    with pytest.raises(error, match=message):
        validate(spec, NS1, where="neuron_filter")


def test_well_formed_filters_pass_and_select():
    spec = {"single_t": {"in": ["Yes"]}, "depth_um": {"min": 0, "max": 1000}, "electrode_number": {"in": [3, 4]}}
    validate(spec, NS1)
    assert check(dict(single_t="Yes", depth_um=10.0, electrode_number=3), spec) == ""
    assert "electrode_number" in check(dict(single_t="Yes", depth_um=10.0, electrode_number=5), spec)
    assert "depth_um missing" in check(dict(single_t="Yes", depth_um=float("nan"), electrode_number=3), spec)


def test_config_time_errors_for_typos(tmp_path):
    config = shipped()
    config["datasets"]["demo"]["neuron_filter"] = {"sortType": {"in": ["single"]}}
    with pytest.raises(KeyError, match=r"datasets.demo.neuron_filter.sortType: unknown neuron column.*sort_type"):
        dataset_settings(config, "demo")


def test_dataset_left_without_neurons_stops_with_the_reason(tmp_path):
    from strflow.store.tables import SKIPPED_SCHEMA, write_parquet
    from strflow.steps.tables import gather_tables
    from strflow.store.tables import COVERAGE_SCHEMA

    neurons = pa.Table.from_pylist([dict(cell_id="a/u1", animal_id="a", shard="a", file="a/u1.h5", sort_type="multi")])
    write_parquet(neurons, tmp_path / "n.parquet")
    write_parquet(pa.Table.from_pylist([], schema=SKIPPED_SCHEMA), tmp_path / "s.parquet")
    write_parquet(pa.Table.from_pylist([], schema=COVERAGE_SCHEMA), tmp_path / "c.parquet")
    out = tmp_path / "results" / "mine" / "tables"
    outputs = {k: out / f"{k}.parquet" for k in ("neurons", "skipped", "coverage")}
    with pytest.raises(ValueError, match=r"results/mine: no neurons left: the neuron_filter .* removed all 1 neurons"):
        gather_tables([tmp_path / "n.parquet"], [tmp_path / "s.parquet"], [tmp_path / "c.parquet"], outputs,
                      {"sort_type": {"in": ["single"]}})
    assert not out.exists() or not any(out.iterdir())  # nothing partial left behind
    empty = pa.Table.from_pylist([], schema=neurons.schema)
    write_parquet(empty, tmp_path / "n.parquet")
    skips = pa.Table.from_pylist([dict(what="unit", file="a/u1.h5", reason="sort type noise")], schema=SKIPPED_SCHEMA)
    write_parquet(skips, tmp_path / "s.parquet")
    with pytest.raises(ValueError, match=r"the readers kept no unit \(1 unit skip records: 1 x sort type noise\)"):
        gather_tables([tmp_path / "n.parquet"], [tmp_path / "s.parquet"], [tmp_path / "c.parquet"], outputs)
