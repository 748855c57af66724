"""Benchmark: strflow's sufficient-statistics ridge STRF vs scikit-learn RidgeCV.

Not a pytest test.  Run::

    .venv/bin/python tests/benchmarks/bench_strf.py            # full: N=1e5, K=300
    .venv/bin/python tests/benchmarks/bench_strf.py --n-bins 20000 --skip-sklearn

Synthetic problem (as in docs strf_fitting.md section 3.3): a smooth
"log-spectrogram" (Gaussian-filtered white noise, F=32 bands), cut into stimulus
segments of ``--segment-len`` bins; Gabor-like STRFs over L=40 lags (D=1280); the
response of every neuron is its linear drive (lags restart at every segment) plus
Gaussian noise of 1.5x the drive's standard deviation.

Each side runs in a fresh subprocess, so the reported peak RSS (``ru_maxrss``) is
that side's own peak (it includes the simulated data, whose size is also printed).
Our side: :func:`strflow.strf.fit_ridge_strf` (17 penalties, 5 contiguous folds of
whole segments, per-neuron penalty), fitted ``--repeats`` times in the same process
(best wall time reported, all printed: the machine may be shared).  sklearn side: ``RidgeCV(alphas,
alpha_per_target=True)`` (closed-form leave-one-out) on the explicit lagged design
of the same standardised spectrogram, with the same penalty grid.

Also printed: recovery (median over neurons of corr(fitted STRF, true STRF)), the
float64 GEMM rate of the machine (4096^3, measured in the same run) and the FLOP
rate our fit achieved, counted with the model of strf_fitting.md section 3.2.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
import scipy.ndimage

N_BANDS = 32
N_LAGS = 40


def simulate(n_bins: int, n_neurons: int, segment_len: int, seed: int = 0):
    """Segments (F, T_s), responses (T_s, K) and the true STRFs (K, F, L)."""
    rng = np.random.default_rng(seed)
    n_seg = max(1, n_bins // segment_len)
    lengths = [segment_len] * n_seg
    lengths[-1] += n_bins - segment_len * n_seg
    raw = rng.standard_normal((N_BANDS, n_bins))
    spec = scipy.ndimage.gaussian_filter(raw, sigma=(1.5, 2.0), mode="wrap")
    spec = (spec - spec.mean()) / spec.std()
    bounds = np.cumsum([0, *lengths])
    segments = [
        np.ascontiguousarray(spec[:, a:b]) for a, b in zip(bounds[:-1], bounds[1:])
    ]

    f = np.arange(N_BANDS)[None, :, None]
    lag = np.arange(N_LAGS)[None, None, :]
    f0 = rng.uniform(4, N_BANDS - 4, (n_neurons, 1, 1))
    sf = rng.uniform(1.5, 4.0, (n_neurons, 1, 1))
    l0 = rng.uniform(4, 15, (n_neurons, 1, 1))
    sl = rng.uniform(2.0, 6.0, (n_neurons, 1, 1))
    period = rng.uniform(8, 25, (n_neurons, 1, 1))
    phase = rng.uniform(0, 2 * np.pi, (n_neurons, 1, 1))
    strfs = (
        np.exp(-((f - f0) ** 2) / (2 * sf**2))
        * np.exp(-((lag - l0) ** 2) / (2 * sl**2))
        * np.cos(2 * np.pi * (lag - l0) / period + phase)
    )
    # Linear drive per segment with zero padding at every segment start; noise is
    # added in place afterwards (no full-size temporaries, so the data's own peak
    # memory stays close to its size).
    w = strfs.transpose(2, 1, 0)  # (L, F, K)
    responses = []
    sum_y = np.zeros(n_neurons)
    sum_yy = np.zeros(n_neurons)
    for s in segments:
        t = s.shape[1]
        y = np.zeros((t, n_neurons))
        for lg in range(N_LAGS):
            y[lg:] += s[:, : t - lg].T @ w[lg]
        sum_y += y.sum(axis=0)
        sum_yy += np.einsum("tk,tk->k", y, y)
        responses.append(y)
    sd = np.sqrt(sum_yy / n_bins - (sum_y / n_bins) ** 2)
    for y in responses:
        y += 1.5 * sd * rng.standard_normal(y.shape)
    return segments, responses, strfs


def recovery(fitted: np.ndarray, truth: np.ndarray) -> float:
    """Median over neurons of the Pearson correlation of fitted and true STRFs."""
    a = fitted.reshape(len(fitted), -1)
    b = truth.reshape(len(truth), -1)
    a = a - a.mean(1, keepdims=True)
    b = b - b.mean(1, keepdims=True)
    r = (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))
    return float(np.median(r))


def flops_ours(n: int, k: int, n_pen: int, n_folds: int) -> float:
    """Useful flops of our fit (strf_fitting.md 3.2 model; 2 flops per multiply-add)."""
    d = N_BANDS * N_LAGS
    stats = 2 * n * N_BANDS**2 * N_LAGS + 2 * n * d * k  # Toeplitz Gram + X^T Y
    eigh = 9 * d**3
    per_fold = (
        eigh + 4 * d**3 + 2 * 2 * d * d * k + n_pen * 2 * d * d * k
    )  # eigh, Z, b & e, Z W~
    refit = eigh + 2 * 2 * d * d * k
    return float(stats + n_folds * per_fold + refit)


def gemm_rate(n: int = 4096) -> float:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n))
    b = rng.standard_normal((n, n))
    a @ b  # warm-up
    best = np.inf
    for _ in range(3):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def worker(args: argparse.Namespace) -> dict:
    segments, responses, strfs = simulate(
        args.n_bins, args.neurons, args.segment_len, args.seed
    )
    data_mb = (
        sum(s.nbytes for s in segments) + sum(y.nbytes for y in responses)
    ) / 2**20
    rss_after_data = peak_rss_mb()
    from strflow import strf as st

    if args.worker == "ours":
        walls = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            model = st.fit_ridge_strf(segments, responses, N_LAGS, folds=args.folds)
            walls.append(time.perf_counter() - t)
        wall = min(walls)
        raw_strf = model.weights / model.standardisation.std[None, :, None]
        return {
            "wall_s": wall,
            "walls_s": walls,
            "peak_rss_mb": peak_rss_mb(),
            "rss_after_data_mb": rss_after_data,
            "data_mb": data_mb,
            "recovery": recovery(raw_strf, strfs),
            "median_penalty": float(np.median(model.penalties)),
            "n_at_edge": int(model.penalty_at_edge.sum()),
            "median_cv_r": float(np.nanmedian(model.cv_r_best)),
            "grid": model.penalty_grid.tolist(),
            "flops": flops_ours(
                args.n_bins, args.neurons, model.penalty_grid.size, model.fold_ids.size
            ),
        }
    from sklearn.linear_model import RidgeCV

    std = st.fit_standardisation(segments)
    x = np.concatenate([st.lagged_design(std.apply(s), N_LAGS) for s in segments])
    y = np.concatenate(responses)
    del segments, responses
    grid = (
        np.asarray(json.loads(args.grid))
        if args.grid
        else st.default_penalty_grid(
            float(x.var(axis=0).sum() * x.shape[0]), x.shape[1]
        )
    )
    t = time.perf_counter()
    ridge = RidgeCV(alphas=grid, alpha_per_target=True).fit(x, y)
    wall = time.perf_counter() - t
    coef = st.weights_to_strf(ridge.coef_.T, N_BANDS, N_LAGS) / std.std[None, :, None]
    return {
        "wall_s": wall,
        "peak_rss_mb": peak_rss_mb(),
        "rss_after_data_mb": rss_after_data,
        "data_mb": data_mb + x.nbytes / 2**20,
        "recovery": recovery(coef, strfs),
        "median_penalty": float(np.median(ridge.alpha_)),
    }


def run_worker(
    kind: str, args: argparse.Namespace, grid: list[float] | None = None
) -> dict:
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--worker",
        kind,
        "--n-bins",
        str(args.n_bins),
        "--neurons",
        str(args.neurons),
        "--segment-len",
        str(args.segment_len),
        "--folds",
        str(args.folds),
        "--seed",
        str(args.seed),
        "--repeats",
        str(args.repeats),
    ]
    if grid is not None:
        cmd += ["--grid", json.dumps(grid)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--n-bins", type=int, default=100_000)
    p.add_argument("--neurons", type=int, default=300)
    p.add_argument("--segment-len", type=int, default=1000)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--repeats", type=int, default=3, help="fits of ours (best time reported)"
    )
    p.add_argument("--skip-sklearn", action="store_true")
    p.add_argument("--worker", choices=["ours", "sklearn"], help=argparse.SUPPRESS)
    p.add_argument("--grid", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return

    d = N_BANDS * N_LAGS
    print(
        f"problem: N={args.n_bins} bins in segments of {args.segment_len}, F={N_BANDS} x L={N_LAGS} = D={d}, "
        f"K={args.neurons} neurons, 17 penalties, {args.folds} folds"
    )
    rate = gemm_rate()
    print(f"machine float64 GEMM 4096^3: {rate / 1e9:.1f} GFLOP/s")
    ours = run_worker("ours", args)
    achieved = ours["flops"] / ours["wall_s"]
    walls = ", ".join(f"{w:.2f}" for w in ours["walls_s"])
    print(
        f"ours:    wall {ours['wall_s']:.2f} s (best of {len(ours['walls_s'])}: {walls}), peak RSS {ours['peak_rss_mb']:.0f} MB "
        f"(after data {ours['rss_after_data_mb']:.0f} MB; data {ours['data_mb']:.0f} MB), "
        f"recovery {ours['recovery']:.3f}, median penalty {ours['median_penalty']:.3g}, "
        f"at grid edge {ours['n_at_edge']}, median CV r {ours['median_cv_r']:.3f}"
    )
    print(
        f"ours:    {ours['flops'] / 1e9:.0f} GFLOP counted -> {achieved / 1e9:.1f} GFLOP/s = "
        f"{achieved / rate:.2f} x the measured GEMM rate"
    )
    if args.skip_sklearn:
        return
    sk = run_worker("sklearn", args, ours["grid"])
    print(
        f"sklearn: wall {sk['wall_s']:.2f} s, peak RSS {sk['peak_rss_mb']:.0f} MB "
        f"(after data {sk['rss_after_data_mb']:.0f} MB; data incl. design {sk['data_mb']:.0f} MB), "
        f"recovery {sk['recovery']:.3f}, median penalty {sk['median_penalty']:.3g}"
    )
    print(f"speed-up: {sk['wall_s'] / ours['wall_s']:.1f}x")


if __name__ == "__main__":
    main()
