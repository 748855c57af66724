"""Dataset settings: per-dataset processing overrides and the pre-stimulus window."""

import copy

import pytest
import yaml

from strflow.config import dataset_settings, pre_stim_bins
from tests.helpers import REPO


CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())


def test_pre_stimulus_window_is_off_by_default_and_whole_bins():
    assert dataset_settings(CONFIG, "demo").pre_stim_bins == 0
    cfg = copy.deepcopy(CONFIG)
    cfg["datasets"]["demo"]["processing"] = {"pre_stim_ms": 100, "dt_ms": 2}
    s = dataset_settings(cfg, "demo")
    assert s.pre_stim_bins == 50 and s.dt_ms == 2 and s.processing["smoothing"] == CONFIG["processing"]["smoothing"]
    assert pre_stim_bins(0.3, 0.1) == 3  # float noise is not a fraction of a bin
    cfg["datasets"]["demo"]["processing"] = {"pre_stim_ms": 12}  # dt 5
    with pytest.raises(ValueError, match=r"'demo'.*pre_stim_ms \(12\).*whole.*dt_ms \(5 ms\)"):
        dataset_settings(cfg, "demo")
    with pytest.raises(ValueError):
        pre_stim_bins(-5, 5)


@pytest.mark.parametrize("where", ["models", "zoo", "protocol"])
def test_a_misspelled_training_setting_is_refused_wherever_it_is_written(tmp_path, where):
    import jsonschema

    from strflow.config import load_config

    shipped = load_config(REPO / "config.yaml")  # valid as shipped
    cfg = copy.deepcopy(shipped)
    bad = {"epocs": 10}
    if where == "models":
        cfg["models"]["train"] = bad
    elif where == "zoo":
        cfg["models"]["zoo"]["nrf"]["train"] = bad
    else:
        cfg["datasets"]["ns1"]["models"]["protocols"]["statenet"]["train"] = bad
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(jsonschema.ValidationError, match="epocs"):
        load_config(tmp_path / "c.yaml")
