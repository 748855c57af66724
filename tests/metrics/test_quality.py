"""The noise-ceiling tables (src/strflow/metrics/quality.py) on hand-built count blocks whose
signal and noise are known exactly.

Every trial is ``base + a*s + e_n``: ``s`` the signal, ``e_n`` noise patterns that sum to
zero over the repeats (so the PSTH is exactly ``base + a*s``), each zero-mean in time and
orthogonal to ``s``.  With the 1/T power of outputs.md this gives, for R repeats,

    Var(PSTH) = a^2 var(s)
    TP = a^2 var(s) + mean_n var(e_n)
    SP = (R Var(PSTH) - TP) / (R - 1) = a^2 var(s) - mean_n var(e_n) / (R - 1)
    NP = TP - SP = mean_n var(e_n) * R / (R - 1)

and the split-half correlations follow from the half means ``a*s +- d`` with ``d``
orthogonal to ``s``: corr = (a^2 var(s) - var(d)) / (a^2 var(s) + var(d)).
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from strflow.store.blocks import PairBlocks
from strflow.metrics.quality import BY_STIM_SCHEMA, QUALITY_SCHEMA, quality_rows, tables

S = np.array([1, -1, 1, -1])  # var 1
E = np.array([1, 1, -1, -1])  # var 1, orthogonal to S
E2 = np.array([1, -1, -1, 1])  # var 1, orthogonal to S and E
NOISE = [E, -E, E2, -E2]  # sums to zero over the 4 repeats


def block(a: int, base: int, tiles: int = 1) -> np.ndarray:
    """(4, 4 * tiles) non-negative integer counts base + a*S + e_n (tiling keeps every
    variance and orthogonality)."""
    return np.stack([np.tile(base + a * S + e, tiles) for e in NOISE])


def pair_blocks(pairs: list[tuple[str, str, np.ndarray]]) -> PairBlocks:
    sizes = [b.size for _, _, b in pairs]
    return PairBlocks(
        stim_id=np.array([s for s, _, _ in pairs], dtype=object),
        cell_id=np.array([c for _, c, _ in pairs], dtype=object),
        n_trials=np.array([b.shape[0] for _, _, b in pairs], dtype=np.int32),
        n_bins=np.array([b.shape[1] if b.ndim == 2 else 0 for _, _, b in pairs], dtype=np.int32),
        offset=np.array([0, *np.cumsum(sizes)[:-1]], dtype=np.int64),
        data=np.concatenate([b.ravel() for _, _, b in pairs]).astype(np.uint16),
    )


def expected_powers(a: int, r: int = 4) -> tuple[float, float, float]:
    """(SP, NP, Var(PSTH)) from the closed forms above (var(s) = var(e_n) = 1)."""
    return a * a - 1 / (r - 1), r / (r - 1), float(a * a)


def expected_cc_half(a: int) -> float:
    """The three splits of 4 repeats: {0,1}|{2,3} cancels the noise (corr 1); {0,2}|{1,3}
    and {0,3}|{1,2} leave d = (E +- E2)/2, var(d) = 1/2."""
    mixed = (a * a - 0.5) / (a * a + 0.5)
    return (1 + 2 * mixed) / 3


A1 = block(1, 2)  # stimulus s1: T = 4, signal amplitude 1
A2 = block(2, 3, tiles=2)  # stimulus s2: T = 8, amplitude 2


def test_known_signal_and_noise_power_per_stimulus_and_pooled():
    blocks = pair_blocks([("s1", "good", A1), ("s2", "good", A2)])
    neurons, pairs = quality_rows(blocks, ["good"])
    sp1, np1, v1 = expected_powers(1)  # 2/3, 4/3, 1
    sp2, np2, v2 = expected_powers(2)  # 11/3, 4/3, 4
    for row, (sid, sp, noise, var, t, a) in zip(pairs, [("s1", sp1, np1, v1, 4, 1), ("s2", sp2, np2, v2, 8, 2)]):
        assert (row["cell_id"], row["stim_id"], row["n_trials"], row["n_bins"]) == ("good", sid, 4, t)
        assert row["signal_power"] == pytest.approx(sp)
        assert row["noise_power"] == pytest.approx(noise)
        assert row["ccmax_sp"] == pytest.approx(math.sqrt(sp / var))
        assert row["ccmax_split"] == pytest.approx(math.sqrt(2 / (1 + 1 / expected_cc_half(a))))
    # pooled over stimuli, weights = bins (4 and 8), before any ratio or square root
    sp = (4 * sp1 + 8 * sp2) / 12
    noise = (4 * np1 + 8 * np2) / 12
    var = (4 * v1 + 8 * v2) / 12
    cc_half = (4 * expected_cc_half(1) + 8 * expected_cc_half(2)) / 12
    (row,) = neurons
    assert row["cell_id"] == "good" and row["n_stimuli"] == 2 and row["reason"] == ""
    assert row["signal_power"] == pytest.approx(8 / 3) == pytest.approx(sp)
    assert row["noise_power"] == pytest.approx(4 / 3) == pytest.approx(noise)
    assert row["noise_ratio"] == pytest.approx(0.5)
    assert row["ccmax_sp"] == pytest.approx(math.sqrt(sp / var))  # sqrt(8/9)
    assert row["ccmax_split"] == pytest.approx(math.sqrt(2 / (1 + 1 / cc_half)))  # CC_half 61/81


def test_pure_noise_neuron_has_no_noise_ratio():
    """a = 0: SP = -1/3 < 0, so NR and CCmax (SP) are NaN with the reason."""
    neurons, _ = quality_rows(pair_blocks([("s1", "noisy", block(0, 2))]), ["noisy"])
    (row,) = neurons
    assert row["signal_power"] == pytest.approx(-1 / 3) and row["noise_power"] == pytest.approx(4 / 3)
    assert math.isnan(row["noise_ratio"]) and math.isnan(row["ccmax_sp"])
    assert row["reason"] == "sp_nonpositive"


def test_unusable_neurons_are_rows_with_reasons_in_the_requested_order():
    """A single-trial neuron, one whose only stimulus has no time grid (0 bins, not used),
    and one with no block at all keep their rows, NaN, in the order asked for."""
    blocks = pair_blocks([
        ("s1", "single", A1[:1]),
        ("drc", "gridless", np.zeros((3, 0), dtype=np.int64)),
        ("s1", "good", A1),
    ])
    neurons, pairs = quality_rows(blocks, ["good", "absent", "gridless", "single"])
    assert [r["cell_id"] for r in neurons] == ["good", "absent", "gridless", "single"]
    by = {r["cell_id"]: r for r in neurons}
    assert by["single"]["reason"] == "single_trial" and by["single"]["n_stimuli"] == 1
    assert by["absent"]["reason"] == by["gridless"]["reason"] == "no stimulus with a time grid"
    assert by["absent"]["n_stimuli"] == by["gridless"]["n_stimuli"] == 0
    for cell in ("single", "absent", "gridless"):
        assert all(math.isnan(by[cell][k]) for k in ("signal_power", "noise_power", "noise_ratio", "ccmax_sp",
                                                     "ccmax_split"))
    assert [(r["cell_id"], r["stim_id"]) for r in pairs] == [("good", "s1"), ("single", "s1")]  # no gridless pair


def test_tables_have_the_documented_schemas():
    neurons, pairs = quality_rows(pair_blocks([("s1", "good", A1)]), ["good", "absent"])
    q, by_stim = tables(neurons, pairs)
    assert q.schema.equals(QUALITY_SCHEMA) and by_stim.schema.equals(BY_STIM_SCHEMA)
    assert q.num_rows == 2 and by_stim.num_rows == 1
    assert q.column("n_stimuli").to_pylist() == [1, 0]
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError)):
        tables([dict(neurons[0], n_stimuli="two")], pairs)  # a wrong type is refused, not written
