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
