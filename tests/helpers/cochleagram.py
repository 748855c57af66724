"""The published NS1 filterbank (voicebox ``melbankbw`` with options 'lusc') written out
independently of strflow, shared by tests/processing/test_cochleagram.py and
test_ns1_cochleagram_realdata.py."""

from __future__ import annotations

import math

import numpy as np


def melbank_lusc(p, n, fs, f_lo, f_hi):
    """The published filterbank written out step by step as melbankbw.m computes it for
    options 'lusc' (log10 axis, unity sum, single-sided, f_lo/f_hi are the outer centres):
    each FFT bin's position ``pf`` in units of the band spacing, counted from the lower
    edge of band 1, feeds band ``floor(pf)`` (rising side, weight ``pf - floor(pf)``) and
    band ``floor(pf) - 1`` (falling side, weight ``1 - (pf - floor(pf))``)."""
    lo, hi = math.log10(f_lo), math.log10(f_hi)
    inc = (hi - lo) / (p - 1)
    lo -= inc  # 'c': the given limits are centres; the lower edge of band 1 is one spacing below
    fn2 = n // 2
    blim = [10 ** (lo + k * inc) * n / fs for k in (0, 1, p, p + 1)]
    b1 = math.floor(blim[0]) + 1
    b4 = min(fn2, math.ceil(blim[3]) - 1)
    x = np.zeros((p, fn2 + 1))
    for b in range(b1, b4 + 1):
        pf = (math.log10(b * fs / n) - lo) / inc
        if pf < 0 or pf >= p + 1:
            continue
        fp = math.floor(pf)
        pm = pf - fp
        if fp < p:  # band fp + 1 (1-based), rising side
            x[fp, b] += pm
        if fp > 0:  # band fp (1-based), falling side
            x[fp - 1, b] += 1 - pm
    return x / x.sum(axis=1, keepdims=True)
