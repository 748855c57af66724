"""The dataset API: a processed ``results/<ds>`` folder with deepSTRF's data paradigm.

>>> ds = strflow.open_dataset("results/demo")
>>> ds.stims[s]            # torch (1, F, T) spectrogram of stimulus s
>>> ds.responses[s][n]     # torch (R, T) responses, or the (1, 1) NaN sentinel if unheard
>>> ds.nrn_masks           # torch bool (S, N): which pairs were heard
>>> ds.stim_meta[s], ds.nrn_meta[n], ds.N_neurons, ds.dt, ds.F

Selection (same semantics as deepSTRF's ``NeuralDataset``): ``select_neuron``,
``select_population``, ``select_pop_by_nrn_attr``, ``select_pop_by_stim_attr``,
predicate variants, ``select_stim(s)``, ``select_stims_by_attr``, the two resets;
iteration (``len(ds)``, ``ds[i]``) covers the stimuli with at least one valid response
among the selected neurons, and neurons with no valid response among the selected
stimuli are hidden (the bidirectional rule).  The raw attributes are never filtered.

Responses are read lazily, one shard (AA4 bird) at a time, from
``responses/<shard>.h5`` (smoothed, the default) or ``binned/<shard>.h5``
(``smoothed=False``); ``nrn_masks`` comes from the coverage table without touching
any response.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch

from strflow.selection import _check_indices, _check_key, _nonempty, _safe, _values
from strflow.store.blocks import open_data, read_index
from strflow.store.grid import check_grid
from strflow.store.spectrograms import read_spectrograms
from strflow.store.tables import flat_spikes
from strflow.store.waveforms import read_waveforms

_SENTINEL_SHAPE = (1, 1)


def sentinel() -> torch.Tensor:
    """The (1, 1) all-NaN tensor that stands for an unheard (stimulus, neuron) pair."""
    return torch.full(_SENTINEL_SHAPE, float("nan"))


class _ResponseRow(Sequence):
    def __init__(self, owner: "_Responses", s: int) -> None:
        self._owner, self._s = owner, s

    def __len__(self) -> int:
        return self._owner.n_neurons

    def __getitem__(self, n):
        if isinstance(n, slice):
            return [self[i] for i in range(*n.indices(len(self)))]
        return self._owner.get(self._s, int(n))


class _Responses(Sequence):
    """``responses[s][n]`` over per-shard ragged HDF5 files, loaded on first use."""

    def __init__(self, folder: Path, kind: str, shards: list[str], cell_shard: list[str],
                 stim_index: dict[str, int], cell_index: dict[str, int], n_stims: int) -> None:
        self._folder, self._kind = folder, kind
        self._cell_shard = cell_shard
        self._stim_index, self._cell_index = stim_index, cell_index
        self._loaded: dict[str, tuple] = {}
        self.n_stims, self.n_neurons = n_stims, len(cell_shard)
        self.shards = shards

    def __len__(self) -> int:
        return self.n_stims

    def __getitem__(self, s):
        if isinstance(s, slice):
            return [self[i] for i in range(*s.indices(len(self)))]
        s = int(s)
        if not -self.n_stims <= s < self.n_stims:
            raise IndexError(f"stimulus index {s} out of range for {self.n_stims} stimuli")
        return _ResponseRow(self, s % self.n_stims)

    def _shard(self, shard: str):
        if shard not in self._loaded:
            path = self._folder / self._kind / f"{shard}.h5"
            index, _ = read_index(path)
            # blocks of stimuli without a spectrogram (NS1 DRCs) or of neurons outside
            # this dataset view (neuron filter, animals=) are not addressable
            lookup = {
                (self._stim_index[s], self._cell_index[c]): (int(o), int(r), int(t))
                for s, c, o, r, t in zip(index.stim_id, index.cell_id, index.offset, index.n_trials, index.n_bins)
                if s in self._stim_index and c in self._cell_index
            }
            # read pair by pair: memory stays at the chunk cache, whatever the dataset size
            self._loaded[shard] = (open_data(path, cache_bytes=64 << 20), lookup)
        return self._loaded[shard]

    def get(self, s: int, n: int) -> torch.Tensor:
        if not -self.n_neurons <= n < self.n_neurons:
            raise IndexError(f"neuron index {n} out of range for {self.n_neurons} neurons")
        n %= self.n_neurons
        data, lookup = self._shard(self._cell_shard[n])
        block = lookup.get((s, n))
        if block is None:
            return sentinel()
        offset, rows, bins = block
        return torch.from_numpy(data[offset : offset + rows * bins].astype(np.float32).reshape(rows, bins))


class NeuralDataset:
    """A processed dataset folder; see the module docstring."""

    def __init__(self, path: str | Path, smoothed: bool = True, animals: Sequence[str] | None = None,
                 stimulus: str = "spectrogram") -> None:
        """``animals`` restricts the dataset to those animals' neurons and the stimuli
        they heard (as deepSTRF's ``animals=`` does); ``smoothed=False`` gives raw counts.
        ``stimulus="waveform"`` makes ``stims[s]`` the (1, samples_per_bin * n_bins)
        grid-rate audio of ``waveforms.h5`` instead of the spectrogram (bin k of the
        responses covers samples [k * samples_per_bin, (k + 1) * samples_per_bin))."""
        if stimulus not in ("spectrogram", "waveform"):
            raise ValueError(f"stimulus must be 'spectrogram' or 'waveform', got {stimulus!r}")
        self.path = str(path)
        folder = Path(path)
        tables = folder / "tables"
        for name in ("stims", "neurons", "coverage", "skipped"):
            if not (tables / f"{name}.parquet").is_file():
                raise FileNotFoundError(f"{tables / (name + '.parquet')}: not found; run the workflow for this dataset first")
        stims = pq.read_table(tables / "stims.parquet")
        neurons = pq.read_table(tables / "neurons.parquet")
        coverage = pq.read_table(tables / "coverage.parquet")
        if animals is not None:
            known = set(neurons.column("animal_id").to_pylist())
            unknown = [a for a in animals if a not in known]
            if unknown:
                raise ValueError(f"{folder}: no neurons from animal(s) {unknown} (known: {sorted(known)})")
            neurons = neurons.filter(pc.is_in(neurons.column("animal_id"), pa.array(list(animals))))
            coverage = coverage.filter(pc.is_in(coverage.column("cell_id"), neurons.column("cell_id")))
            stims = stims.filter(pc.is_in(stims.column("stim_id"), coverage.column("stim_id")))
        self.skipped = pq.read_table(tables / "skipped.parquet").to_pylist()

        specs = read_spectrograms(folder / "spectrograms.h5", stims.column("stim_id").to_pylist())
        self.dt, self.spectrogram_params, self.freqs_hz = specs.dt_ms, specs.params, specs.freqs_hz
        stim_ids = list(specs.specs)
        self.stims = [torch.from_numpy(a).unsqueeze(0) for a in specs.specs.values()]
        keep = set(stim_ids)
        pre = {int(p) for p in stims.column("n_pre_bins").to_pylist()} - {0} if "n_pre_bins" in stims.column_names else set()
        # bins of the pre-stimulus window at the start of every grid (processing.pre_stim_ms)
        self.n_pre_bins = pre.pop() if pre else 0
        self.t0_s = -self.n_pre_bins * self.dt / 1000.0  # start of bin 0 relative to onset
        self.stim_meta = [self._stim_meta(row) for row in stims.to_pylist() if row["stim_id"] in keep]
        self.nrn_meta = neurons.to_pylist()
        self.neuron_columns = {f.name: f.type for f in neurons.schema}  # column -> arrow type (filters)
        self.N_neurons = len(self.nrn_meta)
        self.F = int(self.stims[0].shape[1]) if self.stims else int(self.spectrogram_params.get("n_mels", self.spectrogram_params.get("n_bands", 0)))
        self.stimulus = stimulus
        if stimulus == "waveform":
            waves, self.samples_per_bin, self.waveform_rate_hz = read_waveforms(folder / "waveforms.h5", stim_ids)
            self.stims = [torch.from_numpy(w).unsqueeze(0) for w in waves]
        stim_index = {s: i for i, s in enumerate(stim_ids)}
        cell_index = {m["cell_id"]: n for n, m in enumerate(self.nrn_meta)}
        cell_shard = [m["shard"] for m in self.nrn_meta]
        self.shards = list(dict.fromkeys(cell_shard))
        kind = "responses" if smoothed else "binned"
        check_grid(specs.path, self.dt, {s: a.shape[1] for s, a in specs.specs.items()}, tables / "stims.parquet",
                   dict(zip(stims.column("stim_id").to_pylist(), stims.column("n_bins").to_pylist())), self.n_pre_bins,
                   [folder / k / f"{shard}.h5" for k in dict.fromkeys((kind, "binned")) for shard in self.shards
                    if (folder / k / f"{shard}.h5").is_file()])
        self.responses = _Responses(
            folder, "responses" if smoothed else "binned", self.shards, cell_shard, stim_index, cell_index, len(self.stims)
        )
        self._pairs = (
            np.array([stim_index.get(s, -1) for s in coverage.column("stim_id").to_pylist()], dtype=np.int64),
            np.array([cell_index.get(c, -1) for c in coverage.column("cell_id").to_pylist()], dtype=np.int64),
        )
        self.coverage = coverage  # pyarrow Table: one row per heard pair (tables/coverage.parquet)
        quality = tables / "quality.parquet"
        self.quality = pq.read_table(quality) if quality.is_file() else None  # per-neuron noise ceiling
        self._folder = folder
        self._spikes: dict[str, tuple] = {}
        self.I: list[int] = []
        self.S_sel: list[int] | None = None
        self._nrn_masks: torch.Tensor | None = None

    @staticmethod
    def _stim_meta(row: dict) -> dict:
        meta = dict(row)
        meta["name"] = row.get("name") or row["stim_id"]  # readable name (AA4: stim85); the id stays stim_id
        return meta

    # -- availability -----------------------------------------------------------------
    @property
    def nrn_masks(self) -> torch.Tensor:
        """(S, N) bool: True where stimulus s was presented to neuron n (cached)."""
        if self._nrn_masks is None:
            mask = torch.zeros((len(self.stims), self.N_neurons), dtype=torch.bool)
            s, n = self._pairs
            ok = (s >= 0) & (n >= 0)
            mask[torch.from_numpy(s[ok]), torch.from_numpy(n[ok])] = True
            self._nrn_masks = mask
        return self._nrn_masks

    def _invalidate_nrn_masks(self) -> None:
        self._nrn_masks = None

    def bin_centres_s(self, n_bins: int) -> np.ndarray:
        """Centre of each bin of a grid, in s relative to stimulus onset."""
        return self.t0_s + (np.arange(n_bins) + 0.5) * self.dt / 1000.0

    # -- spike times (for rasters) ----------------------------------------------------
    def spike_times(self, s: int, n: int) -> list[np.ndarray]:
        """Spike times (s after onset, all of them) of each trial of a heard pair; [] if unheard."""
        shard = self.nrn_meta[n]["shard"]
        if shard not in self._spikes:
            trials = pq.read_table(self._folder / "interim" / shard / "trials.parquet")
            values, offsets = flat_spikes(trials)
            keys: dict[tuple[str, str], list[int]] = {}
            for i, key in enumerate(zip(trials.column("stim_id").to_pylist(), trials.column("cell_id").to_pylist())):
                keys.setdefault(key, []).append(i)
            order = {k: sorted(v, key=lambda i: trials.column("trial")[i].as_py()) for k, v in keys.items()}
            self._spikes[shard] = (values, offsets, order)
        values, offsets, order = self._spikes[shard]
        rows = order.get((self.stim_meta[s]["stim_id"], self.nrn_meta[n]["cell_id"]), [])
        return [values[offsets[i] : offsets[i + 1]] for i in rows]

    # -- neuron selection -------------------------------------------------------------
    # A selection that matches nothing raises (ValueError) and leaves the current one as
    # it was: deepSTRF's "empty I means every neuron" stays only where it is explicit
    # (reset_pop_selection), so a typo can never select the whole population silently.
    def _check_neurons(self, idx: Sequence[int]) -> list[int]:
        return _check_indices(idx, self.N_neurons, "neuron")

    def select_neuron(self, i: int) -> None:
        self.I = self._check_neurons([i])

    def select_population(self, idx: Sequence[int]) -> None:
        self.I = self._check_neurons(idx)

    def select_pop_by_nrn_attr(self, key: str, value) -> list[int]:
        _check_key(key, self.nrn_meta, "neuron")
        found = [n for n, m in enumerate(self.nrn_meta) if key in m and m[key] == value]
        self.I = _nonempty(found, f"no neuron has {key} == {value!r}", _values(self.nrn_meta, key))
        return self.I

    def select_pop_by_nrn_predicate(self, fn: Callable[[dict], bool]) -> list[int]:
        found = [n for n, m in enumerate(self.nrn_meta) if _safe(fn, m)]
        self.I = _nonempty(found, f"no neuron satisfies the predicate {getattr(fn, '__name__', fn)}")
        return self.I

    def select_pop_by_filter(self, spec: dict) -> list[int]:
        """Neurons passing a declarative filter (the config's ``neuron_filter`` syntax,
        see :mod:`strflow.selection`); unknown columns/operators and values of the wrong
        type raise with the valid choices."""
        from strflow.selection import check, validate

        validate(spec, self.neuron_columns, where="select_pop_by_filter")
        found = [n for n, m in enumerate(self.nrn_meta) if not check(m, spec)]
        self.I = _nonempty(found, f"no neuron passes the filter {spec}")
        return self.I

    def select_pop_by_stim_attr(self, key: str, value) -> list[int]:
        _check_key(key, self.stim_meta, "stimulus")
        found = [s for s, m in enumerate(self.stim_meta) if key in m and m[key] == value]
        return self._pop_by_stims(_nonempty(found, f"no stimulus has {key} == {value!r}", _values(self.stim_meta, key)))

    def select_pop_by_stim_predicate(self, fn: Callable[[dict], bool]) -> list[int]:
        found = [s for s, m in enumerate(self.stim_meta) if _safe(fn, m)]
        return self._pop_by_stims(_nonempty(found, f"no stimulus satisfies the predicate {getattr(fn, '__name__', fn)}"))

    def _pop_by_stims(self, s_idx: list[int]) -> list[int]:
        heard = self.nrn_masks[s_idx].any(dim=0)
        self.I = torch.nonzero(heard).flatten().tolist()
        return self.I

    def reset_pop_selection(self) -> None:
        """Select every neuron again (deepSTRF's empty ``I``)."""
        self.I = []

    # -- stimulus selection -----------------------------------------------------------
    def _check_stims(self, idx: Sequence[int]) -> list[int]:
        return _check_indices(idx, len(self.stims), "stimulus")

    def select_stim(self, i: int) -> None:
        self.S_sel = self._check_stims([i])

    def select_stims(self, idx: Sequence[int]) -> None:
        self.S_sel = self._check_stims(idx)

    def select_stims_by_attr(self, key: str, value) -> list[int]:
        _check_key(key, self.stim_meta, "stimulus")
        found = [s for s, m in enumerate(self.stim_meta) if key in m and m[key] == value]
        self.S_sel = _nonempty(found, f"no stimulus has {key} == {value!r}", _values(self.stim_meta, key))
        return self.S_sel

    def select_stims_by_predicate(self, fn: Callable[[dict], bool]) -> list[int]:
        found = [s for s, m in enumerate(self.stim_meta) if _safe(fn, m)]
        self.S_sel = _nonempty(found, f"no stimulus satisfies the predicate {getattr(fn, '__name__', fn)}")
        return self.S_sel

    def reset_stim_selection(self) -> None:
        self.S_sel = None

    # -- iteration --------------------------------------------------------------------
    def _selected(self) -> list[int]:
        base = self.I if self.I else list(range(self.N_neurons))
        if self.S_sel is None:
            return list(base)
        if not self.S_sel or not base:
            return []
        heard = self.nrn_masks[self.S_sel][:, base].any(dim=0)
        return [n for n, h in zip(base, heard.tolist()) if h]

    def _iter_idx(self) -> list[int]:
        selected = self._selected()
        if not selected:
            return []
        heard = self.nrn_masks[:, selected].any(dim=1).tolist()
        candidates = self.S_sel if self.S_sel is not None else range(len(self.stims))
        return [s for s in candidates if heard[s]]

    def __len__(self) -> int:
        return len(self._iter_idx())

    def __getitem__(self, i):
        idx = self._iter_idx()
        if isinstance(i, slice):
            items = [self._item(s) for s in idx[i]]
            return tuple(list(x) for x in zip(*items)) if items else ([], [], [], [])
        if isinstance(i, list):
            items = [self[j] for j in i]
            return tuple(list(x) for x in zip(*items)) if items else ([], [], [], [])
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"dataset indices must be int, slice or list, not {type(i).__name__}")
        if not -len(idx) <= i < len(idx):
            raise IndexError(f"index {i} out of range for {len(idx)} iterable stimuli")
        return self._item(idx[i])

    def _item(self, s: int):
        selected = self._selected()
        row = self.responses[s]
        return self.stims[s], [row[n] for n in selected], self.nrn_masks[s][selected], self.stim_meta[s]

    def __repr__(self) -> str:
        m = self.nrn_masks
        cov = float(m.float().mean()) if m.numel() else 0.0
        return (
            f"NeuralDataset(path={self.path!r}, stimuli={len(self.stims)}, neurons={self.N_neurons}, "
            f"dt={self.dt:g} ms, F={self.F}, heard pairs={int(m.sum())} ({cov:.1%}), "
            f"skip records={len(self.skipped)})"
        )


class _PooledResponses(_Responses):
    """``responses[s][n]`` of a pooled dataset: each neuron's own dataset answers, for
    the stimuli that dataset has; everything else is the NaN sentinel."""

    def __init__(self, parts: list["NeuralDataset"], neuron_part: list[tuple[int, int]],
                 stim_local: list[dict[int, int]]) -> None:
        self._parts, self._neuron_part, self._stim_local = parts, neuron_part, stim_local
        self.n_stims, self.n_neurons = len(stim_local), len(neuron_part)

    def locate(self, s: int, n: int) -> tuple[int, int | None, int]:
        """(dataset index, its stimulus index or None if it never played s, its neuron index)."""
        if not -self.n_neurons <= n < self.n_neurons:
            raise IndexError(f"neuron index {n} out of range for {self.n_neurons} neurons")
        d, local_n = self._neuron_part[n % self.n_neurons]
        return d, self._stim_local[s].get(d), local_n

    def get(self, s: int, n: int) -> torch.Tensor:
        d, local_s, local_n = self.locate(s, n)
        return sentinel() if local_s is None else self._parts[d].responses[local_s][local_n]


class PooledDataset(NeuralDataset):
    """Several processed datasets as one population (see :func:`concat_datasets`)."""

    def __init__(self, datasets: dict[str, NeuralDataset]) -> None:
        # Built from already opened parts (not from a folder): NeuralDataset.__init__ is
        # not called; the selection API only needs the attributes set here.
        if not datasets:
            raise ValueError("concat_datasets: no datasets given")
        names, parts = list(datasets), list(datasets.values())
        first = parts[0]
        for name, ds in zip(names[1:], parts[1:]):
            for what, a, b in (("bin width dt_ms", first.dt, ds.dt),
                               ("spectrogram settings", first.spectrogram_params, ds.spectrogram_params),
                               ("pre-stimulus bins", first.n_pre_bins, ds.n_pre_bins)):
                if a != b:
                    raise ValueError(f"concat_datasets: {names[0]!r} and {name!r} differ in {what} ({a} vs {b}); "
                                     "process them with the same settings to pool them")
            if not np.array_equal(first.freqs_hz, ds.freqs_hz):
                raise ValueError(f"concat_datasets: {names[0]!r} and {name!r} have different mel band centres")
        self.path = " + ".join(p.path for p in parts)
        self.dt, self.spectrogram_params, self.freqs_hz = first.dt, first.spectrogram_params, first.freqs_hz
        self.n_pre_bins, self.t0_s, self.F = first.n_pre_bins, first.t0_s, first.F
        self.parts = dict(datasets)
        # Stimuli: the union by stim_id, in dataset order.  A stim_id in several datasets is
        # one sound (md5 of the wav) and must have the same spectrogram in each.
        index: dict[str, int] = {}
        self.stims, self.stim_meta, stim_local = [], [], []
        for d, (name, ds) in enumerate(datasets.items()):
            for s, meta in enumerate(ds.stim_meta):
                sid = meta["stim_id"]
                if sid not in index:
                    index[sid] = len(self.stims)
                    self.stims.append(ds.stims[s])
                    self.stim_meta.append(dict(meta, datasets=[name]))
                    stim_local.append({})
                else:
                    g = index[sid]
                    if not torch.equal(self.stims[g], ds.stims[s]):
                        raise ValueError(f"concat_datasets: stimulus {sid} has different spectrograms in "
                                         f"{self.stim_meta[g]['datasets'][0]!r} and {name!r}")
                    self.stim_meta[g]["datasets"].append(name)
                stim_local[index[sid]][d] = s
        # Neurons: every dataset's, in order, tagged with their dataset (cell ids need only
        # be unique within a dataset).
        self.nrn_meta, neuron_part, pairs_s, pairs_n = [], [], [], []
        to_global: list[dict[int, int]] = [{} for _ in parts]  # per dataset: local stim -> pooled
        for g, local in enumerate(stim_local):
            for d, s in local.items():
                to_global[d][s] = g
        for d, (name, ds) in enumerate(datasets.items()):
            offset = len(self.nrn_meta)
            self.nrn_meta += [dict(m, dataset=name) for m in ds.nrn_meta]
            neuron_part += [(d, n) for n in range(ds.N_neurons)]
            s_loc, n_loc = ds._pairs
            ok = (s_loc >= 0) & (n_loc >= 0)
            pairs_s.append(np.array([to_global[d][int(s)] for s in s_loc[ok]], dtype=np.int64))
            pairs_n.append(n_loc[ok] + offset)
        self.N_neurons = len(self.nrn_meta)
        self.neuron_columns = {k: t for ds in parts for k, t in ds.neuron_columns.items()} | {"dataset": pa.string()}
        self._pairs = (np.concatenate(pairs_s), np.concatenate(pairs_n))
        self.responses = _PooledResponses(parts, neuron_part, stim_local)
        self.shards = [f"{name}/{shard}" for name, ds in datasets.items() for shard in ds.shards]
        self.skipped = [dict(r, dataset=name) for name, ds in datasets.items() for r in ds.skipped]
        self.coverage = _tagged_concat({n: ds.coverage for n, ds in datasets.items()})
        qualities = {n: ds.quality for n, ds in datasets.items() if ds.quality is not None}
        self.quality = _tagged_concat(qualities) if len(qualities) == len(parts) else None
        self.I, self.S_sel, self._nrn_masks = [], None, None

    def spike_times(self, s: int, n: int) -> list[np.ndarray]:
        d, local_s, local_n = self.responses.locate(s, n)
        return [] if local_s is None else self.responses._parts[d].spike_times(local_s, local_n)


def _tagged_concat(tables: dict[str, pa.Table]) -> pa.Table:
    tagged = [t.append_column("dataset", pa.array([name] * t.num_rows, pa.string())) for name, t in tables.items()]
    return pa.concat_tables(tagged, promote_options="permissive")


def concat_datasets(datasets: dict[str, NeuralDataset] | Sequence[NeuralDataset]) -> PooledDataset:
    """Pool processed datasets (e.g. AA1, AA2 and AA4) into one population.

    ``datasets``: ``{name: NeuralDataset}`` (or a list, named by their paths).  They must
    share the time grid and spectrogram settings (``dt_ms``, spectrogram parameters,
    pre-stimulus window): pooling is refused otherwise.  Stimuli are the union by
    ``stim_id`` (a shared md5 is one sound: its spectrogram must agree, and
    ``stim_meta[s]["datasets"]`` lists where it was played); neurons are every dataset's,
    in order, with ``nrn_meta[n]["dataset"]``; a neuron has the NaN sentinel for every
    stimulus its dataset did not play.  The selection API then works across datasets::

        zf = strflow.concat_datasets({"aa1": aa1, "aa2": aa2, "aa4": aa4})
        zf.select_pop_by_nrn_attr("species", "zebra finch")
        zf.select_pop_by_nrn_predicate(lambda m: m.get("area") in ("MLd", "mld"))
    """
    if not isinstance(datasets, dict):
        datasets = {ds.path: ds for ds in datasets}
    return PooledDataset(datasets)


def neural_collate(batch):
    """Collate ``ds[i]`` items into padded tensors.

    Returns ``(stims, responses, valid_mask, stim_meta)``: stims (B, 1, F, T_max)
    zero-padded on the right; responses (B, N_sel, R_max, T_max) NaN-padded along time
    and repeats (sentinels become all-NaN rows); ``valid_mask = ~isnan(responses)``.
    Waveforms (``stimulus="waveform"``): stims (B, 1, samples_max) zero-padded, and
    T_max is the longest stimulus' ``n_bins``.
    """
    stims, responses, _, metas = zip(*batch)
    t_max = max(s.shape[-1] for s in stims)
    out_stims = torch.zeros((len(stims),) + tuple(stims[0].shape[:-1]) + (t_max,), dtype=stims[0].dtype)
    for b, s in enumerate(stims):
        out_stims[b, ..., : s.shape[-1]] = s
    if stims[0].dim() == 2:  # waveforms (1, samples): responses have their own time axis (bins)
        t_max = max(int(m["n_bins"]) for m in metas)
    n_sel = max((len(r) for r in responses), default=0)
    r_max = max((x.shape[0] for r in responses for x in r), default=1)
    out = torch.full((len(stims), n_sel, r_max, t_max), float("nan"))
    for b, row in enumerate(responses):
        for n, x in enumerate(row):
            if tuple(x.shape) == _SENTINEL_SHAPE and torch.isnan(x).all():
                continue
            out[b, n, : x.shape[0], : x.shape[1]] = x
    return out_stims, out, ~torch.isnan(out), list(metas)
