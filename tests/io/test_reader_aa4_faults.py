"""AA4 unit files that are broken in the ways a 1,400-file release can be: every read
error names the file (and stimulus/trial where there is one), ``on_unreadable: skip``
records every unreadable unit instead, and nothing of a bad file reaches the tables.

Built on the hand-made fixture ``aa4_raw`` of tests/conftest.py; bird AaaBbb0001M keeps three
units (e17, e3, e6) and skips the noise unit e5.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from strflow.io.readers.aa4 import AA4Settings, read_animal
from strflow.io.readers.shard import SPIKE_MARGIN_S

BIRD = "AaaBbb0001M"
UNIT = "Site1_L1000R1100_e3_s0_ss1"  # stims A (Song1/3, 11 trials, 0.5 s) and B (Call1/4)
SKIP = AA4Settings(on_unreadable="skip")
OTHERS = ["Site1_L1000R1100_e17_s1", "Site2_L900R900_e6_s0_ss3"]


def kept_cells(shard) -> list[str]:
    return shard.neurons.column("cell_id").to_pylist()


def set_trial(raw, values, trial="7", stim="Song1/3") -> None:
    with h5py.File(raw / BIRD / f"{UNIT}.h5", "a") as f:
        group = f[f"{stim}/{trial}"]
        del group["spike_times"]
        group.create_dataset("spike_times", data=np.asarray(values, dtype=np.float64))


def assert_unit_error_then_skip(raw, message: str) -> None:
    """The unit is an error naming the file (and `message`), or with skip a unit record."""
    with pytest.raises(ValueError) as err:
        read_animal(raw, BIRD)
    text = str(err.value)
    assert text.startswith(str(raw / BIRD / f"{UNIT}.h5") + ": unreadable AA4 unit file"), text
    assert message in text and "on_unreadable: skip" in text
    shard = read_animal(raw, BIRD, SKIP)
    assert f"{BIRD}/{UNIT}" not in kept_cells(shard) and f"{BIRD}/{UNIT}" not in shard.trials.column("cell_id").to_pylist()
    rows = [r for r in shard.skipped.to_pylist() if r["file"] == f"{BIRD}/{UNIT}.h5"]
    assert len(rows) == 1 and rows[0]["what"] == "unit" and message in rows[0]["reason"]
    assert kept_cells(shard) == [f"{BIRD}/{c}" for c in OTHERS]  # the rest of the bird is read as usual


@pytest.mark.parametrize("values, message", [
    ([0.1, np.nan], "Song1/3/7: 1 non-finite spike time(s) (nan)"),
    ([np.inf], "Song1/3/7: 1 non-finite spike time(s) (inf)"),
    ([-np.inf, 0.2], "non-finite"),
    ([0.1, 1e12], "Song1/3/7: spike time 1e+12 s is outside"),
    ([-999.0, 0.1], "spike time -999 s is outside"),  # the empty-trial sentinel inside a spike train
    ([0.5 + SPIKE_MARGIN_S + 1], "not a plausible spike"),
])
def test_absurd_spike_times(aa4_raw, values, message):
    set_trial(aa4_raw, values)
    assert_unit_error_then_skip(aa4_raw, message)


def test_plausible_extremes_are_kept(aa4_raw):
    set_trial(aa4_raw, [-SPIKE_MARGIN_S + 0.5, 0.5 + SPIKE_MARGIN_S - 0.5])
    shard = read_animal(aa4_raw, BIRD)
    assert f"{BIRD}/{UNIT}" in kept_cells(shard)


def test_duration_contradicting_the_wav(aa4_raw):
    with h5py.File(aa4_raw / BIRD / f"{UNIT}.h5", "a") as f:
        f["Song1/3"].attrs["stim_duration"] = 5.0  # the wav lasts 0.5 s
    assert_unit_error_then_skip(aa4_raw, "stim_duration 5 s contradicts the wav AaaBbb0001M/wavfiles/stim3.wav (0.5000 s")


def test_missing_spike_times_dataset(aa4_raw):
    with h5py.File(aa4_raw / BIRD / f"{UNIT}.h5", "a") as f:
        f["Song1/3"].create_group("12")
    assert_unit_error_then_skip(aa4_raw, f"{BIRD}/{UNIT}.h5:/Song1/3/12: trial group without a spike_times dataset")


def test_truncated_file(aa4_raw):
    path = aa4_raw / BIRD / f"{UNIT}.h5"
    path.write_bytes(path.read_bytes()[:1500])
    assert_unit_error_then_skip(aa4_raw, "cannot open as HDF5")


def test_overwritten_bytes_anywhere(aa4_raw):
    """A few bytes overwritten at any of 60 places: the read either gives the same
    tables as the intact file (bytes nobody reads) or fails naming the file; with
    skip it never fails and the unit is recorded.  (Garbage that decodes to plausible
    spike times cannot be told from data; none of these offsets produce that.)"""
    path = aa4_raw / BIRD / f"{UNIT}.h5"
    intact = path.read_bytes()
    reference = read_animal(aa4_raw, BIRD)
    outcomes = {"same": 0, "error": 0}
    for offset in np.linspace(100, len(intact) - 40, 60).astype(int):
        image = bytearray(intact)
        image[offset : offset + 24] = bytes(range(200, 224))
        path.write_bytes(bytes(image))
        try:
            shard = read_animal(aa4_raw, BIRD)
        except ValueError as exc:
            assert str(exc).startswith(f"{path}: unreadable AA4 unit file"), (offset, str(exc))
            outcomes["error"] += 1
            skipped = read_animal(aa4_raw, BIRD, SKIP)
            assert [r["what"] for r in skipped.skipped.to_pylist() if r["file"] == f"{BIRD}/{UNIT}.h5"] == ["unit"]
            assert f"{BIRD}/{UNIT}" not in kept_cells(skipped)
        else:
            same = shard.trials.equals(reference.trials) and shard.neurons.equals(reference.neurons)
            assert same, f"offset {offset}: the read succeeded with different tables"
            outcomes["same"] += 1
    print(outcomes)
    assert outcomes["error"] >= 10, outcomes  # the corruption is actually exercised
