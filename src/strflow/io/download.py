"""Download and unpack the raw dataset archives (pure library; no Snakemake here).

Three transfer protocols (see docs/reference: CRCNS moved to AWS in 2026):

* ``"crcns"`` (default): log in to the Plone site ``{base_url}/login_form``, keep the
  session cookie, then ``GET {download_base}/{url_path}`` with HTTP Range resume.
* ``"crcns-nersc"`` (fallback, the pre-2026 portal): ``POST {base_url}/download/index.php``
  with ``fn``/``username``/``password``/``submit=Login`` on every request; no Range.
* ``"osf"``: ``GET {base_url}/download/<guid>/``, no credentials.

Every transfer writes ``<dest>.part`` and renames it to ``dest`` only once complete
(length checked against ``Content-Length``/``Content-Range`` when the server gives
them).  A leftover ``.part`` is resumed with ``Range: bytes=<size>-`` when the
protocol allows it; a ``200`` answer to that request restarts from zero.

:class:`Manifest` records the sha256 of every downloaded file on first download and
verifies it on every reuse.  :func:`strflow.io.archives.safe_extract` unpacks tar/zip archives atomically
and refuses members that would escape the destination.

Credentials never appear in exceptions, log records, ``repr`` or files written here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import requests

from strflow.store.atomic import atomic_path


log = logging.getLogger(__name__)


__all__ = [
    "DownloadError",
    "CRCNSCredentials",
    "fetch",
    "sha256_file",
    "Manifest",
    "fetch_verified",
    "DEFAULT_BASE_URLS",
    "CRCNS_DOWNLOAD_BASE",
]


#: Default ``base_url`` per protocol (the login site for "crcns").
DEFAULT_BASE_URLS = {
    "crcns": "https://crcns.org",
    "crcns-nersc": "https://portal.nersc.gov/project/crcns",
    "osf": "https://osf.io",
}


#: Default file host of the "crcns" protocol.
CRCNS_DOWNLOAD_BASE = "https://download.crcns.org"


TIMEOUT = (30, 600)  # (connect, read) seconds


SNIFF_BYTES = 4096


_MISSING_CREDS = (
    "CRCNS credentials missing: set CRCNS_USERNAME and CRCNS_PASSWORD "
    "(free account at https://crcns.org/register)"
)


class DownloadError(RuntimeError):
    """Any download, verification or extraction failure (never carries credentials)."""


@dataclass(frozen=True)
class CRCNSCredentials:
    username: str
    password: str = field(repr=False)

    def __repr__(self) -> str:  # explicit: the password must never be shown
        return f"CRCNSCredentials(username={self.username!r}, password='***')"

    __str__ = __repr__

    @classmethod
    def from_env(cls) -> "CRCNSCredentials":
        user = os.environ.get("CRCNS_USERNAME", "")
        pwd = os.environ.get("CRCNS_PASSWORD", "")
        if not user or not pwd:
            raise DownloadError(_MISSING_CREDS)
        return cls(user, pwd)


def _scrub(text: str, credentials: CRCNSCredentials | None) -> str:
    """Remove the password (and its URL-encoded form) from a message."""
    if credentials is not None and credentials.password:
        from urllib.parse import quote, quote_plus

        for secret in {credentials.password, quote(credentials.password, safe=""), quote_plus(credentials.password)}:
            if secret:
                text = text.replace(secret, "***")
    return text


def _looks_like_login_form(head: bytes) -> bool:
    low = head[:SNIFF_BYTES].lower()
    return b"<form" in low and b"password" in low


def _part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.I)


def fetch(
    url_path: str,
    dest: Path,
    *,
    protocol: str = "crcns",
    base_url: str | None = None,
    download_base: str | None = None,
    credentials: CRCNSCredentials | None = None,
    session: requests.Session | None = None,
    chunk_bytes: int = 1 << 20,
    progress: bool = True,
) -> Path:
    """Download ``url_path`` to ``dest`` (via ``dest.part``) and return ``dest``.

    ``url_path`` is the dataset-relative path for the CRCNS protocols
    (``aa-4/BlaBro09xxF.tar.gz``) and the guid for ``"osf"`` (``gdwyd``).
    ``base_url`` defaults to :data:`DEFAULT_BASE_URLS` [protocol]; ``download_base``
    (the file host, "crcns" only) to :data:`CRCNS_DOWNLOAD_BASE`.  For the CRCNS
    protocols ``credentials`` default to :meth:`CRCNSCredentials.from_env`, which
    raises before any network traffic when they are missing.
    """
    if protocol not in DEFAULT_BASE_URLS:
        raise DownloadError(f"{url_path}: unknown protocol {protocol!r} (expected one of {sorted(DEFAULT_BASE_URLS)})")
    dest = Path(dest)
    url_path = url_path.lstrip("/")
    if protocol != "osf" and credentials is None:
        credentials = CRCNSCredentials.from_env()  # raises before any request
    base = (base_url or DEFAULT_BASE_URLS[protocol]).rstrip("/")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = _part_path(dest)
    own_session = session is None
    sess = session if session is not None else requests.Session()
    try:
        if protocol == "crcns":
            _plone_login(sess, base, url_path, part, credentials)
            file_base = (download_base or CRCNS_DOWNLOAD_BASE).rstrip("/")

            def request(headers):
                return sess.get(f"{file_base}/{url_path}", headers=headers, stream=True,
                                timeout=TIMEOUT, allow_redirects=True)

            resumable = True
        elif protocol == "crcns-nersc":
            form = {"fn": url_path, "username": credentials.username,
                    "password": credentials.password, "submit": "Login"}

            def request(headers):
                return sess.post(f"{base}/download/index.php", data=form, headers=headers,
                                 stream=True, timeout=TIMEOUT, allow_redirects=True)

            resumable = False
        else:  # osf
            def request(headers):
                return sess.get(f"{base}/download/{url_path}/", headers=headers, stream=True,
                                timeout=TIMEOUT, allow_redirects=True)

            resumable = True
        _transfer(request, url_path, dest, part, resumable=resumable, chunk_bytes=chunk_bytes,
                  progress=progress, credentials=credentials)
    finally:
        if own_session:
            sess.close()
    return dest


def _plone_login(sess, base, url_path, part, credentials) -> None:
    form = {
        "__ac_name": credentials.username,
        "__ac_password": credentials.password,
        "form.submitted": "1",
        "js_enabled": "0",
        "pwd_empty": "0",
        "submit": "Log in",
    }
    before = len(sess.cookies)
    try:
        resp = sess.post(f"{base}/login_form", data=form, timeout=TIMEOUT, allow_redirects=True)
    except requests.RequestException as exc:
        raise DownloadError(
            f"{url_path}: CRCNS login request failed ({type(exc).__name__}: {_scrub(str(exc), credentials)})"
        ) from None
    if resp.status_code >= 400:
        raise DownloadError(f"{url_path}: CRCNS login failed (HTTP {resp.status_code} from /login_form)")
    if len(sess.cookies) <= before and _looks_like_login_form(resp.content):
        _unlink(part)
        raise DownloadError(f"{url_path}: CRCNS authentication failed (login form returned; check username/password)")


def _transfer(request, url_path, dest, part, *, resumable, chunk_bytes, progress, credentials) -> None:
    offset = part.stat().st_size if part.exists() else 0
    if offset and not resumable:
        _unlink(part)
        offset = 0
    headers = {"Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        resp = request(headers)
    except requests.RequestException as exc:
        raise DownloadError(
            f"{url_path}: request failed ({type(exc).__name__}: {_scrub(str(exc), credentials)})"
        ) from None
    with resp:
        if offset and resp.status_code == 416:
            # Range not satisfiable: the .part may be stale/oversized; restart cleanly.
            _unlink(part)
            return _transfer(request, url_path, dest, part, resumable=False, chunk_bytes=chunk_bytes,
                             progress=progress, credentials=credentials)
        if resp.status_code not in (200, 206):
            raise DownloadError(f"{url_path}: HTTP {resp.status_code} {resp.reason or ''}".rstrip())
        total = None
        if resp.status_code == 206:
            if not offset:
                raise DownloadError(f"{url_path}: unexpected 206 answer to a non-Range request")
            m = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
            if not m or int(m.group(1)) != offset:
                raise DownloadError(f"{url_path}: bad Content-Range {resp.headers.get('Content-Range')!r} "
                                    f"for resume at byte {offset}")
            if m.group(3) != "*":
                total = int(m.group(3))
            mode = "ab"
        else:
            if offset:
                log.info("%s: server ignored Range; restarting from zero", url_path)
            offset = 0
            cl = resp.headers.get("Content-Length")
            if cl is not None and cl.isdigit():
                total = int(cl)
            mode = "wb"
        if total is None and resp.status_code == 206:
            cl = resp.headers.get("Content-Length")
            if cl is not None and cl.isdigit():
                total = offset + int(cl)

        chunks = resp.iter_content(chunk_size=chunk_bytes)
        written = offset
        try:
            head = b""
            if resp.status_code == 200:
                # Sniff the first bytes *before* opening the .part file: a login page
                # served with 200 means the credentials were rejected.
                for chunk in chunks:
                    head += chunk
                    if len(head) >= SNIFF_BYTES:
                        break
                if _looks_like_login_form(head):
                    _unlink(part)
                    raise DownloadError(
                        f"{url_path}: authentication failed (server returned an HTML login form; "
                        "check CRCNS username/password)"
                    )
            from tqdm import tqdm

            with open(part, mode) as fh, tqdm(
                total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
                desc=dest.name, file=sys.stderr, disable=not progress, leave=False,
            ) as bar:
                if head:
                    fh.write(head)
                    written += len(head)
                    bar.update(len(head))
                for chunk in chunks:
                    fh.write(chunk)
                    written += len(chunk)
                    bar.update(len(chunk))
        except DownloadError:
            raise
        except (requests.RequestException, OSError) as exc:
            raise DownloadError(
                f"{url_path}: transfer interrupted after {written} bytes "
                f"({type(exc).__name__}: {_scrub(str(exc), credentials)}); "
                f"partial file kept as {part.name}, fetch again to resume"
            ) from None
    if total is not None and written != total:
        raise DownloadError(f"{url_path}: incomplete transfer ({written} of {total} bytes); "
                            f"partial file kept as {part.name}, fetch again to resume")
    os.replace(part, dest)
    log.info("%s: downloaded %d bytes to %s", url_path, written, dest)


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Manifest:
    """JSON file ``{relative file name: sha256}``; names are relative to the manifest's folder."""

    def __init__(self, path):
        self.path = Path(path)
        self.root = self.path.parent
        self.entries: dict[str, str] = {}
        if self.path.exists():
            try:
                self.entries = dict(json.loads(self.path.read_text()))
            except (ValueError, TypeError) as exc:
                raise DownloadError(f"{self.path.name}: unreadable manifest ({exc})") from None

    def key(self, file) -> str:
        file = Path(file)
        try:
            return file.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            raise DownloadError(f"{file}: not inside the manifest folder {self.root}") from None

    def _save(self) -> None:
        with atomic_path(self.path) as tmp:
            tmp.write_text(json.dumps(dict(sorted(self.entries.items())), indent=2) + "\n")

    def record(self, file) -> str:
        digest = sha256_file(file)
        self.entries[self.key(file)] = digest
        self._save()
        return digest

    def forget(self, file) -> None:
        if self.entries.pop(self.key(file), None) is not None:
            self._save()

    def verify(self, file) -> bool:
        """True if recorded and matching; False if not recorded; DownloadError on mismatch."""
        name = self.key(file)
        expected = self.entries.get(name)
        if expected is None:
            return False
        actual = sha256_file(file)
        if actual != expected:
            raise DownloadError(
                f"{name}: sha256 mismatch (expected {expected}, got {actual}); "
                "the file is corrupted or was changed - refetch with force=True"
            )
        return True


def fetch_verified(url_path: str, dest: Path, *, manifest: Manifest, force: bool = False, **fetch_kwargs) -> Path:
    """Reuse ``dest`` if present (verifying it against ``manifest``), else :func:`fetch` it
    and record its sha256.  ``force=True`` discards ``dest`` and any ``.part`` and refetches."""
    dest = Path(dest)
    if force:
        _unlink(dest)
        _unlink(_part_path(dest))
        manifest.forget(dest)
    elif dest.exists():
        if not manifest.verify(dest):
            manifest.record(dest)  # present before the manifest existed: adopt it
        return dest
    fetch(url_path, dest, **fetch_kwargs)
    manifest.record(dest)
    return dest
