"""Reader for CRCNS AA4 (Elie & Theunissen 2019): one HDF5 file per unit, per bird.

Layout (``shared/reference/raw_formats.md`` §6)::

    <raw>/<AnimalID>/Site<S>_L<ld>R<rd>_e<E>_s<sort>[_ss<subsort>].h5
    <raw>/<AnimalID>/wavfiles/stim<K>.wav

Every quirk of the release is handled here and nowhere else:

* ``sortType`` 'singl' is the typo for 'single'; 'noise' and 'tdt' units are skipped
  (recorded in ``skipped``).  String attributes may be str, bytes or numpy bytes.
* Missing ``ldepth``/``rdepth`` become null (NaN in pandas); ``electrode``/``sortid`` default to 0 only
  if absent (recorded nowhere: they are metadata, not data).
* Top-level groups ``class_info`` and ``extra_info`` are metadata, not stimuli.
* Stimulus and trial group names are numbers and are ordered numerically (the
  lexicographic order '1','10','2' is wrong).
* An empty trial is stored as the scalar -999.  It is a presented trial in which the
  unit did not fire, so by default it is kept as a zero-spike trial
  (``empty_trials: keep``).  ``empty_trials: skip`` reproduces deepSTRF, which drops it
  (and every trial without a post-onset spike); each dropped trial is recorded.
* Pre-onset (negative) and post-stimulus spike times are kept in the interim trials
  table; binning decides what falls on the stimulus grid.
* ``stim_md5`` identifies a stimulus across birds, whose per-bird numbers differ.
* ``cell_id`` is ``<AnimalID>/<file stem>``: file stems repeat across birds.

Errors: an unreadable HDF5 file or a missing wav is an error naming the file, unless
``on_unreadable: skip`` / ``on_missing_wav: skip`` is configured, in which case the
unit or stimulus is recorded in ``skipped`` and the run continues.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from strflow.readers.shard import NEURON_KEY_FIELDS, STIMS_SCHEMA, Shard, SkipLog, TrialsBuilder
from strflow.spectrogram import wav_info

ANIMAL_IDS = ("BlaBro09xxF", "GreBlu9508M", "LblBlu2028M", "WhiBlu5396M", "WhiWhi4522M", "YelBlu6903F")
METADATA_GROUPS = frozenset({"class_info", "extra_info"})
SKIPPED_SORT_TYPES = frozenset({"noise", "tdt"})
SORT_TYPE_ALIASES = {"singl": "single"}
EMPTY_TRIAL_SENTINEL = -999.0
_SUBSORT = re.compile(r"_ss(\d+)$")

NEURONS_SCHEMA = pa.schema(
    NEURON_KEY_FIELDS
    + [
        ("sex", pa.string()),
        ("site", pa.string()),
        ("electrode", pa.int32()),
        ("ldepth", pa.float64()),
        ("rdepth", pa.float64()),
        ("sort_type", pa.string()),
        ("sort_id", pa.int32()),
        ("subsort_id", pa.int32()),
    ]
)


@dataclass(frozen=True)
class AA4Options:
    stim_types: tuple[str, ...] = ("song", "call", "mlnoise")
    empty_trials: str = "keep"  # keep | skip
    on_unreadable: str = "error"  # error | skip
    on_missing_wav: str = "error"  # error | skip
    # decode plain trial groups from the file image (see "Fast path"); False: libhdf5 only
    hdf5_fast_path: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.hdf5_fast_path, bool):
            raise ValueError(f"hdf5_fast_path must be true or false, got {self.hdf5_fast_path!r}")
        for name, allowed in (
            ("empty_trials", ("keep", "skip")),
            ("on_unreadable", ("error", "skip")),
            ("on_missing_wav", ("error", "skip")),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")


def decode_attr(value) -> str:
    """str from str, bytes, numpy bytes/str scalar or a 1-element array of either."""
    if isinstance(value, np.ndarray):
        if value.size != 1:
            raise ValueError(f"expected a scalar string attribute, got array of shape {value.shape}")
        value = value.reshape(-1)[0]
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", errors="replace").strip()
    return str(value).strip()


def _num_attr(attrs, key: str, default: float | None) -> float | None:
    if key not in attrs:
        return default
    value = attrs[key]
    if isinstance(value, (bytes, np.bytes_, str)):
        text = decode_attr(value)
        return float(text) if text else default
    return float(np.asarray(value).reshape(-1)[0])


def subsort_id(stem: str) -> int | None:
    match = _SUBSORT.search(stem)
    return int(match.group(1)) if match else None


def _numeric_key(name: str):
    try:
        return (0, int(name), name)
    except ValueError:
        return (1, 0, name)


def _children(group_id) -> list[str]:
    return [name.decode("utf-8") for name in group_id]


def read_spike_times_lowlevel(stim_id, trial_name: str, where: str) -> np.ndarray | None:
    """``<trial>/spike_times`` of a stimulus group (low-level ids); ``None`` for -999."""
    import h5py

    try:  # group then dataset: faster in HDF5 than resolving the two-link path
        dataset = h5py.h5d.open(h5py.h5g.open(stim_id, trial_name.encode()), b"spike_times")
    except KeyError:
        raise ValueError(f"{where}/{trial_name}: trial group without a spike_times dataset") from None
    out = np.empty(dataset.shape, dtype=np.float64)
    dataset.read(h5py.h5s.ALL, h5py.h5s.ALL, out, mtype=h5py.h5t.NATIVE_DOUBLE)
    values = out.ravel()
    if values.shape[0] == 1 and values[0] == EMPTY_TRIAL_SENTINEL:
        return None
    return values


# --- Fast path --------------------------------------------------------------------
# Through libhdf5 a trial costs ~80 us (open the trial group, open its dataset, query the
# shape, read), which dominates a 1.8-million-trial release.  For the layout the AA4
# writer produces (version-0/1 superblock, symbol-table groups, version-1 object
# headers, IEEE float64 data in compact or contiguous storage) the reader decodes the
# trial groups and their ``spike_times`` straight from the file image instead.  Every
# structure is checked (signature, version, sizes, message set, bounds) and anything the
# decoder does not fully understand makes it give up: a stimulus whose trial listing is
# not recognised is listed through libhdf5, and a trial whose ``spike_times`` is not
# recognised is read through libhdf5, exactly as without the fast path.
# ``AA4Options(hdf5_fast_path=False)`` (config ``processing.reading.hdf5_fast_path``)
# turns it off; tests/test_reader_aa4_fastpath.py checks both paths give the same tables.

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_UNDEFINED_ADDRESS = 0xFFFFFFFFFFFFFFFF
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_U64_PAIR = struct.Struct("<QQ")
_MSG_HEADER = struct.Struct("<HHB3x")  # version-1 object header message: type, size, flags
_V1_PREFIX = struct.Struct("<BxHII")  # version, reserved, n messages, ref count, header size
_BTREE_NODE = struct.Struct("<4sBBH")  # "TREE", node type, level, entries used
_SNOD = struct.Struct("<4sBxH")  # "SNOD", version, reserved, number of symbols
_SYMBOL = struct.Struct("<QQI4x")  # name offset in local heap, object header address, cache type
_HEAP = struct.Struct("<4sB3xQQQ")  # "HEAP", version, data size, free list offset, data address
_F64_PROPERTIES = bytes([8, 0, 0, 0]) + struct.pack("<HHBBBBI", 0, 64, 52, 11, 0, 52, 1023)
# datatype message after its class/version byte: class bit fields, size and properties
_F64_DTYPES = {
    bytes([0x20, 0x3F, 0x00]) + _F64_PROPERTIES: np.dtype("<f8"),  # IEEE little-endian
    bytes([0x21, 0x3F, 0x00]) + _F64_PROPERTIES: np.dtype(">f8"),  # IEEE big-endian
}
# messages that do not change what a group lists or how a dataset's data are read:
# NIL, fill value (old/new; only used for unallocated storage, which is refused), attribute,
# comment, modification time (old/new), attribute info.  (A reference count message, 0x16,
# is not valid in a version-1 header: libhdf5 refuses the object, so the decoder gives up.)
# libhdf5 decodes the fill value and modification time messages when it opens the object,
# so they are checked as it checks them (see _messages).
_INERT_MESSAGES = frozenset({0x00, 0x04, 0x05, 0x0C, 0x0D, 0x0E, 0x12, 0x15})
_SPIKE_TIMES = b"spike_times"


class _Unrecognised(Exception):
    """A structure the fast path does not fully understand: use libhdf5 instead."""


# what a malformed structure can raise while being decoded: libhdf5 then reads it
_DECODE_ERRORS = (_Unrecognised, ValueError, IndexError, struct.error)


def _plain_image(image: bytes) -> bool:
    """True if the file's addresses are 8-byte offsets from its first byte."""
    if len(image) < 40 or image[:8] != _HDF5_SIGNATURE:
        return False
    version = image[8]
    if version in (0, 1):
        sizes, base = image[13:15], _U64.unpack_from(image, 24 if version == 0 else 28)[0]
    elif version in (2, 3):
        sizes, base = image[9:11], _U64.unpack_from(image, 12)[0]
    else:
        return False
    return sizes == b"\x08\x08" and base == 0


