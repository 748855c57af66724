"""The AA4 reader's HDF5 fast path against its libhdf5 path (the reference).

``AA4Options(hdf5_fast_path=True)`` decodes plain trial groups and their
``spike_times`` straight from the file image; ``False`` reads everything through
libhdf5 (h5py).  Every expectation here is the ``False`` result: the two paths must
give bit-identical tables, the same errors, and the fast path must hand every layout it
does not decode to libhdf5 (observed by counting calls of the libhdf5 trial reader).
Edge-case files are written with h5py here, independently of the decoder.
"""

from __future__ import annotations

import dataclasses

import random
import re
import shutil
from pathlib import Path

import h5py
import jsonschema
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import REPO, write_wav

from strflow import steps
from strflow.readers import aa4
from strflow.readers.aa4 import AA4Options, read_animal
from strflow.spectrogram import SpectrogramParams
from strflow.synthetic import generate_animal
from test_synthetic import TINY

TABLES = ("trials", "neurons", "stims", "skipped")


# --- comparison helpers ---------------------------------------------------------------


def _assert_arrays_identical(a: pa.Array, b: pa.Array, where: str) -> None:
    assert a.type == b.type, where
    assert len(a) == len(b), where
    assert a.null_count == b.null_count and a.is_null().equals(b.is_null()), f"{where}: nulls differ"
    if pa.types.is_list(a.type) or pa.types.is_large_list(a.type):
        assert np.array_equal(a.offsets.to_numpy(), b.offsets.to_numpy()), f"{where}: list lengths differ"
        _assert_arrays_identical(a.values, b.values, where + "[]")  # offsets start at 0 (fresh arrays)
    elif pa.types.is_floating(a.type):
        # NaN-aware and sign-aware: the bits must match (NaN == NaN, -0.0 != 0.0)
        valid = ~np.asarray(a.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        va = np.asarray(a.to_numpy(zero_copy_only=False), dtype=np.float64)[valid]
        vb = np.asarray(b.to_numpy(zero_copy_only=False), dtype=np.float64)[valid]
        assert va.view(np.uint64).tobytes() == vb.view(np.uint64).tobytes(), f"{where}: values differ"
    else:
        assert a.equals(b), f"{where}: values differ"


def assert_tables_identical(a: pa.Table, b: pa.Table, name: str) -> None:
    assert a.schema == b.schema, name
    assert a.num_rows == b.num_rows, name
    for column in a.column_names:
        _assert_arrays_identical(a.column(column).combine_chunks(), b.column(column).combine_chunks(), f"{name}.{column}")


def assert_shards_identical(fast, reference) -> None:
    for name in TABLES:
        assert_tables_identical(getattr(fast, name), getattr(reference, name), name)


def test_comparison_helper_is_bitwise_and_nan_aware():
    def table(values):
        return pa.table({"x": pa.array([values], pa.list_(pa.float64()))})

    assert_tables_identical(table([np.nan, 0.1]), table([np.nan, 0.1]), "t")
    for other in ([0.0, 0.1], [np.nan, np.nextafter(0.1, 1.0)], [np.nan]):
        with pytest.raises(AssertionError):
            assert_tables_identical(table([np.nan, 0.1]), table(other), "t")
    with pytest.raises(AssertionError):
        assert_tables_identical(table([-0.0]), table([0.0]), "t")


# --- observing which path reads what ------------------------------------------------------


class PathSpy:
    """Counts what goes through libhdf5 and what the decoder was asked to do."""

    def __init__(self, monkeypatch):
        self.libhdf5_reads: list[tuple[str, str]] = []  # (stim group, trial) read by libhdf5
        self.listings: list[bool] = []  # per decoded stimulus: True if the decoder listed it
        self.image_reads = 0  # _f64_data calls
        read, listing, f64 = aa4.read_spike_times_lowlevel, aa4._trial_listing, aa4._f64_data

        def counting_read(stim_id, trial_name, where):
            self.libhdf5_reads.append((where.split(":/", 1)[1], trial_name))
            return read(stim_id, trial_name, where)

        def counting_listing(image, address):
            try:
                result = listing(image, address)
            except Exception:
                self.listings.append(False)
                raise
            self.listings.append(True)
            return result

        def counting_f64(image, address):
            self.image_reads += 1
            return f64(image, address)

        monkeypatch.setattr(aa4, "read_spike_times_lowlevel", counting_read)
        monkeypatch.setattr(aa4, "_trial_listing", counting_listing)
        monkeypatch.setattr(aa4, "_f64_data", counting_f64)

    def reset(self):
        self.libhdf5_reads.clear()
        self.listings.clear()
        self.image_reads = 0


def read_both(raw, animal, spy: PathSpy | None = None, **options):
    """(fast result, reference result), checking that the reference never used the decoder."""
    fast = read_animal(raw, animal, AA4Options(hdf5_fast_path=True, **options))
    fast_reads = list(spy.libhdf5_reads) if spy else None
    fast_listings = list(spy.listings) if spy else None
    if spy:
        spy.reset()
    reference = read_animal(raw, animal, AA4Options(hdf5_fast_path=False, **options))
    if spy:
        assert spy.listings == [] and spy.image_reads == 0, "hdf5_fast_path=False used the decoder"
        assert len(spy.libhdf5_reads) == reference.trials.num_rows + _skipped_trials(reference)
        spy.libhdf5_reads[:] = fast_reads
        spy.listings[:] = fast_listings
    return fast, reference


def _skipped_trials(shard) -> int:
    return sum(1 for r in shard.skipped.to_pylist() if r["what"] == "trial")


# --- the hand-built fixture and a synthetic release ------------------------------------------


@pytest.mark.parametrize("empty_trials", ["keep", "skip"])
def test_fixture_identical_with_and_without_fast_path(aa4_raw, monkeypatch, empty_trials):
    spy = PathSpy(monkeypatch)
    for animal in ("AaaBbb0001M", "CccDdd0002F"):
        fast, reference = read_both(aa4_raw, animal, spy, empty_trials=empty_trials)
        assert_shards_identical(fast, reference)
        assert reference.trials.num_rows > 0
        # the fixture is the plain layout h5py writes: everything decoded from the image
        assert spy.libhdf5_reads == [] and spy.listings and all(spy.listings)
        spy.reset()


SYNTHETIC = dataclasses.replace(TINY, animals=("GreBlu1234M",), corrupt_units=1)  # one bird, one garbage unit


@pytest.fixture(scope="module")
def synthetic_raw(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synthetic")
    for animal in SYNTHETIC.animals:
        generate_animal(root / "raw", root / "gt" / f"{animal}.h5", animal, SYNTHETIC, 5.0,
                        SpectrogramParams(fmin_hz=250.0, fmax_hz=8000.0))
    return root / "raw"


@pytest.mark.parametrize("empty_trials", ["keep", "skip"])
def test_synthetic_release_identical_with_and_without_fast_path(synthetic_raw, monkeypatch, empty_trials):
    spy = PathSpy(monkeypatch)
    fast, reference = read_both(synthetic_raw, "GreBlu1234M", spy, empty_trials=empty_trials, on_unreadable="skip")
    assert_shards_identical(fast, reference)
    assert reference.trials.num_rows >= 100
    assert any(r["reason"].startswith("unreadable") for r in reference.skipped.to_pylist())  # the garbage unit
    assert spy.libhdf5_reads == [] and all(spy.listings)


# --- edge-case layouts -------------------------------------------------------------------------


def _stim_attrs(group, number, stim_type="song"):
    group.attrs["stim_type"] = stim_type
    group.attrs["stim_md5"] = f"{number:032x}"
    group.attrs["stim_class"] = "x"
    group.attrs["stim_duration"] = 0.5


def _basic_trials(stim, rng, n=12, **dataset_kw):
    for t in range(1, n + 1):
        trial = stim.create_group(str(t))
        x = np.sort(rng.uniform(-0.2, 0.6, rng.poisson(5))) if t % 4 else np.float64(-999.0)
        trial.create_dataset("spike_times", data=x, **(dataset_kw if np.ndim(x) else {}))
        trial.create_dataset("spike_ids", data=np.arange(np.size(x)))
        trial.attrs["bg_rate"] = 1.0


def _simple(f, rng, **dataset_kw):
    for k in (1, 2):
        stim = f.create_group(f"Song/{k}")
        _stim_attrs(stim, k)
        _basic_trials(stim, rng, **dataset_kw)


def _many(f, rng):  # 3 x 300 trials: multi-level symbol-table B-trees
    for k in range(1, 4):
        stim = f.create_group(f"Song/{k}")
        _stim_attrs(stim, k)
        _basic_trials(stim, rng, n=300)


def _dtypes(f, rng):
    stim = f.create_group("Call/3")
    _stim_attrs(stim, 3, "call")
    values = {
        "1": np.array([0.1, 0.2], "<f4"),
        "2": np.array([0.3, -0.1, 0.2], ">f8"),
        "3": np.int64(-999),
        "4": np.array([[0.1, 0.2], [0.05, 0.3]]),
        "5": np.zeros(0),
        "6": np.array([np.nan, -0.0, 0.0, 1e-300, -np.inf]),
        "7": np.array([1, 2], "<i4"),
        "8": np.float32(-999),
        "9": np.array([-999.0]),
        "10": np.array([-999.0, 0.1]),
        "11": np.array([[0.2]], ">f8"),
        "12": np.array([-0.0]),
    }
    for t, v in values.items():
        stim.create_group(t).create_dataset("spike_times", data=v)


def _links(f, rng):
    stim = f.create_group("Song/1")
    _stim_attrs(stim, 1)
    _basic_trials(stim, rng, n=5)
    stim["6"] = h5py.SoftLink("/Song/1/1")  # soft-linked trial group
    stim.create_group("7")["spike_times"] = h5py.SoftLink("/Song/1/2/spike_times")  # soft-linked dataset
    stim["8"] = stim["3"]  # hard link to an existing trial group
    stim.create_group("9")["spike_times"] = stim["4/spike_times"]  # hard-linked dataset
    f["Song2/1"] = stim  # the same stimulus group under a second class group
    stim2 = f.create_group("Song/2")
    _stim_attrs(stim2, 2)
    _basic_trials(stim2, rng, n=3)
    f["Song3/2"] = stim2


def _attributes(f, rng):  # object header continuation blocks, long names
    stim = f.create_group("Song/4")
    _stim_attrs(stim, 4)
    for t in range(1, 6):
        trial = stim.create_group(str(t))
        data = trial.create_dataset("spike_times", data=rng.uniform(0, 1, 7))
        for a in range(40):
            trial.attrs[f"attribute_number_{a}"] = np.arange(a + 1.0)
            data.attrs[f"attribute_number_{a}"] = np.arange(a + 1.0)
    stim.create_group("10").create_dataset("spike_times", data=[0.5])
    for a in range(60):
        stim.attrs[f"more_{a}"] = "x" * a


def _compact(f, rng):
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_layout(h5py.h5d.COMPACT)
    stim = f.create_group("MLnoise/5")
    _stim_attrs(stim, 5, "mlnoise")
    for t in range(1, 8):
        trial = stim.create_group(str(t))
        x = rng.uniform(0, 1, t) if t != 3 else np.array(-999.0)
        space = h5py.h5s.create(h5py.h5s.SCALAR) if x.ndim == 0 else h5py.h5s.create_simple(x.shape)
        dataset = h5py.h5d.create(trial.id, b"spike_times", h5py.h5t.IEEE_F64LE, space, dcpl=dcpl)
        dataset.write(h5py.h5s.ALL, h5py.h5s.ALL, np.ascontiguousarray(x))


def _tracked(f, rng):  # creation-order-tracked groups: new-style link storage
    stim = f.create_group("Song/1", track_order=True)
    _stim_attrs(stim, 1)
    for t in range(1, 4):
        stim.create_group(str(t), track_order=True).create_dataset("spike_times", data=[0.1 * t])


def _tracked_trials(f, rng):  # old-style stimulus group, creation-order-tracked trial groups
    stim = f.create_group("Song/1")
    _stim_attrs(stim, 1)
    for t in range(1, 4):
        stim.create_group(str(t), track_order=True).create_dataset("spike_times", data=[0.1 * t, -0.0])
    stim.create_group("4").create_dataset("spike_times", data=[0.4])


def _unallocated(f, rng):
    stim = f.create_group("Song/2")
    _stim_attrs(stim, 2)
    stim.create_group("1").create_dataset("spike_times", shape=(3,), dtype="f8")
    stim.create_group("2").create_dataset("spike_times", shape=(2,), dtype="f8", fillvalue=0.25)
    stim.create_group("3").create_dataset("spike_times", data=[0.2])


def _external(f, rng):
    stim = f.create_group("Song/3")
    _stim_attrs(stim, 3)
    external = Path(f.filename).with_name("external.bin")
    np.array([0.1, 0.2, 0.3]).tofile(external)
    stim.create_group("1").create_dataset("spike_times", shape=(3,), dtype="<f8", external=[(str(external), 0, 24)])
    stim.create_group("2").create_dataset("spike_times", data=[0.3])


# name: (writer, h5py.File keywords, trials read through libhdf5 with the fast path on:
#        "none", "all", or the set of (stim group path, trial) pairs)
EDGE_CASES = {
    "plain_many_trials": (_many, {}, "none"),
    "libver_latest": (_simple, dict(libver="latest"), "all"),
    "libver_v110": (_simple, dict(libver=("v110", "latest")), "all"),
    "gzip_chunked": (lambda f, rng: _simple(f, rng, chunks=True, compression="gzip"), {}, "arrays"),
    "dtypes": (_dtypes, {}, {("Call/3", t) for t in ("1", "3", "7", "8")}),
    "links": (_links, {}, {(g, t) for g in ("Song/1", "Song2/1") for t in ("6", "7")}),
    "many_attributes": (_attributes, {}, "none"),
    "user_block": (_simple, dict(userblock_size=512), "all"),
    "compact": (_compact, {}, "none"),
    "compact_v108": (_compact, dict(libver=("v108", "v108")), "all"),
    "track_order": (_tracked, {}, "all"),
    "track_order_trials": (_tracked_trials, {}, {("Song/1", t) for t in ("1", "2", "3")}),
    "unallocated": (_unallocated, {}, {("Song/2", "1"), ("Song/2", "2")}),
    "external_storage": (_external, {}, {("Song/3", "1")}),
}


@pytest.fixture(scope="module")
def edge_raw(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("edge") / "raw"
    for i, (name, (writer, file_kw, _)) in enumerate(sorted(EDGE_CASES.items())):
        bird = root / f"Edge{i:02d}"
        for k in range(1, 6):
            write_wav(bird / "wavfiles" / f"stim{k}.wav", 0.2, 500 * k)
        rng = np.random.default_rng(i)
        with h5py.File(bird / "Site1_L1R1_e1_s0.h5", "w", **file_kw) as f:
            f.attrs["sortType"] = np.bytes_(b"single")
            f.attrs["site"] = "Site1"
            f.attrs["electrode"] = 3
            writer(f, rng)
    return root


def _edge_bird(name: str) -> str:
    return f"Edge{sorted(EDGE_CASES).index(name):02d}"


def _reference_reads(raw: Path, bird: str, which: str) -> set[tuple[str, str]]:
    """Every (stim group path, trial) of the file, or those whose spike_times is not a scalar."""
    out = set()
    with h5py.File(raw / bird / "Site1_L1R1_e1_s0.h5", "r") as f:
        for cls in f:
            for stim in f[cls]:
                for trial in f[cls][stim]:
                    if which == "all" or f[cls][stim][trial]["spike_times"].ndim:
                        out.add((f"{cls}/{stim}", trial))
    return out


@pytest.mark.parametrize("case", sorted(EDGE_CASES))
@pytest.mark.parametrize("empty_trials", ["keep", "skip"])
def test_edge_layouts_identical_and_fallback_taken(edge_raw, monkeypatch, case, empty_trials):
    spy = PathSpy(monkeypatch)
    bird = _edge_bird(case)
    fast, reference = read_both(edge_raw, bird, spy, empty_trials=empty_trials)
    assert_shards_identical(fast, reference)
    assert reference.trials.num_rows > 0
    expected = EDGE_CASES[case][2]
    reads = set(spy.libhdf5_reads)
    assert len(reads) == len(spy.libhdf5_reads)  # no trial read twice
    if expected == "none":
        assert reads == set() and all(spy.listings), "the plain layout must not fall back"
    elif expected in ("all", "arrays"):
        assert reads == _reference_reads(edge_raw, bird, expected)
    else:
        assert reads == expected


def test_edge_values_survive_both_paths(edge_raw):
    """A few values checked by hand, so the shared reference is itself right."""
    shard = read_animal(edge_raw, _edge_bird("dtypes"), AA4Options(hdf5_fast_path=True))
    trials = {r["trial"]: r["spike_times_s"] for r in shard.trials.to_pylist()}
    assert trials[1] == pytest.approx([0.1, 0.2]) and trials[2] == [-0.1, 0.2, 0.3]
    assert trials[3] == [] and trials[8] == [] and trials[9] == [] and trials[5] == []
    assert trials[4] == [0.05, 0.1, 0.2, 0.3] and trials[10] == [-999.0, 0.1] and trials[11] == [0.2]
    assert np.signbit(trials[12][0])
    six = np.array(trials[6])
    assert np.isneginf(six[0]) and np.isnan(six[-1]) and np.signbit(six[1]) == (not np.signbit(six[2]))


# --- errors ----------------------------------------------------------------------------------


def _error_bird(root: Path, fill=None) -> Path:
    """One bird, one unit with three ordinary trials (+ whatever ``fill`` adds)."""
    bird = root / "ErrBrd0001M"
    write_wav(bird / "wavfiles" / "stim1.wav", 0.2)
    path = bird / "Site1_L1R1_e1_s0.h5"
    with h5py.File(path, "w") as f:
        f.attrs["sortType"] = "single"
        stim = f.create_group("Song/1")
        stim.attrs["stim_type"] = "song"
        stim.attrs["stim_md5"] = "ab" * 16
        for t in range(1, 4):
            stim.create_group(str(t)).create_dataset("spike_times", data=[0.1 * t, 0.2])
        if fill is not None:
            fill(f, stim)
    return path


def _outcome(raw: Path, fast: bool, **options):
    try:
        shard = read_animal(raw, "ErrBrd0001M", AA4Options(hdf5_fast_path=fast, **options))
    except Exception as exc:  # noqa: BLE001 - the outcome is compared, whatever it is
        return type(exc), str(exc)
    return shard


def _assert_same_outcome(raw: Path, message_too: bool = True, **options):
    fast, reference = _outcome(raw, True, **options), _outcome(raw, False, **options)
    if isinstance(reference, tuple):
        assert isinstance(fast, tuple), f"libhdf5 raised {reference} but the fast path returned a table"
        assert fast[0] is reference[0], (fast, reference)
        if message_too:
            assert fast[1] == reference[1]
    else:
        assert not isinstance(fast, tuple), f"the fast path raised {fast} but libhdf5 returned a table"
        assert_shards_identical(fast, reference)
    return reference


def test_truncated_file_same_error_both_paths(tmp_path):
    path = _error_bird(tmp_path)
    image = path.read_bytes()
    path.write_bytes(image[: len(image) // 2])
    for fast in (True, False):
        with pytest.raises(ValueError, match=f"{path.name}.*cannot open as HDF5"):
            read_animal(tmp_path, "ErrBrd0001M", AA4Options(hdf5_fast_path=fast))
    _assert_same_outcome(tmp_path)
    skipped = _assert_same_outcome(tmp_path, on_unreadable="skip")
    assert [r["reason"].startswith("unreadable") for r in skipped.skipped.to_pylist()] == [True]


ERROR_FILLS = {
    "missing_spike_times": lambda f, stim: stim.create_group("4"),
    "trial_is_a_dataset": lambda f, stim: stim.create_dataset("5", data=[1.0]),
    "spike_times_is_a_group": lambda f, stim: stim.create_group("6/spike_times"),
    "dangling_soft_link": lambda f, stim: stim.__setitem__("7", h5py.SoftLink("/nowhere")),
    "string_spike_times": lambda f, stim: stim.create_group("8").create_dataset("spike_times", data=b"abc"),
}


@pytest.mark.parametrize("case", sorted(ERROR_FILLS))
def test_malformed_units_same_error_both_paths(tmp_path, case):
    path = _error_bird(tmp_path, ERROR_FILLS[case])
    reference = _assert_same_outcome(tmp_path)
    assert isinstance(reference, tuple), "every malformed unit is an error"
    if case == "missing_spike_times":
        assert reference[0] is ValueError
        assert f"ErrBrd0001M/{path.name}:/Song/1/4: trial group without a spike_times dataset" in reference[1]
        for fast in (True, False):
            with pytest.raises(ValueError, match=f"{path.name}:/Song/1/4: trial group without a spike_times"):
                read_animal(tmp_path, "ErrBrd0001M", AA4Options(hdf5_fast_path=fast))


N_CORRUPTED = 30


def test_corrupted_bytes_never_give_a_different_table(tmp_path):
    """Fixed-seed byte corruption of a unit file: the fast path gives the libhdf5 path's
    table, or fails with the same exception type; never a silently different table."""
    base_dir = tmp_path / "base"
    rng = np.random.default_rng(7)

    def fill(f, stim):
        for t in range(4, 40):  # enough trials for a B-tree of several symbol nodes
            x = np.sort(rng.uniform(-0.1, 0.5, 1 + t % 6)) if t % 7 else np.float64(-999.0)
            trial = stim.create_group(str(t))
            trial.create_dataset("spike_times", data=x)
            trial.attrs["bg_rate"] = 1.0

    clean = _error_bird(base_dir, fill).read_bytes()
    outcomes = {"table": 0, "error": 0}
    for seed in range(N_CORRUPTED):
        r = random.Random(seed)
        image = bytearray(clean)
        # half the copies get one corrupted byte (often still readable), half eight
        for _ in range(1 if seed % 2 else 8):
            image[r.randrange(96, len(image))] = r.randrange(256)
        raw = tmp_path / f"c{seed:02d}"
        shutil.copytree(base_dir, raw)
        (raw / "ErrBrd0001M" / "Site1_L1R1_e1_s0.h5").write_bytes(bytes(image))
        reference = _assert_same_outcome(raw, message_too=False)
        outcomes["error" if isinstance(reference, tuple) else "table"] += 1
    assert outcomes["table"] >= 5 and outcomes["error"] >= 1, outcomes  # both kinds exercised


def test_corrupted_structures_never_give_a_different_table(tmp_path):
    """Targeted corruption of the structures the decoder walks (B-tree nodes, symbol
    nodes, local heaps): version, level, entry count, first key or child address."""
    base_dir = tmp_path / "base"
    clean = _error_bird(base_dir, lambda f, stim: [stim.create_group(str(t)).create_dataset(
        "spike_times", data=[0.01 * t]) for t in range(4, 30)]).read_bytes()
    targets = [(match.start(), shift) for match in re.finditer(rb"TREE|SNOD|HEAP", clean)
               for shift in (4, 5, 6, 8, 24, 32)]
    assert len(targets) >= 48
    for i, (at, shift) in enumerate(sorted(random.Random(0).sample(targets, 48))):
        image = bytearray(clean)
        image[at + shift] ^= 0x01 if i % 2 else 0x80
        raw = tmp_path / f"s{i:02d}"
        shutil.copytree(base_dir, raw)
        (raw / "ErrBrd0001M" / "Site1_L1R1_e1_s0.h5").write_bytes(bytes(image))
        _assert_same_outcome(raw, message_too=False)



def test_corrupted_dataset_headers_never_give_a_different_table(tmp_path):
    """One byte changed inside the object header of a ``spike_times`` dataset
    (dataspace, datatype, layout: contiguous and compact), 40 fixed-seed copies."""
    base_dir = tmp_path / "base"
    headers = []

    def fill(f, stim):
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_layout(h5py.h5d.COMPACT)
        for t in range(4, 16):
            x = np.linspace(-0.1, 0.4, 1 + t % 5)
            trial = stim.create_group(str(t))
            if t % 3:
                dataset = trial.create_dataset("spike_times", data=x).id
            else:
                dataset = h5py.h5d.create(trial.id, b"spike_times", h5py.h5t.IEEE_F64LE,
                                          h5py.h5s.create_simple(x.shape), dcpl=dcpl)
                dataset.write(h5py.h5s.ALL, h5py.h5s.ALL, x)
            headers.append(h5py.h5o.get_info(dataset).addr)

    clean = _error_bird(base_dir, fill).read_bytes()
    r = random.Random(3)
    for i in range(40):
        at = headers[i % len(headers)]
        size = int.from_bytes(clean[at + 8 : at + 12], "little")  # version-1 header: message bytes
        image = bytearray(clean)
        image[r.randrange(at, at + 16 + size)] = r.randrange(256)
        raw = tmp_path / f"d{i:02d}"
        shutil.copytree(base_dir, raw)
        (raw / "ErrBrd0001M" / "Site1_L1R1_e1_s0.h5").write_bytes(bytes(image))
        _assert_same_outcome(raw, message_too=False)



def _v1_messages(image: bytes, address: int) -> list[tuple[int, int, int]]:
    """(type, body position, body size) of the messages in the first block of the
    version-1 object header at ``address`` (written here, independently of the reader)."""
    assert image[address] == 1
    end = address + 16 + int.from_bytes(image[address + 8 : address + 12], "little")
    out, pos = [], address + 16
    while pos < end:
        mtype, size = int.from_bytes(image[pos : pos + 2], "little"), int.from_bytes(image[pos + 2 : pos + 4], "little")
        out.append((mtype, pos + 8, size))
        pos += 8 + size
    return out


def _in_nil(image: bytearray, address: int, mtype: int, body: bytes) -> None:
    """Put a message of ``mtype`` (16-byte body) into the first NIL message, adding one
    message to the header's count."""
    at, size = next((pos, size) for t, pos, size in _v1_messages(image, address) if t == 0 and size >= 32)
    image[at - 8 : at + 16] = bytes([mtype, 0, 16, 0, 0, 0, 0, 0]) + body.ljust(16, b"\0")
    image[at + 16 : at + 24] = bytes([0, 0]) + (size - 24).to_bytes(2, "little") + bytes(4)
    image[address + 2 : address + 4] = (int.from_bytes(image[address + 2 : address + 4], "little") + 1).to_bytes(2, "little")


def _body(image, address, mtype) -> int:
    return next(pos for t, pos, _ in _v1_messages(image, address) if t == mtype)


HEADER_DEFECTS = {  # what libhdf5 checks when it opens an object, done by hand
    "mtime_version": lambda b, ds, tg: b.__setitem__(_body(b, ds, 0x12), 2),
    "old_mtime_not_digits": lambda b, ds, tg: _in_nil(b, ds, 0x0E, b"2024010112000x"),
    "refcount_in_v1_header": lambda b, ds, tg: _in_nil(b, ds, 0x16, b"\0\1\0\0\0"),
    "fill_value_size": lambda b, ds, tg: b.__setitem__(_body(b, ds, 0x05) + 6, 2),
    "fill_value_version": lambda b, ds, tg: b.__setitem__(_body(b, ds, 0x05), 4),
    "maxdims_above_dims": lambda b, ds, tg: b.__setitem__(_body(b, ds, 0x01) + 16, 2),  # libhdf5 reads it
    "gap_in_trial_header": lambda b, ds, tg: b.__setitem__(tg + 8, b[tg + 8] + 4),
}


@pytest.mark.parametrize("defect", sorted(HEADER_DEFECTS))
def test_object_header_defects_same_outcome_as_libhdf5(tmp_path, defect):
    """Header defects that pass a plain structure walk but that libhdf5 checks when it
    opens the object: the fast path must not read past what libhdf5 rejects."""
    addresses = {}

    def fill(f, stim):
        trial = stim.create_group("4")
        dataset = trial.create_dataset("spike_times", data=[0.1, 0.3], track_times=True)
        addresses.update(ds=h5py.h5o.get_info(dataset.id).addr, tg=h5py.h5o.get_info(trial.id).addr)

    path = _error_bird(tmp_path, fill)
    image = bytearray(path.read_bytes())
    HEADER_DEFECTS[defect](image, addresses["ds"], addresses["tg"])
    path.write_bytes(bytes(image))
    reference = _assert_same_outcome(tmp_path)
    assert isinstance(reference, tuple) == (defect != "maxdims_above_dims")


# --- the switch, from config.yaml to the reader -----------------------------------------------


def test_config_switch_defaults_on_and_is_validated():
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    assert config["processing"]["reading"]["hdf5_fast_path"] is True
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    jsonschema.validate(config, schema)
    config["processing"]["reading"]["hdf5_fast_path"] = False
    jsonschema.validate(config, schema)
    config["processing"]["reading"]["hdf5_fast_path"] = "no"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(config, schema)
    with pytest.raises(ValueError, match="hdf5_fast_path"):
        AA4Options(hdf5_fast_path="no")


@pytest.mark.parametrize("switch", [True, False, None])
def test_read_shard_threads_the_switch(aa4_raw, tmp_path, monkeypatch, switch):
    spy = PathSpy(monkeypatch)
    reading = dict(empty_trials="keep", on_unreadable="error", on_missing_wav="error", spike_rounding="none")
    if switch is not None:
        reading["hdf5_fast_path"] = switch
    out = {k: tmp_path / f"{k}.parquet" for k in TABLES}
    steps.read_shard("aa4", aa4_raw, "AaaBbb0001M", reading, out)
    n_trials = pq.read_table(out["trials"]).num_rows
    if switch is False:
        assert spy.listings == [] and spy.image_reads == 0 and len(spy.libhdf5_reads) == n_trials
    else:  # on, and on by default
        assert spy.libhdf5_reads == [] and spy.image_reads == n_trials
    reference = read_animal(aa4_raw, "AaaBbb0001M", AA4Options(hdf5_fast_path=False))
    for name in TABLES:
        assert_tables_identical(pq.read_table(out[name]), getattr(reference, name), name)
