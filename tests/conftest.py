"""Shared fixtures (plain helpers and constants are in tests/helpers/).  The hand-built
raw folders are written with h5py, scipy.io, soundfile and plain text directly (not with
strflow's generator) so reader tests are independent of it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.helpers.aa1_aa2 import build_aa1, build_aa2
from tests.helpers.aa4 import STIM_A, STIM_B, STIM_C, write_unit, write_wav
from tests.helpers.crcns_server import start_server, stop_server
from tests.helpers.ns1 import build_ns1
from tests.helpers.results import TinyResults, build_tiny_results


@pytest.fixture
def aa4_raw(tmp_path) -> Path:
    """Two animals; stimulus A is shared under different numbers (3 in Aaa, 7 in Bbb).

    Animal AaaBbb0001M:
      Site1_L1000R1100_e3_s0_ss1.h5   single, str attrs, stims A (11 trials, trial 5 = -999) and B (2 trials)
      Site1_L1000R1100_e17_s1.h5      'singl' typo, bytes attrs, no _ss, no ldepth, class_info/extra_info
      Site2_L900R900_e5_s0_ss2.h5     noise -> skipped
      Site2_L900R900_e6_s0_ss3.h5     multi; only hears C, all trials silent
    Animal CccDdd0002F:
      Site1_L500R500_e1_s0_ss1.h5     tdt -> skipped
      Site1_L500R500_e2_s0_ss1.h5     single; hears A (number 7)
    """
    root = tmp_path / "raw"
    a1, a2 = root / "AaaBbb0001M", root / "CccDdd0002F"
    write_wav(a1 / "wavfiles" / "stim3.wav", 0.5, 800)
    write_wav(a1 / "wavfiles" / "stim4.wav", 0.3, 2000)
    write_wav(a1 / "wavfiles" / "stim9.wav", 0.4, 4000)
    write_wav(a2 / "wavfiles" / "stim7.wav", 0.5, 800)
    trials_a = {str(i): [0.0101 * i, 0.2, -0.05] for i in range(1, 12)}
    trials_a["5"] = -999.0
    write_unit(
        a1 / "Site1_L1000R1100_e3_s0_ss1.h5",
        dict(sortType="single", site="Site1", electrode=3, ldepth=1000.0, rdepth=1100.0, sortid=0),
        {"Call1": {4: (STIM_B, {"1": [0.001, 0.002, 0.35], "2": [0.1]})}, "Song1": {3: (STIM_A, trials_a)}},
    )
    write_unit(
        a1 / "Site1_L1000R1100_e17_s1.h5",
        dict(sortType=b"singl", site=np.bytes_(b"Site1"), electrode=17, rdepth=1100.0, sortid=1),
        {"Song1": {3: (STIM_A, {"1": [0.005, 0.0049999], "2": [0.499, 0.5, 0.6]})}},
        extra_groups=True,
    )
    write_unit(
        a1 / "Site2_L900R900_e5_s0_ss2.h5",
        dict(sortType="noise", site="Site2", electrode=5, ldepth=900.0, rdepth=900.0, sortid=0),
        {"Song1": {3: (STIM_A, {"1": [0.1]})}},
    )
    write_unit(
        a1 / "Site2_L900R900_e6_s0_ss3.h5",
        dict(sortType="multi", site="Site2", electrode=6, ldepth=900.0, rdepth=900.0, sortid=0),
        {"Noise": {9: (STIM_C, {"1": -999.0, "2": [-0.1]})}},
    )
    write_unit(
        a2 / "Site1_L500R500_e1_s0_ss1.h5",
        dict(sortType="tdt", site="Site1", electrode=1, ldepth=500.0, rdepth=500.0, sortid=0),
        {"Song1": {7: (STIM_A, {"1": [0.1]})}},
    )
    write_unit(
        a2 / "Site1_L500R500_e2_s0_ss1.h5",
        dict(sortType="single", site="Site1", electrode=2, ldepth=500.0, rdepth=500.0, sortid=0),
        {"Song1": {7: (STIM_A, {"1": [0.0, 0.25], "2": [0.4999]})}},
    )
    return root


@pytest.fixture
def aa1_raw(tmp_path) -> Path:
    """A small AA1 release (tests/helpers/aa1_aa2.py)."""
    return build_aa1(tmp_path / "aa1")


@pytest.fixture
def aa2_raw(tmp_path) -> Path:
    """A small AA2 release (tests/helpers/aa1_aa2.py)."""
    return build_aa2(tmp_path / "aa2")


@pytest.fixture
def ns1_raw(tmp_path) -> Path:
    """A small NS1-format release: four listed units, one absent (tests/helpers/ns1.py)."""
    return build_ns1(tmp_path / "ns1")


@pytest.fixture
def server():
    """The fake CRCNS/NERSC/OSF server (tests/helpers/crcns_server.py), fresh state; ``.base`` is its URL."""
    httpd = start_server()
    yield httpd
    stop_server(httpd)


@pytest.fixture
def tiny_results(tmp_path) -> TinyResults:
    """A hand-built processed dataset folder: 2 birds, 4 neurons, 3 stimuli, 7 heard pairs
    (tests/helpers/results.py)."""
    return build_tiny_results(tmp_path / "results" / "tiny")
