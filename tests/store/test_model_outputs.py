"""store.models: the files of one trained encoding model, written and read back."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from strflow.store.models import (LOG_COLUMNS, read_model_config, read_predictions, read_state_dict, read_training_log,
                                  write_model_folder, write_predictions, write_training_log)


def test_model_folder_round_trip(tmp_path):
    state = {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3), "b": torch.tensor([0.5, -1.0])}
    cfg = {"name": "nrf", "n": np.int64(3), "x": np.float32(0.25)}
    write_model_folder(tmp_path / "m", state, cfg, default=lambda o: o.item())
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json", "model.pt"]  # no temporaries left
    assert read_model_config(tmp_path / "m") == {"name": "nrf", "n": 3, "x": 0.25}
    back = read_state_dict(tmp_path / "m")
    assert torch.equal(back["w"], state["w"]) and torch.equal(back["b"], state["b"])
    with pytest.raises(FileNotFoundError, match="no config.json"):
        read_model_config(tmp_path)


def test_training_log_round_trip_and_missing_column(tmp_path):
    rows = [dict(epoch=e, train_loss=1.0 / e, val_loss=2.0 / e, val_ccnorm=0.1 * e, seconds=0.5, extra="ignored")
            for e in (1, 2, 3)]
    path = tmp_path / "training_log.csv"
    write_training_log(rows, path)
    assert path.read_text().splitlines()[0] == ",".join(LOG_COLUMNS)
    back = read_training_log(path)
    assert [r["epoch"] for r in back] == [1, 2, 3]
    assert back[2]["train_loss"] == pytest.approx(1 / 3) and back[1]["val_ccnorm"] == pytest.approx(0.2)
    (tmp_path / "bad.csv").write_text("epoch,seconds\n1,0.5\n")
    with pytest.raises(ValueError, match="bad.csv.*lacks columns.*train_loss"):
        read_training_log(tmp_path / "bad.csv")


def test_predictions_round_trip(tmp_path):
    a = np.arange(10, dtype=np.float64).reshape(2, 5) / 7
    b = -np.ones((2, 3))
    path = tmp_path / "predictions.h5"
    write_predictions(path, ["c1", "c2"], ["s1", "s2", "s3"], ["train", "test", "test"], {"s2": a, "s3": b}, 5.0, "ln",
                      "ln")
    p = read_predictions(path)
    assert p.cell_ids == ["c1", "c2"] and p.split == {"s1": "train", "s2": "test", "s3": "test"}
    assert p.dt_ms == 5.0 and p.model == "ln" and p.arch == "ln"
    np.testing.assert_array_equal(p.of("c2", "s2"), a[1].astype(np.float32))
    assert p.of("c3", "s2") is None and p.of("c1", "s1") is None
    with h5py.File(path) as f:  # the documented layout, read without the store
        assert f["predictions/s3"].dtype == np.float32 and f["predictions/s3"].shape == (2, 3)
