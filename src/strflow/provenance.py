"""A cheap fingerprint of raw files, so that a changed raw folder reruns what reads it.

Raw folders are ``ancient()`` inputs (a re-extraction must not rerun everything), so
Snakemake's modification-time check never sees a file fixed, restored or added inside
them.  The read step therefore takes :func:`fingerprint` of its folder as a parameter:
Snakemake reruns a job whose parameters changed (``--rerun-triggers`` params, on by
default), which is exactly the read of that shard and what depends on it.  Names, sizes
and modification times only: stat calls, never a checksum of gigabytes.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

# written by Snakemake into directory outputs; not data
IGNORED = frozenset({".snakemake_timestamp"})


def _entries(root: Path):
    stack = [root]
    while stack:
        folder = stack.pop()
        with os.scandir(folder) as it:
            for entry in it:
                if entry.name in IGNORED:
                    continue
                if entry.is_dir(follow_symlinks=True):
                    stack.append(Path(entry.path))
                else:
                    st = entry.stat(follow_symlinks=True)
                    yield Path(entry.path).relative_to(root).as_posix(), st.st_size, st.st_mtime_ns


def fingerprint(path: str | Path) -> str:
    """``'<n> files, sha256 <16 hex>'`` over (relative name, size, mtime) of every file
    under ``path`` (a folder or a file); ``'absent'`` if it does not exist (yet)."""
    path = Path(path)
    if not path.exists():
        return "absent"
    if path.is_dir():
        entries = sorted(_entries(path))
    else:
        st = path.stat()
        entries = [(path.name, st.st_size, st.st_mtime_ns)]
    digest = hashlib.sha256(repr(entries).encode()).hexdigest()[:16]
    return f"{len(entries)} files, sha256 {digest}"
