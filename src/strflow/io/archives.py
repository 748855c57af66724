"""Safe, atomic extraction of downloaded archives (.tar, .tar.gz, .tgz, .tar.bz2, .zip): members
with absolute paths, ``..``, escaping links or device types are refused, naming the member."""

from __future__ import annotations

import os
import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from strflow.io.download import DownloadError


def _clean_parts(name: str, member_desc: str) -> list[str]:
    """Validate an archive member name; return its path components (without '.')."""
    if not name:
        raise DownloadError(f"{member_desc}: empty member name")
    norm = name.replace("\\", "/")
    if norm.startswith("/") or re.match(r"^[A-Za-z]:", norm):
        raise DownloadError(f"{member_desc}: refusing absolute path")
    parts = [p for p in PurePosixPath(norm).parts if p not in ("", ".")]
    if ".." in parts:
        raise DownloadError(f"{member_desc}: refusing '..' path component")
    return parts


def _link_inside(link_parts: list[str], target: str, member_desc: str, name: str) -> None:
    """A symlink at link_parts pointing at target must stay inside the extraction root."""
    t = target.replace("\\", "/")
    if not t or t.startswith("/"):
        raise DownloadError(f"{member_desc}: refusing link to {target!r} (points outside the destination)")
    depth = len(link_parts) - 1  # folder containing the link
    for p in PurePosixPath(t).parts:
        if p in ("", "."):
            continue
        depth = depth - 1 if p == ".." else depth + 1
        if depth < 0:
            raise DownloadError(f"{member_desc}: refusing link to {target!r} (points outside the destination)")


def safe_extract(archive: Path, dest: Path, *, strip_components: int = 0, overwrite: bool = False) -> Path:
    """Extract a .tar/.tar.gz/.tgz/.tar.bz2/.zip ``archive`` into ``dest`` atomically.

    Everything is first extracted into a temporary folder beside ``dest``; only when the
    whole archive has been read and checked is it moved into place: renamed to ``dest``
    if that does not exist yet, else each top-level entry is renamed into ``dest``
    (an existing entry of the same name is an error unless ``overwrite=True``).  Any
    failure removes the temporary folder and leaves ``dest`` untouched.  Members with
    absolute paths, ``..`` components, links escaping ``dest`` or device/FIFO types
    raise :class:`DownloadError` naming the member.  ``strip_components`` drops that
    many leading path components like GNU tar (shorter members are skipped).
    """
    archive, dest = Path(archive), Path(dest)
    if strip_components < 0:
        raise ValueError("strip_components must be >= 0")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.extract-", dir=dest.parent))
    try:
        try:
            if zipfile.is_zipfile(archive):
                _extract_zip(archive, tmp, strip_components)
            else:
                _extract_tar(archive, tmp, strip_components)
        except DownloadError:
            raise
        except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, OSError) as exc:
            raise DownloadError(f"{archive.name}: corrupt or truncated archive ({type(exc).__name__}: {exc})") from None
        _move_into_place(tmp, dest, overwrite=overwrite, archive=archive)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _extract_tar(archive: Path, tmp: Path, strip: int) -> None:
    with tarfile.open(archive, "r:*") as tf:
        members = tf.getmembers()  # reads the whole index: truncation surfaces here or below
        selected = []
        for m in members:
            desc = f"{archive.name}: member {m.name!r}"
            parts = _clean_parts(m.name, desc)
            if m.ischr() or m.isblk() or m.isfifo() or not (m.isfile() or m.isdir() or m.issym() or m.islnk()):
                raise DownloadError(f"{desc}: refusing device/special file")
            if m.issym():
                _link_inside(parts, m.linkname, desc, m.name)
            if m.islnk():
                lparts = _clean_parts(m.linkname, desc)
                if len(lparts) <= strip:
                    raise DownloadError(f"{desc}: refusing hardlink to {m.linkname!r} outside the stripped tree")
            if len(parts) <= strip:
                continue  # GNU tar --strip-components skips members with too few components
            new = m.replace(name="/".join(parts[strip:]), deep=False)
            if m.islnk():
                new = new.replace(linkname="/".join(_clean_parts(m.linkname, desc)[strip:]), deep=False)
            selected.append(new)
        try:
            tf.extractall(tmp, members=selected, filter="data")
        except tarfile.FilterError as exc:
            member = getattr(exc, "tarinfo", None)
            mname = member.name if member is not None else "?"
            raise DownloadError(f"{archive.name}: member {mname!r}: refused by tar filter ({exc})") from None


def _extract_zip(archive: Path, tmp: Path, strip: int) -> None:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        plan = []
        for info in infos:
            desc = f"{archive.name}: member {info.filename!r}"
            parts = _clean_parts(info.filename, desc)
            mode = info.external_attr >> 16
            if mode and stat.S_ISLNK(mode):
                raise DownloadError(f"{desc}: refusing symlink member in zip")
            if mode and (stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
                raise DownloadError(f"{desc}: refusing device/special file")
            if len(parts) <= strip:
                continue
            plan.append((info, parts[strip:]))
        root = tmp.resolve()
        for info, parts in plan:
            target = tmp.joinpath(*parts)
            if not target.resolve().is_relative_to(root):  # defensive; parts are already clean
                raise DownloadError(f"{archive.name}: member {info.filename!r}: escapes the destination")
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as out:  # CRC checked on read
                shutil.copyfileobj(src, out, 1 << 20)


def _move_into_place(tmp: Path, dest: Path, *, overwrite: bool, archive: Path) -> None:
    if not dest.exists():
        os.rename(tmp, dest)
        return
    if not dest.is_dir():
        raise DownloadError(f"{archive.name}: destination {dest} exists and is not a folder")
    entries = sorted(tmp.iterdir())
    clashes = [e.name for e in entries if (dest / e.name).exists() or (dest / e.name).is_symlink()]
    if clashes and not overwrite:
        raise DownloadError(f"{archive.name}: {dest} already contains {clashes} (use overwrite=True)")
    for e in entries:
        target = dest / e.name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        os.rename(e, target)
