"""The one atomic-write helper: every output is written under a temporary name in the
same folder, then renamed into place (``os.replace``), so an interrupted step never
leaves a file (or folder) that looks complete; the temporary is removed on error."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextmanager
def atomic_path(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``.

    Parameters
    ----------
    path
        The final file or folder.  Its parent folder is created.
    suffix
        Appended to the final name for the temporary one (``".tmp.png"`` keeps an
        extension that a writer reads the format from).

    Yields
    ------
    Path
        Where to write.  Left-overs of an earlier interrupted write are removed first;
        on an exception the temporary is removed and the exception propagates, and
        ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + suffix)
    _remove(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise
