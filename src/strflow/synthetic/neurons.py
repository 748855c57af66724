"""The synthetic neuron model: unit plans, Gabor STRFs, the LNP rate model and spike
simulation (design: :mod:`strflow.synthetic`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from strflow.synthetic.settings import STRING_STYLES, SyntheticSettings, _log_uniform, rng_for, unit_counts


_EDGE_MARGIN = 1e-3  # spike times stay this fraction of a bin away from bin edges


@dataclass
class Unit:
    index: int
    kind: str  # single | multi | noise | tdt
    silent: bool
    sort_type_raw: str
    site: int
    electrode: int
    sortid: int
    subsort: int | None
    ldepth: float | None
    rdepth: float | None
    string_style: str
    baseline_hz: np.ndarray  # (C,)
    gain: np.ndarray  # (C,)
    strf_components: np.ndarray | None  # (C, F, L)
    name: str = ""
    heard: tuple[int, ...] = ()  # pool indices, in stim-number order
    drive_mean: np.ndarray | None = None
    drive_std: np.ndarray | None = None

    @property
    def driven(self) -> bool:
        """Has a stimulus-driven rate (single and multi units except the silent ones)."""
        return self.strf_components is not None and not self.silent


def n_lags(spec: SyntheticSettings, dt_ms: float) -> int:
    return max(1, int(round(spec.strf_ms / dt_ms)))


def gabor_strf(
    band_hz: np.ndarray,
    dt_ms: float,
    n_lag: int,
    best_hz: float,
    bw_oct: float,
    flank: float,
    latency_ms: float,
    width_ms: float,
    period_ms: float,
    phase: float,
) -> np.ndarray:
    """Separable STRF (F, L): Gabor in log-frequency x Gaussian-windowed cosine in lag, unit norm."""
    x = np.log2(np.maximum(band_hz, 1.0) / best_hz)
    freq = np.exp(-0.5 * (x / bw_oct) ** 2) - flank * np.exp(-0.5 * (x / (2.5 * bw_oct)) ** 2)
    t = (np.arange(n_lag) + 0.5) * dt_ms
    lag = np.exp(-0.5 * ((t - latency_ms) / width_ms) ** 2) * np.cos(
        2 * np.pi * (t - latency_ms) / period_ms + phase
    )
    strf = np.outer(freq, lag)
    norm = np.linalg.norm(strf)
    return strf / norm if norm > 0 else strf


def _random_strf(
    rng: np.random.Generator,
    spec: SyntheticSettings,
    band_hz: np.ndarray,
    dt_ms: float,
    n_lag: int,
    best_hz: float,
) -> np.ndarray:
    latency = rng.uniform(*spec.latency_ms)
    return gabor_strf(
        band_hz,
        dt_ms,
        n_lag,
        best_hz,
        bw_oct=rng.uniform(0.2, 0.6),
        flank=rng.uniform(0.0, 0.5),
        latency_ms=latency,
        width_ms=max(rng.uniform(5.0, 15.0), 1.5 * dt_ms),
        period_ms=max(rng.uniform(30.0, 80.0), 4 * dt_ms),
        phase=rng.uniform(-0.5, 0.5),
    )


def _kinds(spec: SyntheticSettings, animal: str) -> list[tuple[str, bool, str]]:
    """(kind, silent, sortType) of every unit index, in a seeded order."""
    c = unit_counts(spec)
    rows = (
        [("noise", False, "noise")] * c["noise"]
        + [("tdt", False, "tdt")] * c["tdt"]
        + [("multi", False, "multi")] * c["multi"]
        + [("single", True, "single")] * c["silent"]
        + [("single", False, "singl")] * c["singl"]
        + [("single", False, "single")] * (c["single"] - c["singl"])
    )
    order = rng_for(spec.seed, animal, "kinds").permutation(len(rows))
    return [rows[i] for i in order]


def _pick(rng: np.random.Generator, candidates: list[int], frac: float, minimum: int) -> set[int]:
    if frac <= 0 or not candidates:
        return set()
    n = min(len(candidates), max(minimum, round(frac * len(candidates))))
    return {candidates[i] for i in rng.choice(len(candidates), n, replace=False)}


def plan_units(spec: SyntheticSettings, animal: str, band_hz: np.ndarray, dt_ms: float) -> list[Unit]:
    """Every unit of a bird: identity, file-name parts, quirks and spike-model parameters."""
    kinds = _kinds(spec, animal)
    u = len(kinds)
    n_sites = math.ceil(u / spec.units_per_site)
    lay = rng_for(spec.seed, animal, "layout")
    site_of = np.sort(np.arange(u) % n_sites) + 1
    site_depth = {
        s: (int(lay.integers(16, 60)) * 50, int(lay.integers(16, 60)) * 50) for s in range(1, n_sites + 1)
    }
    no_ss = {i for i, k in enumerate(kinds) if k[0] in ("noise", "tdt")}
    no_ss |= _pick(
        lay, [i for i, k in enumerate(kinds) if k[0] not in ("noise", "tdt")], spec.no_subsort_fraction, 1
    )
    missing = sorted(_pick(lay, list(range(u)), spec.missing_depth_fraction, 2))
    missing_pattern = (
        {int(i): ("l", "r", "lr")[j % 3] for j, i in enumerate(lay.permutation(missing))} if missing else {}
    )
    electrodes = lay.integers(1, 33, u)
    lag = n_lags(spec, dt_ms)
    units: list[Unit] = []
    used: set[str] = set()
    ss_count: dict[tuple[int, int], int] = {}
    for i, (kind, silent, sort_raw) in enumerate(kinds):
        rng = rng_for(spec.seed, animal, "unit", i)
        site, e = int(site_of[i]), int(electrodes[i])
        ld, rd = site_depth[site]
        pattern = missing_pattern.get(i, "")
        ldepth = None if "l" in pattern else float(ld)
        rdepth = None if "r" in pattern else float(rd)
        n_comp = 2 if kind == "multi" or (spec.nonlinearity == "two_subunit" and kind == "single") else 1
        baseline = _log_uniform(rng, *spec.baseline_hz, n_comp)
        gain = rng.uniform(*spec.gain, n_comp)
        strfs = None
        if kind in ("single", "multi"):
            best = _log_uniform(rng, *spec.best_freq_hz, n_comp)
            if n_comp == 2:  # the two units of a multi-unit are tuned apart
                best[1] = best[0] * 2 ** (rng.choice([-1, 1]) * rng.uniform(0.7, 1.5))
                best = np.clip(best, *spec.best_freq_hz)
            strfs = np.stack([_random_strf(rng, spec, band_hz, dt_ms, lag, float(b)) for b in best])
        if kind in ("noise", "tdt") or silent:
            gain = np.zeros(n_comp)
        if silent:  # a valid single unit that never responds: no STRF, spontaneous firing only
            baseline = np.array([spec.silent_spont_hz])
            strfs = np.zeros_like(strfs)
        sortid, subsort = 0, None
        if i not in no_ss:
            subsort = ss_count.get((site, e), 0) + 1
            ss_count[(site, e)] = subsort
        unit = Unit(
            i,
            kind,
            silent,
            sort_raw,
            site,
            e,
            sortid,
            subsort,
            ldepth,
            rdepth,
            STRING_STYLES[i % len(STRING_STYLES)],
            baseline,
            gain,
            strfs,
        )
        while (name := unit_file_name(unit)) in used:
            unit.sortid += 1
        unit.name = name
        used.add(name)
        units.append(unit)
    return units


def unit_file_name(unit: Unit) -> str:
    """``Site<S>_L<ld>R<rd>_e<E>_s<sort>[_ss<N>].h5``; a missing depth leaves its part empty."""
    ld = f"L{int(unit.ldepth)}" if unit.ldepth is not None else ""
    rd = f"R{int(unit.rdepth)}" if unit.rdepth is not None else ""
    ss = f"_ss{unit.subsort}" if unit.subsort is not None else ""
    return f"Site{unit.site}_{ld}{rd}_e{unit.electrode}_s{unit.sortid}{ss}.h5"


def animal_stims(spec: SyntheticSettings, animal: str) -> dict[int, int]:
    """This bird's stimuli: {stim number K: pool index}, sorted by K."""
    rng = rng_for(spec.seed, animal, "stims")
    chosen = rng.choice(spec.n_stims, spec.stims_per_animal, replace=False)
    top = max(3 * spec.n_stims, 40)
    numbers = rng.choice(np.arange(1, top + 1), spec.stims_per_animal, replace=False)
    return {int(k): int(p) for k, p in sorted(zip(numbers, chosen))}


