"""The AA1 and AA2 text-format readers against hand-built release folders.

Expected values are computed by hand from the fixture text (tests/helpers/aa1_aa2.py, ms / 1000)."""

from __future__ import annotations

import logging

import pytest

from strflow.io.readers.aa1 import read_aa1
from strflow.io.readers.aa2 import read_aa2
from strflow.io.readers.crcns_text import NEURONS_SCHEMA, TextSettings, parse_cell_name, parse_spike_text
from strflow.store.tables import STIMS_SCHEMA, TRIALS_SCHEMA

from tests.helpers.aa1_aa2 import C1, C2, F1, GONE, REGION_CELLS, S1, S2, S3, pair, write


def trials_of(shard):
    return {(r["cell_id"], r["stim_id"], r["trial"]): r["spike_times_s"] for r in shard.trials.to_pylist()}


def test_aa1_neurons(aa1_raw):
    shard = read_aa1(aa1_raw)
    assert shard.name == "all"
    assert shard.neurons.schema == NEURONS_SCHEMA
    rows = shard.neurons.to_pylist()
    assert [(r["cell_id"], r["animal_id"], r["file"], r["area"], r["cell_seq"], r["rig"]) for r in rows] == [
        ("dup_1@Field_L", "dup", "Field_L_cells/dup_1", "Field_L", 1, None),
        ("gg0304_10_B", "gg0304", "Field_L_cells/gg0304_10_B", "Field_L", 10, "B"),
        ("pipu1018_2_B", "pipu1018", "Field_L_cells/pipu1018_2_B", "Field_L", 2, "B"),
        ("dup_1@MLd", "dup", "MLd_cells/dup_1", "MLd", 1, None),
        ("oddcell", "oddcell", "MLd_cells/oddcell", "MLd", None, None),
        ("pipu1018_2_A", "pipu1018", "MLd_cells/pipu1018_2_A", "MLd", 2, "A"),
    ]
    assert {r["shard"] for r in rows} == {"all"} and {r["species"] for r in rows} == {"zebra finch"}


def test_aa1_trials_exact(aa1_raw):
    shard = read_aa1(aa1_raw)
    assert shard.trials.schema == TRIALS_SCHEMA
    keys = [(r["cell_id"], r["stim_id"], r["trial"]) for r in shard.trials.to_pylist()]
    assert keys == [
        ("dup_1@Field_L", C1, 1),
        ("gg0304_10_B", C1, 1), ("gg0304_10_B", C1, 2), ("gg0304_10_B", C1, 3), ("gg0304_10_B", C1, 4),
        ("gg0304_10_B", C2, 1), ("gg0304_10_B", C2, 2),
        ("gg0304_10_B", F1, 1),
        ("pipu1018_2_B", F1, 1), ("pipu1018_2_B", F1, 2),
        ("dup_1@MLd", C2, 1),
        ("oddcell", C1, 1),
        ("pipu1018_2_A", F1, 1),
    ]
    t = trials_of(shard)
    assert t["gg0304_10_B", C1, 1] == pytest.approx([0.0105, 0.020])  # trailing space: nothing lost
    assert t["gg0304_10_B", C1, 2] == pytest.approx([0.030])  # no trailing space: spike kept
    assert t["gg0304_10_B", C1, 3] == []  # empty line = trial without spikes
    assert t["gg0304_10_B", C1, 4] == pytest.approx([-0.005, 0.04025])  # pre-onset kept, no final newline
    assert t["gg0304_10_B", C2, 1] == pytest.approx([0.001, 0.002, 0.003])  # double space, tab, CRLF
    assert t["gg0304_10_B", C2, 2] == pytest.approx([0.004])
    assert t["gg0304_10_B", F1, 1] == pytest.approx([0.1])
    assert t["pipu1018_2_B", F1, 1] == pytest.approx([0.005, 0.006])
    assert t["pipu1018_2_A", F1, 1] == pytest.approx([-0.0015, 0.0, 0.0025])
    assert t["dup_1@MLd", C2, 1] == pytest.approx([0.002])


def test_aa1_stims(aa1_raw):
    shard = read_aa1(aa1_raw)
    assert shard.stims.schema == STIMS_SCHEMA
    rows = shard.stims.to_pylist()
    assert [(r["stim_id"], r["stim_number"], r["name"], r["type"], r["class"], r["wav"]) for r in rows] == [
        (C1, 1, f"{C1}.wav", "conspecific", "conspecific", f"all_stims/conspecific/{C1}.wav"),
        (C2, 2, f"{C2}.wav", "conspecific", "conspecific", f"all_stims/conspecific/{C2}.wav"),
        (F1, 3, f"{F1}.wav", "flatrip", "flatrip", f"all_stims/flatrip/{F1}.wav"),
    ]
    assert [(r["duration_s"], r["wav_sample_rate"], r["wav_n_samples"]) for r in rows] == [
        (0.5, 32000.0, 16000), (0.25, 32000.0, 8000), (0.1, 32000.0, 3200)]
    assert {r["animal_id"] for r in rows} == {"AA1"}


def test_aa1_skips(aa1_raw):
    rows = read_aa1(aa1_raw).skipped.to_pylist()
    assert [(r["what"], r["file"], r["cell_id"], r["stim_id"]) for r in rows] == [
        ("file", "Field_L_cells/README.txt", None, None),
        ("pair", "MLd_cells/pipu1018_2_A/conspecific/stim1", "pipu1018_2_A", C2),
        ("file", "Field_L_cells/gg0304_10_B/flatrip/spike9", "gg0304_10_B", None),
        ("pair", "Field_L_cells/pipu1018_2_B/flatrip/stim2", "pipu1018_2_B", GONE),
    ]
    assert "spike file missing" in rows[1]["reason"]
    assert "not in the release" in rows[3]["reason"] and f"{GONE}.wav" in rows[3]["reason"]


def test_aa1_stim_type_selection(aa1_raw):
    shard = read_aa1(aa1_raw, TextSettings(stim_types=("flatrip",)))
    assert shard.neurons.column("cell_id").to_pylist() == ["gg0304_10_B", "pipu1018_2_B", "pipu1018_2_A"]
    assert shard.stims.column("stim_id").to_pylist() == [F1]
    assert shard.stims.column("stim_number").to_pylist() == [1]
    skipped = shard.skipped.to_pylist()
    units = [(r["file"], r["reason"]) for r in skipped if r["what"] == "unit"]
    assert [u[0] for u in units] == ["Field_L_cells/dup_1", "MLd_cells/dup_1", "MLd_cells/oddcell"]
    assert ("file", "Field_L_cells/gg0304_10_B/conspecific", "stim type 'conspecific' not selected") in {
        (r["what"], r["file"], r["reason"]) for r in skipped}
    with pytest.raises(ValueError, match="songrip"):
        read_aa1(aa1_raw, TextSettings(stim_types=("songrip",)))


def test_aa1_missing_wav_error_mode(aa1_raw):
    with pytest.raises(FileNotFoundError, match=r"pipu1018_2_B/flatrip/stim2"):
        read_aa1(aa1_raw, TextSettings(on_missing_wav="error"))
    with pytest.raises(ValueError, match="on_missing_wav"):
        TextSettings(on_missing_wav="ignore")


def test_malformed_number_names_file_and_line(aa1_raw):
    write(aa1_raw / "MLd_cells/oddcell/conspecific/spike1", "3\n4 5x 6\n")
    with pytest.raises(ValueError, match=r"oddcell/conspecific/spike1: line 2: '5x'"):
        read_aa1(aa1_raw)
    write(aa1_raw / "MLd_cells/oddcell/conspecific/spike1", "3\nnan\n")
    with pytest.raises(ValueError, match=r"spike1: line 2"):
        read_aa1(aa1_raw)