def _messages(
    image: bytes, address: int, _prefix=_V1_PREFIX.unpack_from, _header=_MSG_HEADER.unpack_from
) -> dict[int, tuple[int, int]]:
    """{message type: (position, size)} of the version-1 object header at ``address``.

    Only the inert messages may repeat (they are not returned); a flag other than
    "constant" (shared, unknown message, ...), a repeated message, a malformed fill value
    or a message count that does not add up is unrecognised."""
    end_of_file = len(image)
    if address + 16 > end_of_file or image[address] != 1:
        raise _Unrecognised
    _, n_messages, _, header_size = _prefix(image, address)
    blocks = [(address + 16, header_size)]
    found: dict[int, tuple[int, int]] = {}
    seen = 0
    while blocks:
        pos, length = blocks.pop()
        end = pos + length
        if end > end_of_file or seen > n_messages:
            raise _Unrecognised
        while pos + 8 <= end:
            mtype, msize, flags = _header(image, pos)
            pos += 8
            if pos + msize > end or msize & 7:  # version-1 messages are 8-byte aligned
                raise _Unrecognised
            seen += 1
            if flags & ~0x01:  # only the "constant" flag (no sharing/unknown-message flags)
                raise _Unrecognised
            if mtype == 0x10:  # continuation block: address, length
                if msize < 16:
                    raise _Unrecognised
                blocks.append(_U64_PAIR.unpack_from(image, pos))
            elif mtype == 0x05 and not _fill_value_ok(image, pos, msize):
                raise _Unrecognised  # fill value message: libhdf5 decodes it on open
            elif mtype == 0x04 and (msize < 4 or 4 + _U32.unpack_from(image, pos)[0] > msize):
                raise _Unrecognised  # old fill value message: size, value
            elif mtype == 0x12 and (msize < 8 or image[pos] != 1):
                raise _Unrecognised  # modification time: libhdf5 decodes it on open (version 1)
            elif mtype == 0x0E and (msize < 16 or not image[pos : pos + 14].isdigit()):
                raise _Unrecognised  # old modification time: 14 ASCII digits, checked on open
            elif mtype not in _INERT_MESSAGES:
                if mtype in found:  # repeated
                    raise _Unrecognised
                found[mtype] = (pos, msize)
            pos += msize
        if pos != end:  # a gap after the last message: libhdf5 refuses the header
            raise _Unrecognised
    if seen != n_messages:
        raise _Unrecognised
    return found