def assign_coverage(spec: SyntheticSettings, animal: str, units: list[Unit], stims: dict[int, int]) -> None:
    """Units of a site hear the same random ``coverage`` fraction of the bird's stimuli;
    a stimulus no site drew is given to one random site, so every stimulus is heard."""
    rng = rng_for(spec.seed, animal, "coverage")
    numbers = np.array(sorted(stims))
    sites = sorted({unit.site for unit in units})
    k = max(1, round(spec.coverage * numbers.shape[0]))
    heard = {s: set(rng.choice(numbers, k, replace=False).tolist()) for s in sites}
    for number in numbers.tolist():
        if not any(number in h for h in heard.values()):
            heard[sites[int(rng.integers(len(sites)))]].add(number)
    for unit in units:
        unit.heard = tuple(stims[n] for n in sorted(heard[unit.site]))


def causal_drive(strf_f: np.ndarray, strf_t: np.ndarray, x: np.ndarray, n_out: int) -> np.ndarray:
    """Drive of separable STRFs on one standardised spectrogram, zero outside the stimulus.

    ``strf_f`` (P, F) and ``strf_t`` (P, L) are the rank-1 factors; ``x`` is (F, T).
    Returns (P, n_out): ``d[p, t] = sum_{f, l} strf_f[p, f] strf_t[p, l] x[f, t - l]``.
    """
    from scipy.signal import fftconvolve

    y = np.einsum("pf,ft->pt", strf_f, x)  # (P, T); plain loops, independent of BLAS threads
    full = fftconvolve(y, strf_t, axes=1)  # (P, T + L - 1)
    out = np.zeros((y.shape[0], n_out))
    m = min(n_out, full.shape[1])
    out[:, :m] = full[:, :m]
    return out


