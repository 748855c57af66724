"""Hand-built AA1 and AA2 release folders (text spike files, wavs), written with numpy +
soundfile, independent of strflow.  Fixtures ``aa1_raw`` / ``aa2_raw`` in tests/conftest.py;
expected values in tests/io/test_reader_aa1_aa2.py are computed by hand from the text below
(ms / 1000)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

SR = 32000
C1 = "058767E725C83836F405A97FD7D1E751"  # conspecific, 0.5 s
C2 = "ABCDEF0123456789ABCDEF0123456789"  # conspecific, 0.25 s
F1 = "FFFF0000FFFF0000FFFF0000FFFF0000"  # flatrip, 0.1 s
GONE = "DDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD"  # named by a stim file, no wav


def write_wav(path: Path, n_samples: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(n_samples) / SR
    sf.write(path, 0.3 * np.sin(2 * np.pi * 1000 * t), SR, subtype="PCM_16")


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode())


def pair(folder: Path, i: int, stim_text: str, spike_text: str | None) -> None:
    write(folder / f"stim{i}", stim_text)
    if spike_text is not None:
        write(folder / f"spike{i}", spike_text)


S1 = "11111111111111111111111111111111"  # conspecific, 0.5 s
S2 = "22222222222222222222222222222222"  # songrip, stim_data class bengalese, 0.25 s
S3 = "33333333333333333333333333333333"  # flatrip, stim_data row too short, 0.1 s
REGION_CELLS = {
    "blbl0101_1": "L", "blbl0101_2": "L1", "blbl0101_3": "L2a", "blbl0101_4": "L2b", "obla1305_7": "L3",
    "obla1305_8": "mld", "gr0102_1_A": "OV", "gr0102_1_B": "CM", "ylw0001_5": "None",
}


def build_aa1(root: Path) -> Path:
    """A small AA1 release in ``root`` (fixture ``aa1_raw``)."""
    write_wav(root / "all_stims/conspecific" / f"{C1}.wav", 16000)
    write_wav(root / "all_stims/conspecific" / f"{C2}.wav", 8000)
    write_wav(root / "all_stims/flatrip" / f"{F1}.wav", 3200)
    fl, mld = root / "Field_L_cells", root / "MLd_cells"
    write(fl / "README.txt", "not a cell")
    pair(fl / "dup_1/conspecific", 1, f"{C1}.wav\n", "1\n")
    gg = fl / "gg0304_10_B"
    # trailing space / none / empty line / negative time + no final newline
    pair(gg / "conspecific", 1, f"{C1}.wav\n", "10.5 20 \n30\n\n-5 40.25")
    # stim file without newline; double space, tab, CRLF
    pair(gg / "conspecific", 2, f"{C2}.wav", "1  2\t3\r\n4 \r\n")
    pair(gg / "flatrip", 1, f"{F1}.wav\r\n", "100\n")
    write(gg / "flatrip/spike9", "1\n")  # no stim9
    pb = fl / "pipu1018_2_B"
    pair(pb / "flatrip", 1, f"{F1}.wav\n", "6 5 \n7 \n")  # unsorted line
    pair(pb / "flatrip", 2, f"{GONE}.wav\n", "1\n")  # wav missing
    pair(mld / "dup_1/conspecific", 3, f"{C2}.wav\n", "2\n")
    pair(mld / "oddcell/conspecific", 1, f"{C1}.wav\n", "3\n")
    pa_ = mld / "pipu1018_2_A"
    pair(pa_ / "conspecific", 1, f"{C2}.wav\n", None)  # spike file missing
    pair(pa_ / "flatrip", 1, f"{F1}.wav\n", "-1.5 0 2.5\n")
    return root


def build_aa2(root: Path) -> Path:
    """A small AA2 release in ``root`` (fixture ``aa2_raw``)."""
    write_wav(root / "all_stims" / f"{S1}.wav", 16000)
    write_wav(root / "all_stims" / f"{S2}.wav", 8000)
    write_wav(root / "all_stims" / f"{S3}.wav", 3200)
    cells = root / "all_cells"
    write(cells / "notes.txt", "x")
    for cell in [*REGION_CELLS, "unlisted_3"]:
        if cell not in ("obla1305_7", "gr0102_1_A", "blbl0101_2"):
            pair(cells / cell / "conspecific", 1, f"{S1}.wav\n", "1 \n")
    pair(cells / "blbl0101_2/conspecific", 1, f"  {S1}.wav \r\n", "2\t\n")
    ob = cells / "obla1305_7"
    pair(ob / "songrip", 1, f"{S2}.wav\n", "-20.5  3\t4 \r\n\r\n7")
    pair(ob / "conspecific", 2, f"{S1}.wav\n", "12\n")
    pair(ob / "conspecific", 10, f"{GONE}.wav\n", "1\n")  # wav missing
    gr = cells / "gr0102_1_A"
    pair(gr / "flatrip", 1, f"{S3}.wav\n", "5\n6\n")
    pair(gr / "conspecific", 1, f"{S1}.wav\n", None)  # spike file missing
    regions = "".join(f"{c},{r}\n" for c, r in REGION_CELLS.items()) + "nofold_1,mld\n"
    write(root / "cell_regions.csv", regions)
    write(
        root / "cell_stim_classes.csv",
        "blbl0101_1,conspecific\nobla1305_7,conspecific,songrip\ngr0102_1_A,conspecific,flatrip,songrip\n",
    )
    write(
        root / "stim_data.csv",
        f"{S1}.wav,32000,16,16000,conspecific\n{S2}.wav,32000,16,8000,bengalese\n{S3}.wav,32000,16,3200\njunk\n",
    )
    return root
