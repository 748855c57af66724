"""Deterministic synthetic CRCNS AA4 raw data with a known ground truth.

:func:`generate_animal` writes one bird of an AA4-like release (layout and quirks of
``shared/reference/raw_formats.md`` §6 and §14) plus a ground-truth HDF5 file holding
every number needed to check the workflow end to end: which unit files must be kept
or skipped, the stimulus registry, every trial and spike written, and each unit's
ground-truth STRF and rate model.

Design
------
Randomness.  Every random choice comes from its own ``numpy`` generator seeded with a
key: ``(seed, "pool", i)`` for stimulus ``i`` of the shared pool, ``(seed, animal,
...)`` for everything about one bird (animal names are hashed with SHA-256, never with
the salted built-in ``hash``).  So the stimulus pool (waveforms, wav bytes, md5s) is a
function of ``seed`` alone and identical in every bird, each bird can be generated in a
separate process, and a bird's units and spikes do not depend on the other birds, on
the order of generation, or on ``corrupt_units`` (corrupt files are *extra* files with
their own stream, so a run with them has exactly the same valid units as one without).

Stimulus pool (``n_stims`` sounds at ``sample_rate``, 16-bit PCM, peak 0.5):

* ``song``: a motif of 4-7 syllables repeated to fill the duration; a syllable is a
  harmonic stack (fundamental 400-1500 Hz, sweeps and vibrato, formant-like spectral
  envelope, harmonics below 8 kHz) or a band of noise;
* ``call``: 1-3 elements (harmonic stack, downsweep or noise burst), class drawn from
  the zebra-finch call vocabulary (Te, DC, Be, Ag, Di, Ne, Th, LT, Wh, Tu, So);
* ``mlnoise``: modulation-limited ripple noise, 60 log-spaced tones over 250-8000 Hz
  whose dB amplitudes follow a ripple with slowly drifting temporal (-30..30 Hz) and
  spectral (0-1.5 cyc/oct) modulation.

Each bird hears ``stims_per_animal`` pool sounds, numbered with distinct random
numbers (``wavfiles/stim<K>.wav``) that differ between birds; the wav bytes, and so
``stim_md5``, are the same everywhere.

Spike model (linear-nonlinear-Poisson, recoverable by a linear STRF fit).  The
spectrogram of each pool sound is :func:`strflow.processing.spectrogram.mel_spectrogram` of the
samples *as read back from the wav* with the caller's ``dt_ms`` and parameters, i.e.
exactly what the workflow computes.  Bands are standardised with the mean and standard
deviation over all frames of the whole pool: ``X = (S - mean) / std``.  A driven
process ``c`` has a separable Gabor STRF ``w_c`` (F bands x L lags, lag ``l`` covers
``l*dt`` ms, ``L = round(strf_ms / dt_ms)``; Gabor in frequency around a best frequency
x Gaussian-windowed cosine in lag around a latency), scaled to unit Frobenius norm.
Its drive is the causal convolution ``d[t] = sum_{f,l} w_c[f,l] X[f,t-l]`` with
``X = 0`` before onset and after the last frame (lags never cross a stimulus start),
standardised with the mean and std of ``d`` over all in-stimulus bins of the pool:
``z = (d - drive_mean) / drive_std``.  Its rate is
``min(baseline_hz * exp(gain * z), max_rate_hz)`` (``nonlinearity: exp``, the default) or
``min(baseline_hz * max(1 + gain * z, 0), max_rate_hz)`` (``nonlinearity: relu``).
With ``nonlinearity: two_subunit`` every driven unit (single units too) is the sum of two
processes tuned apart in frequency, each ``min(baseline_hz * max(gain * z - 1, 0)**2, max_rate_hz)``:
a sum of two rectified-squared subunits, which no single linear filter followed by one
output nonlinearity (LN) can represent but a network with hidden units (NRF) can.

How well a *linear* STRF can recover ``w`` (issue #5, measured with the ridge of
:mod:`strflow.strf` on the generator's own noiseless rate, gt_corr in raw-spectrogram
units): with ``exp`` and gain 0.6-1.0 the spectrograms are far from Gaussian, so the
best linear approximation of the rate is *not* proportional to ``w`` (Bussgang's
theorem needs Gaussian stimuli): median 0.71 at the demo's ~2500 training bins per
unit, ~0.87 at 41k bins, whatever the number of trials.  With ``relu`` the rate is
linear in ``w`` except where it is rectified (rare for gain <= 0.5), and the
noiseless oracle reaches >= 0.99; Poisson recovery is then limited by data only
(high-rate tercile ~0.90 at ~26k training bins x 10 trials with 100 ms lags, 0.94 at
55k x 30).  Use ``relu`` to test STRF *recovery*, ``exp`` for a realistic LNP.

* ``single`` units: one process; ``multi`` units: the sum of two processes with
  different best frequencies; ``noise`` and ``tdt`` units: homogeneous Poisson at
  ``baseline_hz``; the *silent* unit (a valid ``single``) fires only before onset.
* Bins run from ``-pre_onset_s`` to ``post_stim_s`` after the last whole bin of the
  sound.  Before onset every unit fires at its spontaneous rate ``sum(baseline_hz)``;
  after the sound the drive decays through the STRF lags.  Counts are Poisson per bin,
  spike times uniform inside the bin but at least 1/1000 of a bin away from its edges
  (so binning is never ambiguous up to float error).  A trial with no spike at all is
  written as the scalar -999, as upstream does.

Raw quirks reproduced in every bird (counts scale with ``units_per_animal``; all at
least one): 'multi', 'noise' and 'tdt' units, the 'singl' typo, string attributes
as ``str`` / ``bytes`` / numpy bytes arrays (cycling by unit), file names without
``_ss<N>`` (all noise/tdt units and some others), missing ``ldepth`` and/or ``rdepth``
attributes (and depth strings in the file name), ``class_info`` / ``extra_info``
groups, ``n_trials >= 10`` (trial names '1'..'10' sort differently as text), -999
empty trials, pre-onset and post-stimulus spikes, sparse coverage (units of one
recording site share a random ``coverage`` fraction of the bird's stimuli), the same
sound under different numbers in different birds, one unit whose stimuli evoke no
spike at all, and optionally ``corrupt_units`` garbage ``.h5`` files.

Ground-truth file (one per bird)
--------------------------------
Root attributes: ``animal``, ``seed``, ``dt_ms``, ``spectrogram_params`` (JSON),
``spec`` (JSON of the :class:`SyntheticSettings`), ``strflow_version``, ``n_lags``,
``pre_onset_s``, ``post_stim_s``, ``n_pre_bins``, ``n_post_bins``, ``max_rate_hz``,
``nonlinearity``, ``rate_model`` (text).

``/standardisation/mean``, ``/standardisation/std`` (F,) float64, band statistics over
the pool; ``/standardisation/band_hz`` (F,) band centres.

``/units/<file name>`` (e.g. ``Site1_L1400R1450_e10_s0_ss1.h5``), attributes: ``file``
(path relative to ``raw_dir``), ``cell_id`` (``<animal>/<stem>``), ``sort_type_raw``
(the sortType string as written), ``expected`` ('kept' or 'skipped'), ``skip_reason``
('' / 'sort type noise' / 'sort type tdt' / 'unreadable file'), ``kind`` ('single',
'multi', 'noise', 'tdt', 'corrupt'), ``silent`` (bool), ``site``, ``electrode``,
``sortid``, ``subsort_id`` (-1 if the name has no ``_ss``), ``ldepth``/``rdepth`` (NaN
where the attribute is missing), ``string_style``.  Datasets (none for corrupt files):
``baseline_hz``, ``gain``, ``drive_mean``, ``drive_std`` (C,) per process (C = 1,
or 2 for multi units; gain 0 for noise/tdt/silent); for single and multi units
``strf_components`` (C, F, L) and ``strf`` (F, L): the unit-norm linearisation
``sum_c baseline_c * gain_c / drive_std_c * w_c`` (= ``w`` for a single unit; both
are zeros for the silent unit, whose ``baseline_hz`` is its pre-onset rate).

``/stims``: datasets ``md5`` (str), ``number`` (int, this bird's K), ``type``,
``class``, ``duration_s``, ``n_samples``, ``sample_rate``, ``pool_index``, sorted by
``number``.

``/trials``: one row per trial written in a raw file (corrupt files excluded), ordered
by unit file name, stimulus number, trial number: ``unit`` (file name), ``stim_md5``,
``stim_number``, ``trial`` (int), ``is_empty_scalar`` (bool: written as -999),
``offset`` (int64 into ``spike_times``), ``n_spikes``; ``spike_times`` (float64, s)
holds every written spike time, concatenated (the -999 sentinel excluded).  The
columns are gzip-compressed; ``unit`` and ``stim_md5`` are fixed-length ASCII (read
them with ``.asstr()``).
"""

from strflow.synthetic.animal import generate_animal
from strflow.synthetic.settings import CALL_CLASSES, SyntheticSettings
from strflow.synthetic.sound import pool_spectrograms, stimulus_pool

__all__ = ["SyntheticSettings", "generate_animal", "stimulus_pool", "pool_spectrograms", "CALL_CLASSES"]