def _fill_value_ok(image: bytes, pos: int, msize: int, _i32=struct.Struct("<i").unpack_from) -> bool:
    """True if the (new-style) fill value message at ``pos`` is one libhdf5 decodes
    without error; anything unusual is refused (libhdf5 then opens the object)."""
    version = image[pos] if msize >= 1 else 0
    if version in (1, 2):  # allocation time, fill time, "defined", [size, value]
        if msize < 4 or image[pos + 1] > 3 or image[pos + 2] > 2 or image[pos + 3] > 1:
            return False
        if not image[pos + 3]:
            return True
        size_at = pos + 4
    elif version == 3:  # flags (allocation time, fill time, undefined, has value), [size, value]
        if msize < 2 or image[pos + 1] & ~0x3F or (image[pos + 1] >> 2) & 0x03 > 2:
            return False
        if not image[pos + 1] & 0x20:
            return True
        size_at = pos + 2
    else:
        return False
    if size_at + 4 > pos + msize:
        return False
    size = _i32(image, size_at)[0]
    return 0 <= size <= pos + msize - size_at - 4


def _group_entries(
    image: bytes, address: int, _u64=_U64.unpack_from, _symbol=_SYMBOL.unpack_from
) -> dict[bytes, int | None]:
    """{link name: object header address, or None for a soft link} of the symbol-table
    group whose object header is at ``address``.

    Besides the structure, the ordering libhdf5 relies on to look a name up (B-tree keys
    bounding their subtrees, sorted symbol nodes, valid local heap) is checked, so that
    every name listed here is one libhdf5 would also find."""
    found = _messages(image, address)
    stab = found.get(0x11)
    if stab is None or len(found) != 1:  # only a symbol table message (not new-style links)
        raise _Unrecognised
    pos, msize = stab
    if msize < 16:
        raise _Unrecognised
    btree, heap = _U64_PAIR.unpack_from(image, pos)
    if heap + 32 > len(image):
        raise _Unrecognised
    signature, version, heap_size, free, heap_data = _HEAP.unpack_from(image, heap)
    heap_end = heap_data + heap_size
    if signature != b"HEAP" or version != 0 or heap_end > len(image):
        raise _Unrecognised
    for _ in range(heap_size // 16 + 1):  # free list: offsets and sizes inside the heap
        if free == 1:  # end of list
            break
        if free + 16 > heap_size:
            raise _Unrecognised
        next_free, free_size = _U64_PAIR.unpack_from(image, heap_data + free)
        if free + free_size > heap_size:
            raise _Unrecognised
        free = next_free
    else:
        raise _Unrecognised

    def heap_name(offset: int) -> bytes:
        if offset >= heap_size:
            raise _Unrecognised
        stop = image.find(b"\0", heap_data + offset, heap_end)
        if stop < 0:
            raise _Unrecognised
        return image[heap_data + offset : stop]

    entries: dict[bytes, int | None] = {}
    # (node, its level, exclusive lower and inclusive upper name bound; None = unbounded)
    nodes = [(btree, None, None, None)]
    while nodes:
        node, expected_level, low, high = nodes.pop()
        if node + 24 > len(image):
            raise _Unrecognised
        signature, node_type, level, used = _BTREE_NODE.unpack_from(image, node)
        if signature != b"TREE" or node_type != 0 or node + 24 + 16 * used + 8 > len(image):
            raise _Unrecognised
        if expected_level is not None and level != expected_level:  # also rules out cycles
            raise _Unrecognised
        # keys (heap offsets of names) and child addresses alternate after the 24-byte
        # header: key 0, child 0, key 1, ..., key n; child i holds names in (key i, key i+1]
        keys = [heap_name(_u64(image, node + 24 + 16 * i)[0]) for i in range(used + 1)]
        for i in range(used):
            child = _u64(image, node + 32 + 16 * i)[0]
            child_low = keys[i] if low is None or keys[i] > low else low
            child_high = keys[i + 1] if high is None or keys[i + 1] < high else high
            if level > 0:
                nodes.append((child, level - 1, child_low, child_high))
                continue
            if child + 8 > len(image):
                raise _Unrecognised
            signature, version, count = _SNOD.unpack_from(image, child)
            if signature != b"SNOD" or version != 1 or child + 8 + 40 * count > len(image):
                raise _Unrecognised
            previous = child_low
            for j in range(count):
                name_at, target, cache_type = _symbol(image, child + 8 + 40 * j)
                name = heap_name(name_at)
                if not name > previous or name > child_high or cache_type > 2 or name in entries:
                    raise _Unrecognised  # out of order: a lookup by name could miss it
                previous = name
                entries[name] = None if cache_type == 2 else target
    return entries


def _trial_listing(image: bytes, stim_address: int) -> dict[str, int | None]:
    """{trial name: address of its ``spike_times`` object header, or None if that is not
    a plain hard link in a recognised trial group} for one stimulus group."""
    listing: dict[str, int | None] = {}
    for name, target in _group_entries(image, stim_address).items():
        spike_times = None
        if target is not None:
            try:
                spike_times = _group_entries(image, target).get(_SPIKE_TIMES)
            except _DECODE_ERRORS:
                pass
        listing[name.decode("utf-8")] = spike_times
    return listing


def _f64_data(image: bytes, address: int) -> np.ndarray | None:
    """The flattened data of the float64 dataset whose object header is at ``address``;
    None if it is not a dataset this decoder fully understands."""
    try:
        found = _messages(image, address)
    except _DECODE_ERRORS:
        return None
    if len(found) != 3 or 0x01 not in found or 0x03 not in found or 0x08 not in found:
        return None  # exactly dataspace, datatype and layout: no filters, external files etc.
    pos, msize = found[0x03]
    dtype = _F64_DTYPES.get(image[pos + 1 : pos + 20]) if msize >= 20 and image[pos] in (0x11, 0x21, 0x31) else None
    if dtype is None:
        return None
    pos, msize = found[0x01]  # dataspace -> number of elements
    if msize < 8:
        return None
    version, rank, flags = image[pos], image[pos + 1], image[pos + 2]
    if version == 1:
        dims_at = pos + 8
    elif version == 2 and image[pos + 3] in (0, 1):  # scalar or simple (not null)
        dims_at = pos + 4
    else:
        return None
    if flags & ~0x01 or dims_at + 8 * rank * (1 + flags) > pos + msize:
        return None
    # maximum dimensions (flag 1) other than the dimensions: an extendible dataset, which
    # libhdf5 refuses for compact or contiguous storage
    if flags and image[dims_at : dims_at + 8 * rank] != image[dims_at + 8 * rank : dims_at + 16 * rank]:
        return None
    count = 1
    for i in range(rank):
        count *= _U64.unpack_from(image, dims_at + 8 * i)[0]
    nbytes = 8 * count
    pos, msize = found[0x08]  # layout -> where the data are
    if msize < 4 or image[pos] not in (3, 4):
        return None
    if image[pos + 1] == 0:  # compact: size, then the data
        if _U16.unpack_from(image, pos + 2)[0] != nbytes or 4 + nbytes > msize:
            return None
        data_at = pos + 4
    elif image[pos + 1] == 1 and msize >= 18:  # contiguous: address, size
        data_at, stored = _U64_PAIR.unpack_from(image, pos + 2)
        if count == 0 and stored == 0:  # empty array: no storage is allocated
            return np.zeros(0)
        if stored != nbytes or data_at == _UNDEFINED_ADDRESS or data_at + nbytes > len(image):
            return None
    else:
        return None
    values = np.frombuffer(image, dtype=dtype, count=count, offset=data_at)
    return values if dtype.isnative else values.astype(np.float64)


def read_animal(raw_root: str | Path, animal: str, options: AA4Options = AA4Options()) -> Shard:
    """Read every unit file of one bird into a :class:`Shard`."""
    import h5py

    raw_root = Path(raw_root)
    folder = raw_root / animal
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: AA4 animal folder not found")
    skips = SkipLog()
    trials = TrialsBuilder()
    neurons: list[dict] = []
    stims: dict[int, dict] = {}  # this animal's stim number -> registry row
    bad_stims: set[int] = set()

    files = sorted(folder.glob("*.h5"))
    if not files:
        raise FileNotFoundError(f"{folder}: no unit files (*.h5) found")
    for path in files:
        rel = path.relative_to(raw_root).as_posix()
        try:
            handle = h5py.File(path, "r", driver="core", backing_store=False)
        except OSError as exc:
            if options.on_unreadable == "skip":
                skips.add("unit", rel, f"unreadable HDF5 file: {exc}")
                continue
            raise ValueError(f"{path}: cannot open as HDF5 ({exc}); set on_unreadable: skip to record and continue") from exc
        image = b""
        if options.hdf5_fast_path:
            try:  # the fast path decodes from this copy of the file
                image = path.read_bytes()
            except OSError:
                image = b""
        fast = _plain_image(image)  # False without the fast path: every read through libhdf5
        with handle:
            if "sortType" not in handle.attrs:
                raise ValueError(f"{path}: missing root attribute 'sortType'")
            raw_sort = decode_attr(handle.attrs["sortType"])
            sort_type = SORT_TYPE_ALIASES.get(raw_sort, raw_sort)
            if sort_type in SKIPPED_SORT_TYPES:
                skips.add("unit", rel, f"sort type {sort_type}")
                continue
            if sort_type not in ("single", "multi"):
                raise ValueError(f"{path}: unknown sortType {raw_sort!r} (expected single, multi, noise or tdt)")
            cell_id = f"{animal}/{path.stem}"
            n_before = len(trials.cell_id)
            # Low-level traversal: h5py's high-level wrappers cost ~0.3 ms per trial,
            # which dominates a 1.8-million-trial release; trials go through the fast
            # path (see above) when their layout is recognised.
            root = handle.id
            for group_name in sorted(_children(root)):
                group_id = h5py.h5o.open(root, group_name.encode())
                if group_name in METADATA_GROUPS or not isinstance(group_id, h5py.h5g.GroupID):
                    continue
                for stim_name in sorted(_children(group_id), key=_numeric_key):
                    stim_id = h5py.h5o.open(group_id, stim_name.encode())
                    if not isinstance(stim_id, h5py.h5g.GroupID):
                        continue
                    stim_group = h5py.Group(stim_id)
                    where = f"{rel}:/{group_name}/{stim_name}"
                    number, md5 = _stim_identity(stim_group, stim_name, where)
                    known = stims.get(number)
                    if known is not None and known["stim_id"] != md5:
                        raise ValueError(
                            f"{where}: stim {number} has md5 {md5} but another unit of {animal} "
                            f"gives {known['stim_id']}"
                        )
                    stim_type = known["type"] if known is not None else decode_attr(stim_group.attrs.get("stim_type", b""))
                    if stim_type not in options.stim_types:
                        skips.add("pair", rel, f"stim_type {stim_type!r} not selected", cell_id, md5)
                        continue
                    if number in bad_stims:
                        skips.add("pair", rel, "stimulus wav missing", cell_id, md5)
                        continue
                    if known is None:
                        row = _register_stim(raw_root, animal, number, md5, stim_type, stim_group, where, options, skips)
                        if row is None:
                            bad_stims.add(number)
                            skips.add("pair", rel, "stimulus wav missing", cell_id, md5)
                            continue
                        stims[number] = row
                    listing = None
                    if fast:
                        try:  # (a failing libhdf5 call here is left to the general path)
                            listing = _trial_listing(image, h5py.h5o.get_info(stim_id).addr)
                        except Exception:
                            listing = None
                    if listing is None or len(listing) != len(stim_id):  # libhdf5 lists it
                        listing = dict.fromkeys(_children(stim_id))
                    for trial_name in sorted(listing, key=_numeric_key):
                        address = listing[trial_name]
                        values = None if address is None else _f64_data(image, address)
                        if values is None:  # not decoded by the fast path: libhdf5 reads it
                            times = read_spike_times_lowlevel(stim_id, trial_name, where)
                        elif values.shape[0] == 1 and values[0] == EMPTY_TRIAL_SENTINEL:
                            times = None
                        else:
                            times = values
                        trial_no = _numeric_key(trial_name)[1]
                        if times is None or (options.empty_trials == "skip" and not np.any(times >= 0)):
                            if options.empty_trials == "skip":
                                reason = "empty trial (-999)" if times is None else "no post-onset spike"
                                skips.add("trial", rel, reason, cell_id, md5, trial_no)
                                continue
                            times = np.zeros(0)
                        trials.add(cell_id, md5, trial_no, times)
            if len(trials.cell_id) == n_before:
                skips.add("unit", rel, "no trials for the selected stimulus types", cell_id)
                continue
            attrs = handle.attrs
            sub = subsort_id(path.stem)
            neurons.append(
                dict(
                    cell_id=cell_id,
                    animal_id=animal,
                    shard=animal,
                    file=rel,
                    sex=animal[-1],
                    site=decode_attr(attrs["site"]) if "site" in attrs else "",
                    electrode=int(_num_attr(attrs, "electrode", 0)),
                    ldepth=_num_attr(attrs, "ldepth", None),
                    rdepth=_num_attr(attrs, "rdepth", None),
                    sort_type=sort_type,
                    sort_id=int(_num_attr(attrs, "sortid", 0)),
                    subsort_id=sub,
                )
            )
    stim_rows = sorted(stims.values(), key=lambda r: r["stim_number"])
    return Shard(
        name=animal,
        trials=trials.table(),
        neurons=pa.Table.from_pylist(neurons, schema=NEURONS_SCHEMA),
        stims=pa.Table.from_pylist(stim_rows, schema=STIMS_SCHEMA),
        skipped=skips.table(),
    )


def _string_attr(group, name: str):
    """A scalar string attribute through h5py's low-level API (half the cost of
    ``group.attrs[name]``, read once per stimulus group); anything else -- arrays,
    numbers, empty dataspaces -- through ``group.attrs`` as usual."""
    import h5py

    attr = h5py.h5a.open(group.id, name.encode())
    dtype = attr.dtype
    if attr.shape != () or dtype.kind not in "SO" or (dtype.kind == "O" and h5py.check_string_dtype(dtype) is None):
        return group.attrs[name]
    out = np.empty((), dtype)
    attr.read(out, mtype=h5py.h5t.py_create(dtype))
    return out[()]


def _stim_identity(stim_group, stim_name: str, where: str) -> tuple[int, str]:
    try:
        number = int(stim_name)
    except ValueError:
        raise ValueError(f"{where}: stimulus group name is not a number") from None
    import h5py

    if not h5py.h5a.exists(stim_group.id, b"stim_md5"):
        raise ValueError(f"{where}: missing attribute 'stim_md5'")
    md5 = decode_attr(_string_attr(stim_group, "stim_md5")).lower()
    if not md5:
        raise ValueError(f"{where}: empty attribute 'stim_md5'")
    return number, md5


def _register_stim(raw_root, animal, number, md5, stim_type, stim_group, where, options, skips) -> dict | None:
    wav_rel = f"{animal}/wavfiles/stim{number}.wav"
    wav = Path(raw_root) / wav_rel
    if not wav.is_file():
        if options.on_missing_wav == "skip":
            skips.add("stim", wav_rel, f"wav file missing (referenced by {where})", stim_id=md5)
            return None
        raise FileNotFoundError(
            f"{wav}: wav file missing for stimulus {number} (md5 {md5}) referenced by {where}; "
            "set on_missing_wav: skip to record and continue"
        )
    n_samples, sample_rate = wav_info(wav)
    duration = _num_attr(stim_group.attrs, "stim_duration", n_samples / sample_rate)
    return dict(
        stim_id=md5,
        animal_id=animal,
        stim_number=number,
        name=f"stim{number}",
        type=stim_type,
        **{"class": decode_attr(stim_group.attrs.get("stim_class", b""))},
        duration_s=duration,
        wav=wav_rel,
        wav_sample_rate=sample_rate,
        wav_n_samples=n_samples,
    )