def test_parse_helpers():
    assert parse_cell_name("gg0304_10_B") == ("gg0304", 10, "B")
    assert parse_cell_name("obla1305_7") == ("obla1305", 7, None)
    assert parse_cell_name("abc_x_1") == ("abc", None, None)
    out = parse_spike_text("1 2 \r\n\r\n3\r4", "f")
    assert [o.tolist() for o in out] == [[1.0, 2.0], [], [3.0], [4.0]]
    assert parse_spike_text("", "f") == []


# --------------------------------------------------------------------------- AA2

def test_aa2_neurons_and_regions(aa2_raw):
    shard = read_aa2(aa2_raw)
    rows = shard.neurons.to_pylist()
    order = sorted([*REGION_CELLS, "unlisted_3"])
    assert [r["cell_id"] for r in rows] == order
    by_id = {r["cell_id"]: r for r in rows}
    for cell, region in REGION_CELLS.items():
        assert by_id[cell]["area"] == region
        assert by_id[cell]["file"] == f"all_cells/{cell}"
    assert by_id["unlisted_3"]["area"] is None
    assert (by_id["gr0102_1_A"]["animal_id"], by_id["gr0102_1_A"]["cell_seq"], by_id["gr0102_1_A"]["rig"]) == (
        "gr0102", 1, "A")
    assert (by_id["obla1305_7"]["animal_id"], by_id["obla1305_7"]["cell_seq"], by_id["obla1305_7"]["rig"]) == (
        "obla1305", 7, None)
    assert {r["species"] for r in rows} == {"zebra finch"} and {r["shard"] for r in rows} == {"all"}


def test_aa2_trials_and_stims(aa2_raw):
    shard = read_aa2(aa2_raw)
    t = trials_of(shard)
    assert len(t) == shard.trials.num_rows == 8 + 1 + 2 + 3  # 8 one-line S1 pairs, ob S1, gr S3, ob S2
    assert t["obla1305_7", S2, 1] == pytest.approx([-0.0205, 0.003, 0.004])
    assert t["obla1305_7", S2, 2] == []
    assert t["obla1305_7", S2, 3] == pytest.approx([0.007])
    assert t["obla1305_7", S1, 1] == pytest.approx([0.012])
    assert t["gr0102_1_A", S3, 1] == pytest.approx([0.005]) and t["gr0102_1_A", S3, 2] == pytest.approx([0.006])
    assert t["blbl0101_2", S1, 1] == pytest.approx([0.002])
    assert t["unlisted_3", S1, 1] == pytest.approx([0.001])
    keys = [(r["cell_id"], r["stim_id"], r["trial"]) for r in shard.trials.to_pylist()]
    assert keys[keys.index(("obla1305_7", S1, 1)):][:4] == [
        ("obla1305_7", S1, 1), ("obla1305_7", S2, 1), ("obla1305_7", S2, 2), ("obla1305_7", S2, 3)]
    rows = shard.stims.to_pylist()
    assert [(r["stim_id"], r["stim_number"], r["name"], r["type"], r["class"], r["wav"], r["wav_n_samples"])
            for r in rows] == [
        (S1, 1, f"{S1}.wav", "conspecific", "conspecific", f"all_stims/{S1}.wav", 16000),
        (S3, 2, f"{S3}.wav", "flatrip", "flatrip", f"all_stims/{S3}.wav", 3200),
        (S2, 3, f"{S2}.wav", "songrip", "bengalese", f"all_stims/{S2}.wav", 8000),
    ]
    assert [r["duration_s"] for r in rows] == [0.5, 0.1, 0.25]
    assert {r["animal_id"] for r in rows} == {"AA2"} and {r["wav_sample_rate"] for r in rows} == {32000.0}


