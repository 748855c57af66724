"""A hand-built NS1-format release (MetadataSHEnCneurons.mat, cluster .mat files, wavs),
written with numpy + scipy.io + soundfile, independent of strflow.  Fixture ``ns1_raw`` in
tests/conftest.py; tests/io/test_reader_ns1.py works its expectations out from the
constants and spike pattern below."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io
import soundfile as sf

WAV1 = "source.1.sound.0.snr.0.token.0.fw.2.frozen.{}"
WAV2 = "source.2.sound.0.snr.0.token.0.fw.1.frozen.{}"
WAV_NAMES = [WAV1.format(k) for k in range(1, 13)] + [WAV2.format(k) for k in range(1, 9)]

# Four listed units.  U2's file is absent; U3 exists only as cluster.03.data_1.mat.
U1 = "expA_1x32/P01-SH.En.C.D/cluster.01.data"
U2 = "expA_1x32/P01-SH.En.C.D/cluster.02.data"
U3 = "dataX/E1/cluster.03.data"
U4 = "expB_4x8/P02-SH_En_C.Lsh1/cluster.04.data"
METADATA = [
    # path, NrOfElectrodes, ElectrodeNumber, depth (dtype as in the release: mixed), NoiseRatio, singleT, singleN
    (U1 + ".mat", 32, 7, np.uint16(500), 4.25, "Yes", 2),
    (U2 + ".mat", 32, 8, np.uint16(650), 5.5, "No", 0),
    (U3 + ".mat", 16, 12, np.int16(-100), 7.75, "Maybe", 1),
    (U4 + ".mat", 8, 3, np.uint8(0), 3.125, "No", 0),
]
R_NATURAL, R_DRC = 2, 3

# Spike trains (ms) that differ from the default pattern; None means an empty 1×0 repeat
# (uint8, as in the release) and "0x0" an empty 0×0 array.
SPECIAL = {
    (U1, 0, 2): None,
    (U1, 5, 1): "0x0",
    (U1, 1, 1): [-12.5, 3.0, 5230.25],  # pre-onset and post-stimulus spikes
    (U1, 2, 1): [100.2, 100.4, 100.5, 101.5, 102.4, -0.5],  # legacy: -0, 100, 102
    (U3, 4, 2): [300.0, 20.0, 10.0, 400.0],  # unsorted, as in the dataAC files
    (U4, 25, 3): None,  # an empty DRC repeat
}
EXTRA_REPEAT = (U4, 22)  # drc03 of U4 has one more repeat than the other DRC sets


def n_repeats(unit: str, set_index: int) -> int:
    if set_index < 20:
        return R_NATURAL
    return R_DRC + ((unit, set_index) == EXTRA_REPEAT)


def spikes_ms(unit: str, set_index: int, r: int):
    if (unit, set_index, r) in SPECIAL:
        return SPECIAL[(unit, set_index, r)]
    base = int(unit[-7:-5])  # the cluster number
    return [10.0 * base + set_index + 0.25 * r, 1000.0 + set_index, 4990.5 + r]


def write_cluster(path: Path, unit: str) -> None:
    sets = np.zeros((1, 32), dtype=[("repeats", "O"), ("length_signal_ms", "O")])
    for j in range(32):
        reps = np.zeros((1, n_repeats(unit, j)), dtype=[("t", "O"), ("repeat_id", "O")])
        for r in range(1, reps.shape[1] + 1):
            times = spikes_ms(unit, j, r)
            if times is None:
                t = np.zeros((1, 0), dtype=np.uint8)
            elif isinstance(times, str):
                t = np.zeros((0, 0))
            else:
                t = np.asarray(times, dtype=np.float64)[None, :]
            reps[0, r - 1]["t"] = t
            reps[0, r - 1]["repeat_id"] = np.full((1, t.size), r, dtype=np.uint8)
        sets[0, j]["repeats"] = reps
        sets[0, j]["length_signal_ms"] = 5199.994762141659
    data = np.zeros((1, 1), dtype=[("set", "O")])
    data[0, 0]["set"] = sets
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, {"data": data})


def wav_samples(j: int) -> int:
    return 100 + j + (j >= 16)  # like the release, the last four source.2 sounds are one sample longer


def build_ns1(root: Path) -> Path:
    """A small NS1-format release in ``root`` (fixture ``ns1_raw``)."""
    fields = ["path", "NrOfElectrodes", "ElectrodeNumber", "depth", "NoiseRatio", "singleT", "singleN"]
    neuron = np.zeros((1, len(METADATA)), dtype=[(f, "O") for f in fields])
    for i, (path, n_el, el, depth, noise, single_t, single_n) in enumerate(METADATA):
        neuron[0, i]["path"] = path
        neuron[0, i]["NrOfElectrodes"] = np.array([[n_el]], dtype=np.uint8)
        neuron[0, i]["ElectrodeNumber"] = np.array([[el]], dtype=np.uint8)
        neuron[0, i]["depth"] = np.array([[depth]], dtype=depth.dtype)
        neuron[0, i]["NoiseRatio"] = np.array([[noise]])
        neuron[0, i]["singleT"] = single_t
        neuron[0, i]["singleN"] = np.array([[single_n]], dtype=np.uint8)
    root.mkdir()
    scipy.io.savemat(root / "MetadataSHEnCneurons.mat", {"neuron": neuron})
    spikes = root / "spikesandwav"
    write_cluster(spikes / (U1 + ".mat"), U1)
    write_cluster(spikes / (U3 + "_1.mat"), U3)
    write_cluster(spikes / (U4 + ".mat"), U4)
    wavs = spikes / "SH.En.C"
    wavs.mkdir(parents=True)
    for j, name in enumerate(WAV_NAMES):
        wave = (0.1 * np.sin(np.arange(wav_samples(j)) * (j + 1) / 10)).astype(np.float32)
        sf.write(wavs / name, wave, 48828, subtype="FLOAT", format="WAV")
    return root
