"""Downloading and assembling raw releases (``workflow/rules/download.smk``); the transfer
and extraction code itself is :mod:`strflow.io.download`.

One function per rule: file paths in, files out; ``workflow/scripts/*.py`` call these."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger("strflow")


def download_archive(url_path: str, dest, sha_file, download: dict) -> None:
    """Fetch one archive (credentials from the environment only) and record its sha256.

    Reuse is Snakemake's: the rule does not rerun while the archive exists; its recorded
    sha256 is verified before every extraction (:func:`verify_recorded`).  Snakemake
    removes a job's outputs before running it, so a (re)fetch always starts clean;
    toggling ``download.force`` changes the rule's params and so refetches."""
    from strflow.io.download import fetch, sha256_file

    dest, sha_file = Path(dest), Path(sha_file)
    if download.get("protocol") == "osf":
        fetch(url_path, dest, protocol="osf", base_url=download.get("osf_base_url"), progress=True)
    else:
        fetch(url_path, dest, protocol=download["protocol"], base_url=download.get("base_url"),
              download_base=download.get("download_base"), progress=True)
    digest = sha256_file(dest)
    sha_file.write_text(f"{digest}  {dest.name}\n")
    log.info("%s: %d bytes, sha256 %s", dest.name, dest.stat().st_size, digest)


def verify_recorded(archive, sha_file=None) -> None:
    """Raise naming the file when an archive no longer matches the sha256 recorded at download."""
    from strflow.io.download import DownloadError, sha256_file

    archive = Path(archive)
    recorded = Path(sha_file or f"{archive}.sha256").read_text().split()[0]
    if sha256_file(archive) != recorded:
        raise DownloadError(
            f"{archive}: sha256 does not match the value recorded at download; set download.force: true to refetch"
        )


def extract_archive(archive, sha_file, dest, strip_components: int = 1) -> None:
    """Verify the archive against its recorded sha256, then extract it safely and atomically."""
    from strflow.io.archives import safe_extract

    archive, dest = Path(archive), Path(dest)
    verify_recorded(archive, sha_file)
    safe_extract(archive, dest, strip_components=strip_components)
    log.info("extracted %s into %s", archive.name, dest)


OSF_FILES = {"MetadataSHEnCneurons.mat": "gdwyd", "spikesandwav.zip": "5nxga", "ReadMe.rtf": "f3rtm"}


def assemble_osf_raw(downloads: dict, out) -> None:
    """NS1 raw folder from the OSF files: the zip (which holds ``spikesandwav/``) safely
    extracted, the metadata and readme beside it; built in a temporary folder and renamed."""
    import shutil

    from strflow.io.archives import safe_extract
    from strflow.store.atomic import atomic_path

    for path in downloads.values():
        verify_recorded(path)
    with atomic_path(out, suffix=".assembling") as tmp:
        safe_extract(Path(downloads["spikesandwav.zip"]), tmp)
        for name in ("MetadataSHEnCneurons.mat", "ReadMe.rtf"):
            shutil.copyfile(downloads[name], tmp / name)
    log.info("NS1 release assembled in %s", out)


CRCNS_RELEASE_FILES = {
    "aa1": {"crcns-aa1.zip": 0},  # name -> strip_components (a single wrapping folder is dropped too)
    "aa2": {"crcns-aa2-docs.tar.gz": 2, "crcns-aa2-all_cells.tar.gz": 2, "crcns-aa2-all_stims.tar.gz": 2},
}


def assemble_release(fmt: str, archives: dict, out) -> None:
    """Raw folder of a CRCNS text release: every archive verified, safely extracted and
    merged in a temporary folder (AA2's three tarballs wrap ``crcns/aa2/``; a single
    wrapping folder of the AA1 zip is dropped), then renamed into place."""
    from strflow.io.archives import safe_extract
    from strflow.store.atomic import atomic_path

    with atomic_path(out, suffix=".assembling") as tmp:
        tmp.mkdir(parents=True)
        for name, strip in CRCNS_RELEASE_FILES[fmt].items():
            path = Path(archives[name])
            verify_recorded(path)
            safe_extract(path, tmp, strip_components=strip)
        entries = list(tmp.iterdir())
        if len(entries) == 1 and entries[0].is_dir():
            inner = entries[0]
            for child in list(inner.iterdir()):
                child.rename(tmp / child.name)
            inner.rmdir()
    log.info("%s release assembled in %s", fmt.upper(), out)
