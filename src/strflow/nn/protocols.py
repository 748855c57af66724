"""Training protocols: which neurons, which stimulus split and which training settings a
model is fitted with (``results/<ds>/models/<protocol>/<model>/seed<k>/``).

A protocol is a named entry of a dataset's ``models.protocols:`` block::

    protocols:
      statenet:
        dataset: ns1_all            # the processed dataset read (default: the entry's own)
        neuron_filter: {...}        # optional, strflow.selection syntax, applied on top of it
        split: {train: [0, 1, ...], val: [14, 15, 16], test: [17, 18, 19]}
        train: {epochs: 80, patience: 15, lr: 0.001}   # over every model's training settings

``split`` lists stimuli by 0-based index into the dataset's stimulus table or by
``stim_id``.  ``test`` is required; ``train`` defaults to every stimulus not listed in
another role; ``val`` defaults to a deterministic subset of ``train`` (``models.val_fraction``
per stimulus type, seeded by ``processing.strf.seed``: what the unprotocolled fits do).
``split: null`` keeps the ridge fits' split.  The shape of an entry is checked when the
config is read (:func:`resolve_protocols`); the stimuli when the dataset is known
(:func:`protocol_roles`): unknown stimulus, overlap or an empty role raise an error naming
the dataset and the protocol.
"""

from __future__ import annotations

ROLES = ("train", "val", "test")
KEYS = {"dataset", "neuron_filter", "split", "train", "description"}


def _where(ds: str, protocol: str) -> str:
    return f"dataset {ds!r}, protocol {protocol!r}"


def resolve_protocols(ds: str, entries: dict | None) -> dict[str, dict]:
    """Check and normalise a ``models.protocols`` block (no data needed)."""
    out = {}
    for name, entry in (entries or {}).items():
        where = _where(ds, name)
        entry = dict(entry or {})
        unknown = sorted(set(entry) - KEYS)
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {unknown}; known: {sorted(KEYS)}")
        split = entry.get("split")
        if split is not None:
            if not isinstance(split, dict):
                raise ValueError(f"{where}: split must be a mapping {{train: [...], val: [...], test: [...]}} or null")
            bad = sorted(set(split) - set(ROLES))
            if bad:
                raise ValueError(f"{where}: split has unknown role(s) {bad}; roles are {list(ROLES)}")
            if "test" not in split:
                raise ValueError(f"{where}: split needs a test list")
            seen: dict = {}
            for role, items in split.items():
                if not isinstance(items, list) or not items:
                    raise ValueError(f"{where}: split.{role} must be a non-empty list of stimulus indices or ids, "
                                     f"got {items!r}")
                for item in items:
                    if isinstance(item, bool) or not isinstance(item, (int, str)) or (isinstance(item, int) and item < 0):
                        raise ValueError(f"{where}: split.{role}: {item!r} is neither a stimulus index (>= 0) nor a "
                                         "stim_id")
                    if item in seen:
                        raise ValueError(f"{where}: stimulus {item!r} is in split.{seen[item]} and split.{role}")
                    seen[item] = role
        out[name] = dict(name=name, dataset=entry.get("dataset") or ds, neuron_filter=entry.get("neuron_filter") or {},
                         split=split, train=dict(entry.get("train") or {}), description=entry.get("description", ""))
    return out


def protocol_roles(stim_meta: list[dict], protocol: dict, ds: str, val_fraction: float = 0.2,
                   split_seed: int = 0) -> dict[str, str]:
    """``stim_id -> train | val | test | unused`` of an explicit split (``protocol['split']``)."""
    from strflow.strf.split import STRFSettings, make_split

    where = _where(ds, protocol["name"])
    ids = [m["stim_id"] for m in stim_meta]
    split = protocol["split"]
    roles: dict[str, str] = {}
    for role, items in split.items():
        for item in items:
            if isinstance(item, int):
                if item >= len(ids):
                    raise ValueError(f"{where}: split.{role}: stimulus index {item} is not in dataset "
                                     f"{protocol['dataset']!r}, which has {len(ids)} stimuli (0..{len(ids) - 1})")
                sid = ids[item]
            else:
                if item not in ids:
                    raise ValueError(f"{where}: split.{role}: unknown stimulus {item!r} (dataset "
                                     f"{protocol['dataset']!r} has {', '.join(ids[:5])}{', ...' if len(ids) > 5 else ''})")
                sid = item
            if sid in roles:
                raise ValueError(f"{where}: stimulus {sid!r} is in split.{roles[sid]} and split.{role}")
            roles[sid] = role
    if "train" not in split:
        for sid in ids:
            roles.setdefault(sid, "train")
    if "val" not in split:
        train_meta = [m for m in stim_meta if roles.get(m["stim_id"]) == "train"]
        val = make_split(train_meta, "generic", STRFSettings(seed=split_seed, test_fraction=val_fraction))
        roles.update({sid: "val" for sid, r in val.items() if r == "test"})
    for role in ROLES:
        if role not in roles.values():
            raise ValueError(f"{where}: the split leaves no {role} stimulus")
    return {sid: roles.get(sid, "unused") for sid in ids}