def test_aa2_skips(aa2_raw):
    rows = read_aa2(aa2_raw).skipped.to_pylist()
    assert [(r["what"], r["file"], r["cell_id"], r["stim_id"]) for r in rows] == [
        ("file", "all_cells/notes.txt", None, None),
        ("unit", "all_cells/nofold_1", "nofold_1", None),
        ("pair", "all_cells/gr0102_1_A/conspecific/stim1", "gr0102_1_A", S1),
        ("pair", "all_cells/obla1305_7/conspecific/stim10", "obla1305_7", GONE),
    ]
    assert "no cell folder" in rows[1]["reason"]


def test_aa2_cross_check_warns(aa2_raw, caplog):
    with caplog.at_level(logging.WARNING, logger="strflow.io.readers.aa2"):
        read_aa2(aa2_raw)
    text = caplog.text
    assert "gr0102_1_A lists stim types ['conspecific', 'flatrip', 'songrip']" in text
    assert "obla1305_7 lists" not in text and "blbl0101_1 lists" not in text


def test_aa2_select_songrip_and_error_mode(aa2_raw):
    shard = read_aa2(aa2_raw, TextSettings(stim_types=("songrip",)))
    assert shard.neurons.column("cell_id").to_pylist() == ["obla1305_7"]
    assert shard.stims.column("stim_id").to_pylist() == [S2]
    with pytest.raises(FileNotFoundError, match="obla1305_7/conspecific/stim10"):
        read_aa2(aa2_raw, TextSettings(on_missing_wav="error"))


def test_second_block_of_a_stimulus_is_merged_and_recorded(aa1_raw):
    """A cell that heard the same wav in two blocks (4 trials, then 2 more) keeps all six."""
    gg = aa1_raw / "Field_L_cells/gg0304_10_B/conspecific"
    before = trials_of(read_aa1(aa1_raw))
    pair(gg, 3, f"{C1}.wav\n", "9\n-5 480\n")  # C1 again for this cell: a second block
    pair(aa1_raw / "MLd_cells/oddcell/flatrip", 1, f"{F1}.wav\n", "")  # no trial lines
    shard = read_aa1(aa1_raw)
    t = trials_of(shard)
    for k in range(1, 5):  # the first block unchanged
        assert t["gg0304_10_B", C1, k] == pytest.approx(before["gg0304_10_B", C1, k])
    assert t["gg0304_10_B", C1, 5] == pytest.approx([0.009])
    assert t["gg0304_10_B", C1, 6] == pytest.approx([-0.005, 0.480])
    assert ("gg0304_10_B", C1, 7) not in t
    records = [r for r in shard.skipped.to_pylist() if r["stim_id"] in (C1, F1)]
    merged = [r for r in records if r["what"] == "merged"]
    assert len(merged) == 1 and merged[0]["file"] == "Field_L_cells/gg0304_10_B/conspecific/spike3"
    assert merged[0]["reason"].endswith("Field_L_cells/gg0304_10_B/conspecific/spike1: trials 5-6")
    assert ("pair", "MLd_cells/oddcell/flatrip/spike1", F1) in {(r["what"], r["file"], r["stim_id"]) for r in records}


def test_absurd_text_spike_times_are_refused(aa1_raw):
    pair(aa1_raw / "Field_L_cells/gg0304_10_B/conspecific", 3, f"{C2}.wav\n", "10\n1e15\n")
    with pytest.raises(ValueError, match=r"conspecific/spike3: line 2: spike time 1e\+12 s is outside"):
        read_aa1(aa1_raw)


def test_aa2_stim_data_contradicting_the_wav_is_an_error(aa2_raw):
    text = (aa2_raw / "stim_data.csv").read_text().replace(f"{S2}.wav,32000,16,8000", f"{S2}.wav,32000,16,8001")
    (aa2_raw / "stim_data.csv").write_text(text)
    with pytest.raises(ValueError, match=rf"stim_data.csv: {S2}.wav is listed as 32000 Hz, 8001 samples, but its wav "
                                         rf"all_stims/{S2}.wav has 32000 Hz, 8000 samples"):
        read_aa2(aa2_raw)
