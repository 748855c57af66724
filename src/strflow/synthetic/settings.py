"""Settings of the synthetic AA4 generator and its seeded random streams (design:
:mod:`strflow.synthetic`)."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np


CALL_CLASSES = ("Te", "DC", "Be", "Ag", "Di", "Ne", "Th", "LT", "Wh", "Tu", "So")


EMPTY_TRIAL = -999


STRING_STYLES = ("str", "bytes", "nparray")


NONLINEARITIES = ("exp", "relu", "two_subunit")


@dataclass(frozen=True)
class SyntheticSettings:
    """Generator settings (the ``synthetic:`` block of a dataset in ``config.yaml``)."""

    seed: int = 1
    animals: tuple[str, ...] = ("GreBlu1234M", "YelRed5678F")
    n_stims: int = 30
    stims_per_animal: int = 22
    units_per_animal: int = 20
    n_trials: int = 10
    coverage: float = 0.8
    song_duration_s: tuple[float, float] = (1.0, 2.0)
    call_duration_s: tuple[float, float] = (0.15, 0.6)
    noise_duration_s: tuple[float, float] = (1.0, 1.5)
    sample_rate: int = 24414
    corrupt_units: int = 0  # extra garbage .h5 files per bird (not counted in units_per_animal)
    # pool composition (calls are the rest)
    song_fraction: float = 0.3
    mlnoise_fraction: float = 0.15
    # unit composition; each quirk present at least once when its fraction is > 0
    units_per_site: int = 12
    multi_fraction: float = 0.3
    noise_unit_fraction: float = 0.03
    tdt_unit_fraction: float = 0.03
    silent_units: int = 1
    singl_typo_fraction: float = 0.2  # of the ordinary single units
    no_subsort_fraction: float = 0.1  # of single + multi units (noise/tdt never have _ss)
    missing_depth_fraction: float = 0.1
    # spike model
    baseline_hz: tuple[float, float] = (2.0, 30.0)  # log-uniform
    gain: tuple[float, float] = (0.6, 1.0)
    strf_ms: float = 100.0
    latency_ms: tuple[float, float] = (8.0, 30.0)
    best_freq_hz: tuple[float, float] = (500.0, 6000.0)
    max_rate_hz: float = 500.0
    nonlinearity: str = "exp"  # exp: baseline*exp(gain*z) | relu: baseline*max(1+gain*z, 0)
    # | two_subunit: every driven unit sums two subunits baseline*max(gain*z - 1, 0)**2 (not LN-representable)
    pre_onset_s: float = 0.5
    post_stim_s: float = 0.3
    silent_spont_hz: float = 1.0
    # per-trial attributes, any of bg_rate, peri_rate, pre_time, post_time (upstream
    # writes all four; each costs ~25 s per full-size bird, so only bg_rate by default)
    trial_attrs: tuple[str, ...] = ("bg_rate",)

    def __post_init__(self) -> None:
        for name in (
            "song_duration_s",
            "call_duration_s",
            "noise_duration_s",
            "baseline_hz",
            "gain",
            "latency_ms",
            "best_freq_hz",
        ):
            value = tuple(float(v) for v in getattr(self, name))
            if len(value) != 2 or not 0 <= value[0] <= value[1]:
                raise ValueError(f"{name} must be a (low, high) pair with 0 <= low <= high, got {value}")
            object.__setattr__(self, name, value)
        object.__setattr__(self, "animals", tuple(str(a) for a in self.animals))
        object.__setattr__(self, "trial_attrs", tuple(str(a) for a in self.trial_attrs))
        bad = sorted(set(self.trial_attrs) - {"bg_rate", "peri_rate", "pre_time", "post_time"})
        if bad:
            raise ValueError(f"unknown trial_attrs {bad}")
        if len(set(self.animals)) != len(self.animals) or not self.animals:
            raise ValueError(f"animals must be distinct and non-empty, got {self.animals}")
        if self.seed < 0:
            raise ValueError("seed must be >= 0")
        if self.nonlinearity not in NONLINEARITIES:
            raise ValueError(f"nonlinearity must be one of {NONLINEARITIES}, got {self.nonlinearity!r}")
        if not 1 <= self.stims_per_animal <= self.n_stims:
            raise ValueError(
                f"stims_per_animal ({self.stims_per_animal}) must be in 1..n_stims ({self.n_stims})"
            )
        if self.n_trials < 1 or self.corrupt_units < 0 or self.units_per_site < 1:
            raise ValueError("n_trials and units_per_site must be >= 1, corrupt_units >= 0")
        if not 0 < self.coverage <= 1:
            raise ValueError(f"coverage must be in (0, 1], got {self.coverage}")
        if self.song_fraction + self.mlnoise_fraction > 1:
            raise ValueError("song_fraction + mlnoise_fraction must be <= 1")
        if min(self.call_duration_s[0], self.song_duration_s[0], self.noise_duration_s[0]) < 0.05:
            raise ValueError("stimulus durations must be at least 0.05 s")
        unit_counts(self)  # validates the unit composition

    @classmethod
    def from_config(cls, cfg: dict | None) -> "SyntheticSettings":
        cfg = dict(cfg or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ValueError(f"unknown synthetic setting(s) {unknown}; known: {sorted(known)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()})

    def as_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


def _key_int(key: Any) -> int:
    if isinstance(key, (int, np.integer)):
        if key < 0:
            raise ValueError("integer keys must be >= 0")
        return int(key)
    return int.from_bytes(hashlib.sha256(str(key).encode("utf-8")).digest()[:8], "little")


def rng_for(*keys: Any) -> np.random.Generator:
    """Independent generator for a key path such as ``(seed, "pool", 3)``."""
    return np.random.default_rng(np.random.SeedSequence([_key_int(k) for k in keys]))


def _log_uniform(rng: np.random.Generator, low: float, high: float, size=None):
    return np.exp(rng.uniform(np.log(low), np.log(high), size))


def unit_counts(spec: SyntheticSettings) -> dict[str, int]:
    """Number of units of each kind per bird (noise, tdt, multi, silent, single, singl typo)."""
    u = spec.units_per_animal

    def at_least_one(frac: float, n: int) -> int:
        return max(1, round(frac * n)) if frac > 0 else 0

    counts = dict(
        noise=at_least_one(spec.noise_unit_fraction, u),
        tdt=at_least_one(spec.tdt_unit_fraction, u),
        multi=at_least_one(spec.multi_fraction, u),
        silent=spec.silent_units,
    )
    counts["single"] = u - sum(counts.values())
    if counts["single"] < 1:
        raise ValueError(f"units_per_animal={u} is too small for the quirks requested ({counts})")
    counts["singl"] = min(at_least_one(spec.singl_typo_fraction, counts["single"]), counts["single"])
    return counts