def _rank1(strf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact rank-1 factors (f, t) of a separable STRF."""
    u, s, vt = np.linalg.svd(strf, full_matrices=False)
    return u[:, 0] * s[0], vt[0]


def drive_statistics(
    factors: tuple[np.ndarray, np.ndarray], xs: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of each process's drive over all in-stimulus bins of the pool."""
    f, t = factors
    total = np.zeros(f.shape[0])
    total_sq = np.zeros(f.shape[0])
    count = 0
    for x in xs:
        d = causal_drive(f, t, x, x.shape[1])
        total += d.sum(axis=1)
        total_sq += (d**2).sum(axis=1)
        count += d.shape[1]
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
    return mean, np.where(std > 0, std, 1.0)


def poisson_spikes(
    rng: np.random.Generator, rates_hz: np.ndarray, n_trials: int, dt_ms: float, first_bin: int
) -> tuple[np.ndarray, np.ndarray]:
    """Poisson spikes for every (unit, trial) of one stimulus.

    ``rates_hz`` is (U, B), bin ``b`` spanning ``[(first_bin + b) dt, (first_bin + b + 1) dt)``
    ms.  Returns per-(unit, trial) counts (U, R) and all spike times (s), sorted by unit,
    trial, then time.
    """
    lam = rates_hz * (dt_ms / 1000.0)
    counts = rng.poisson(lam[:, None, :], size=(lam.shape[0], n_trials, lam.shape[1]))
    ui, ri, bi = np.nonzero(counts)
    reps = counts[ui, ri, bi]
    ui, ri, bi = np.repeat(ui, reps), np.repeat(ri, reps), np.repeat(bi, reps)
    frac = rng.uniform(_EDGE_MARGIN, 1 - _EDGE_MARGIN, bi.shape[0])
    times = (bi + first_bin + frac) * (dt_ms / 1000.0)
    order = np.lexsort((times, ri, ui))
    return counts.sum(axis=2), times[order]


def unit_rates(
    unit: Unit,
    drive: np.ndarray | None,
    n_pre: int,
    n_stim: int,
    n_post: int,
    max_rate: float,
    nonlinearity: str = "exp",
) -> np.ndarray:
    """Rate (Hz) over the pre, stimulus and post bins; ``drive`` (C, n_stim + n_post) is raw.

    Per process ``baseline * exp(gain * z)`` (``exp``) or ``baseline * max(1 + gain * z, 0)``
    (``relu``), capped at ``max_rate``; ``z`` is the standardised drive.
    """
    n = n_pre + n_stim + n_post
    rates = np.empty(n)
    rates[:n_pre] = unit.baseline_hz.sum()
    if unit.silent:
        rates[n_pre:] = 0.0
    elif drive is None:
        rates[n_pre:] = unit.baseline_hz.sum()
    else:
        z = (drive - unit.drive_mean[:, None]) / unit.drive_std[:, None]
        if nonlinearity == "exp":
            shape = np.exp(unit.gain[:, None] * z)
        elif nonlinearity == "relu":
            shape = np.maximum(1.0 + unit.gain[:, None] * z, 0.0)
        elif nonlinearity == "two_subunit":
            shape = np.square(np.maximum(unit.gain[:, None] * z - 1.0, 0.0))
        else:
            raise ValueError(f"unknown nonlinearity {nonlinearity!r}")
        comp = np.minimum(unit.baseline_hz[:, None] * shape, max_rate)
        rates[n_pre:] = comp.sum(axis=0)
    return rates


@dataclass
class StimSpikes:
    number: int
    counts: np.ndarray  # (R,)
    times: np.ndarray  # all spikes, trial-major


def simulate(
    spec: SyntheticSettings,
    animal: str,
    units: list[Unit],
    stims: dict[int, int],
    xs: list[np.ndarray],
    dt_ms: float,
) -> dict[int, list[StimSpikes]]:
    """Spikes of every unit for every stimulus it heard: {unit index: [StimSpikes, ...]}."""
    driven = [u for u in units if u.driven]
    f_parts, t_parts, owner = [], [], []
    for unit in driven:
        for c, strf in enumerate(unit.strf_components):
            f, t = _rank1(strf)
            f_parts.append(f)
            t_parts.append(t)
            owner.append((unit.index, c))
    factors = (np.array(f_parts).reshape(len(f_parts), -1), np.array(t_parts).reshape(len(t_parts), -1))
    if owner:
        mean, std = drive_statistics(factors, xs)
    rows = {u.index: [] for u in driven}
    for p, (ui, c) in enumerate(owner):
        rows[ui].append(p)
    for unit in units:
        if unit.driven:
            unit.drive_mean, unit.drive_std = mean[rows[unit.index]], std[rows[unit.index]]
        else:
            unit.drive_mean, unit.drive_std = np.zeros(len(unit.baseline_hz)), np.ones(len(unit.baseline_hz))
    n_pre = int(round(spec.pre_onset_s * 1000 / dt_ms))
    n_post = int(round(spec.post_stim_s * 1000 / dt_ms))
    out: dict[int, list[StimSpikes]] = {u.index: [] for u in units}
    for number, pool_index in stims.items():
        listeners = [u for u in units if pool_index in u.heard]
        if not listeners:
            continue
        x = xs[pool_index]
        n_stim = x.shape[1]
        drive = causal_drive(factors[0], factors[1], x, n_stim + n_post) if owner else None
        rates = np.stack(
            [
                unit_rates(
                    u,
                    drive[rows[u.index]] if u.driven else None,
                    n_pre,
                    n_stim,
                    n_post,
                    spec.max_rate_hz,
                    spec.nonlinearity,
                )
                for u in listeners
            ]
        )
        rng = rng_for(spec.seed, animal, "spikes", pool_index)
        counts, times = poisson_spikes(rng, rates, spec.n_trials, dt_ms, -n_pre)
        unit_totals = counts.sum(axis=1)
        starts = np.concatenate([[0], np.cumsum(unit_totals)])
        for j, unit in enumerate(listeners):
            t_u, c_u = times[starts[j] : starts[j + 1]], counts[j].copy()
            if unit.silent and c_u[0] > 0:  # guarantee at least one -999 trial per stimulus
                t_u = t_u[c_u[0] :]
                c_u[0] = 0
            out[unit.index].append(StimSpikes(number, c_u, t_u))
    return out


def linearised_strf(unit: Unit) -> np.ndarray:
    """Unit-norm first-order STRF of a unit: sum_c baseline_c * gain_c / drive_std_c * w_c."""
    w = (unit.baseline_hz * unit.gain / unit.drive_std)[:, None, None] * unit.strf_components
    total = w.sum(axis=0)
    norm = np.linalg.norm(total)
    return total / norm if norm > 0 else total
