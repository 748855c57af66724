"""strflow.io.download against a real local HTTP server (127.0.0.1, port 0) run in-process.

The fake server (tests/helpers/crcns_server.py, fixture ``server``) implements the three
protocols: the Plone login (``/login_form``) and cookie-protected files (``/files/<path>``,
Range/206), the NERSC POST form (``/download/index.php``) and OSF GETs
(``/osf/download/<guid>/``).  Switches on the shared state simulate a dropped connection,
a server ignoring Range, wrong passwords.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import tarfile
import zipfile
from pathlib import Path

import pytest

from strflow.io.download import (
    CRCNSCredentials,
    DownloadError,
    Manifest,
    fetch,
    fetch_verified,
    sha256_file,
)
from strflow.io.archives import safe_extract

from tests.helpers.crcns_server import FILES, MISSING, OSF, PASSWORD, PAYLOAD, TOKEN, USER


@pytest.fixture
def creds(monkeypatch):
    monkeypatch.setenv("CRCNS_USERNAME", USER)
    monkeypatch.setenv("CRCNS_PASSWORD", PASSWORD)
    return CRCNSCredentials.from_env()


@pytest.fixture(autouse=True)
def _logs(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


def crcns_kw(server, **kw):
    return dict(protocol="crcns", base_url=server.base, download_base=server.base + "/files", progress=False, **kw)


def assert_no_secret(tmp_path: Path, caplog, *texts: str) -> None:
    secret = PASSWORD.encode()
    for p in tmp_path.rglob("*"):
        if p.is_file() and not p.is_symlink():
            assert secret not in p.read_bytes(), p
    for t in texts:
        assert PASSWORD not in t
    assert PASSWORD not in caplog.text
    for r in caplog.records:
        assert PASSWORD not in r.getMessage()


def listing(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


# ------------------------------------------------------------------ credentials


def test_credentials_repr_and_missing_env_raise_before_any_request(server, tmp_path, monkeypatch, caplog):
    c = CRCNSCredentials(USER, PASSWORD)
    assert PASSWORD not in repr(c) and PASSWORD not in str(c) and USER in repr(c)
    monkeypatch.delenv("CRCNS_USERNAME", raising=False)
    monkeypatch.delenv("CRCNS_PASSWORD", raising=False)
    for protocol in ("crcns", "crcns-nersc"):
        with pytest.raises(DownloadError) as ei:
            fetch("aa-1/crcns-aa1.zip", tmp_path / "x.zip", protocol=protocol, base_url=server.base,
                  download_base=server.base + "/files", progress=False)
        assert str(ei.value) == MISSING
    monkeypatch.setenv("CRCNS_USERNAME", USER)  # password still unset
    with pytest.raises(DownloadError, match="CRCNS credentials missing"):
        CRCNSCredentials.from_env()
    assert server.state.requests == []
    assert listing(tmp_path) == []


# ------------------------------------------------------------------ protocols


def test_crcns_plone_login_then_cookie_get(server, tmp_path, creds, caplog, capsys):
    dest = tmp_path / "raw" / "BlaBro09xxF.tar.gz"
    kw = crcns_kw(server)
    kw["progress"] = True
    out = fetch("aa-4/BlaBro09xxF.tar.gz", dest, credentials=creds, chunk_bytes=4096, **kw)
    err = capsys.readouterr().err
    assert "BlaBro09xxF.tar.gz" in err and PASSWORD not in err  # tqdm bar on stderr
    assert out == dest and dest.read_bytes() == PAYLOAD
    assert listing(tmp_path) == ["raw", "raw/BlaBro09xxF.tar.gz"]
    login, get = server.state.requests
    assert (login["method"], login["path"]) == ("POST", "/login_form")
    assert login["form"] == {"__ac_name": USER, "__ac_password": PASSWORD, "form.submitted": "1",
                             "js_enabled": "0", "pwd_empty": "0", "submit": "Log in"}
    assert (get["method"], get["path"]) == ("GET", "/files/aa-4/BlaBro09xxF.tar.gz")
    assert f"__ac={TOKEN}" in get["headers"]["Cookie"] and "Range" not in get["headers"]
    assert_no_secret(tmp_path, caplog)


def test_nersc_post_form_discards_stale_part(server, tmp_path, creds, caplog):
    dest = tmp_path / "crcns-aa1.zip"
    (tmp_path / "crcns-aa1.zip.part").write_bytes(b"stale")  # no Range on NERSC: restart
    fetch("aa-1/crcns-aa1.zip", dest, protocol="crcns-nersc", base_url=server.base, credentials=creds,
          progress=False)
    assert dest.read_bytes() == FILES["aa-1/crcns-aa1.zip"]
    assert listing(tmp_path) == ["crcns-aa1.zip"]
    (req,) = server.state.requests
    assert (req["method"], req["path"]) == ("POST", "/download/index.php")
    assert req["form"] == {"fn": "aa-1/crcns-aa1.zip", "username": USER, "password": PASSWORD, "submit": "Login"}
    assert "Range" not in req["headers"] and "Cookie" not in req["headers"]
    assert_no_secret(tmp_path, caplog)


def test_osf_get_without_credentials(server, tmp_path, monkeypatch):
    monkeypatch.delenv("CRCNS_USERNAME", raising=False)
    monkeypatch.delenv("CRCNS_PASSWORD", raising=False)
    dest = tmp_path / "MetadataSHEnCneurons.mat"
    fetch("gdwyd", dest, protocol="osf", base_url=server.base + "/osf", progress=False)
    assert dest.read_bytes() == OSF["gdwyd"]
    (req,) = server.state.requests
    assert (req["method"], req["path"]) == ("GET", "/osf/download/gdwyd/")
    assert "Cookie" not in req["headers"] and "Authorization" not in req["headers"]
    assert listing(tmp_path) == ["MetadataSHEnCneurons.mat"]


def test_http_404_names_path_and_leaves_nothing(server, tmp_path):
    with pytest.raises(DownloadError) as ei:
        fetch("nope", tmp_path / "x", protocol="osf", base_url=server.base + "/osf", progress=False)
    assert str(ei.value) == "nope: HTTP 404 Not Found"
    assert listing(tmp_path) == []


@pytest.mark.parametrize("variant", ["crcns-login", "crcns-statusmessages-cookie", "nersc"])
def test_wrong_password_login_form_leaves_no_file(server, tmp_path, monkeypatch, caplog, variant):
    bad = CRCNSCredentials(USER, "wrong-" + PASSWORD)
    dest = tmp_path / "BlaBro09xxF.tar.gz"
    (tmp_path / "BlaBro09xxF.tar.gz.part").write_bytes(PAYLOAD[:1000])
    server.state.failed_login_cookie = variant == "crcns-statusmessages-cookie"
    kw = (dict(protocol="crcns-nersc", base_url=server.base, progress=False) if variant == "nersc"
          else crcns_kw(server))
    with pytest.raises(DownloadError) as ei:
        fetch("aa-4/BlaBro09xxF.tar.gz", dest, credentials=bad, **kw)
    msg = str(ei.value)
    assert msg.startswith("aa-4/BlaBro09xxF.tar.gz: ") and "authentication failed" in msg
    assert listing(tmp_path) == []
    assert_no_secret(tmp_path, caplog, msg, repr(ei.value))
    # the login form was served exactly where expected
    paths = [r["path"] for r in server.state.requests]
    assert paths == {"crcns-login": ["/login_form"],
                     "crcns-statusmessages-cookie": ["/login_form", "/files/aa-4/BlaBro09xxF.tar.gz"],
                     "nersc": ["/download/index.php"]}[variant]


# ------------------------------------------------------------------ resume / restart


def test_dropped_connection_then_range_resume(server, tmp_path, creds, caplog):
    dest = tmp_path / "BlaBro09xxF.tar.gz"
    part = tmp_path / "BlaBro09xxF.tar.gz.part"
    server.state.drop_after = 40_000
    with pytest.raises(DownloadError) as ei:
        fetch("aa-4/BlaBro09xxF.tar.gz", dest, credentials=creds, chunk_bytes=4096, **crcns_kw(server))
    msg = str(ei.value)
    m = re.match(r"aa-4/BlaBro09xxF\.tar\.gz: transfer interrupted after (\d+) bytes \(ChunkedEncodingError", msg)
    assert m and msg.endswith("partial file kept as BlaBro09xxF.tar.gz.part, fetch again to resume")
    kept = int(m.group(1))  # whole chunks written before the drop (the last short one is lost)
    assert 0 < kept <= 40_000 and kept % 4096 == 0
    assert not dest.exists() and part.read_bytes() == PAYLOAD[:kept]

    fetch("aa-4/BlaBro09xxF.tar.gz", dest, credentials=creds, chunk_bytes=4096, **crcns_kw(server))
    assert dest.read_bytes() == PAYLOAD
    assert listing(tmp_path) == ["BlaBro09xxF.tar.gz"]
    last = server.state.requests[-1]
    assert last["headers"]["Range"] == f"bytes={kept}-"
    assert_no_secret(tmp_path, caplog, msg)


def test_server_ignoring_range_restarts_from_zero(server, tmp_path):
    dest = tmp_path / "spikes.mat"
    (tmp_path / "spikes.mat.part").write_bytes(b"\x00" * 1234)  # garbage that must not survive
    server.state.ignore_range = True
    fetch("gdwyd", dest, protocol="osf", base_url=server.base + "/osf", progress=False)
    assert dest.read_bytes() == OSF["gdwyd"]
    assert listing(tmp_path) == ["spikes.mat"]
    (req,) = server.state.requests
    assert req["headers"]["Range"] == "bytes=1234-"


# ------------------------------------------------------------------ manifest


def test_manifest_records_verifies_and_force_refetches(server, tmp_path, caplog):
    mpath = tmp_path / "manifest.json"
    dest = tmp_path / "raw" / "meta.mat"
    kw = dict(protocol="osf", base_url=server.base + "/osf", progress=False)
    fetch_verified("gdwyd", dest, manifest=Manifest(mpath), **kw)
    digest = sha256_file(dest)
    assert json.loads(mpath.read_text()) == {"raw/meta.mat": digest}
    assert len(server.state.requests) == 1

    fetch_verified("gdwyd", dest, manifest=Manifest(mpath), **kw)  # reuse: verified, no request
    assert len(server.state.requests) == 1

    dest.write_bytes(dest.read_bytes()[:-1] + b"X")  # silent corruption
    with pytest.raises(DownloadError) as ei:
        fetch_verified("gdwyd", dest, manifest=Manifest(mpath), **kw)
    assert str(ei.value).startswith("raw/meta.mat: sha256 mismatch (expected " + digest)
    assert len(server.state.requests) == 1

    fetch_verified("gdwyd", dest, manifest=Manifest(mpath), force=True, **kw)
    assert dest.read_bytes() == OSF["gdwyd"] and len(server.state.requests) == 2
    assert json.loads(mpath.read_text()) == {"raw/meta.mat": digest}
    assert listing(tmp_path) == ["manifest.json", "raw", "raw/meta.mat"]


# ------------------------------------------------------------------ extraction


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]], mode="w:gz") -> Path:
    with tarfile.open(path, mode) as tf:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            else:
                tf.addfile(info)
    return path


def _file(name, data=b"x"):
    return (tarfile.TarInfo(name), data)


def _link(name, target, kind=tarfile.SYMTYPE):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return (info, None)


def _dev(name):
    info = tarfile.TarInfo(name)
    info.type = tarfile.CHRTYPE
    info.devmajor, info.devminor = 1, 3
    return (info, None)


def test_safe_extract_good_tarball_strip_components_and_merge(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    cells = _tar(src / "crcns-aa2-all_cells.tar.gz", [
        _file("crcns/aa2/all_cells/obla1305_7/conspecific/spike1", b"1 2 3 \n"),
        _file("crcns/aa2/all_cells/obla1305_7/conspecific/stim1", b"abc"),
        _file("crcns/README", b"skipped by strip"),
        _link("crcns/aa2/all_cells/latest", "obla1305_7"),
    ])
    docs = _tar(src / "crcns-aa2-docs.tar.bz2", [_file("crcns/aa2/stim_data.csv", b"a,b\n")], mode="w:bz2")
    dest = tmp_path / "AA2"
    assert safe_extract(cells, dest, strip_components=2) == dest
    safe_extract(docs, dest, strip_components=2)  # merges into the existing folder
    assert listing(dest) == ["all_cells", "all_cells/latest", "all_cells/obla1305_7",
                             "all_cells/obla1305_7/conspecific", "all_cells/obla1305_7/conspecific/spike1",
                             "all_cells/obla1305_7/conspecific/stim1", "stim_data.csv"]
    assert (dest / "all_cells/obla1305_7/conspecific/spike1").read_bytes() == b"1 2 3 \n"
    assert (dest / "stim_data.csv").read_bytes() == b"a,b\n"
    assert os.readlink(dest / "all_cells/latest") == "obla1305_7"
    with pytest.raises(DownloadError, match=r"already contains \['stim_data.csv'\]"):
        safe_extract(docs, dest, strip_components=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["AA2", "src"]  # no temp folders


@pytest.mark.parametrize("member, expected", [
    (_file("../evil.txt"), "member '../evil.txt': refusing '..' path component"),
    (_file("ok/../../evil.txt"), "member 'ok/../../evil.txt': refusing '..' path component"),
    (_file("/tmp/abs_evil.txt"), "member '/tmp/abs_evil.txt': refusing absolute path"),
    (_link("data/link", "../../outside"), "member 'data/link': refusing link to '../../outside' (points outside the destination)"),
    (_link("data/abs", "/etc/passwd"), "member 'data/abs': refusing link to '/etc/passwd' (points outside the destination)"),
    (_link("data/hard", "../outside", tarfile.LNKTYPE), "member 'data/hard': refusing '..' path component"),
    (_dev("data/null"), "member 'data/null': refusing device/special file"),
])
def test_safe_extract_refuses_malicious_tar_members(tmp_path, member, expected):
    archive = _tar(tmp_path / "evil.tar.gz", [_file("data/good.txt", b"good"), member])
    dest = tmp_path / "out" / "dest"
    with pytest.raises(DownloadError) as ei:
        safe_extract(archive, dest)
    assert str(ei.value).startswith("evil.tar.gz: " + expected)
    assert listing(tmp_path) == ["evil.tar.gz", "out"]  # nothing at dest, no temp folder, nothing outside


def test_safe_extract_symlink_chain_escape_caught_by_data_filter(tmp_path):
    # each link looks harmless lexically; together they resolve outside dest
    archive = _tar(tmp_path / "chain.tar", [_file("data/good.txt"), _link("data/l1", ".."),
                                            _link("data/l1/l2", ".."), _file("data/l1/l2/evil.txt")], mode="w")
    with pytest.raises(DownloadError) as ei:
        safe_extract(archive, tmp_path / "dest")
    assert str(ei.value).startswith("chain.tar: member 'data/l1/l2': refused by tar filter")
    assert listing(tmp_path) == ["chain.tar"]


def test_safe_extract_truncated_tarball_leaves_nothing(tmp_path):
    full = _tar(tmp_path / "full.tar.gz", [_file(f"animal/f{i}.bin", os.urandom(50_000)) for i in range(4)])
    truncated = tmp_path / "cut.tar.gz"
    truncated.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(DownloadError) as ei:
        safe_extract(truncated, tmp_path / "dest")
    assert str(ei.value).startswith("cut.tar.gz: corrupt or truncated archive")
    assert listing(tmp_path) == ["cut.tar.gz", "full.tar.gz"]


def _zip(path: Path, entries: list[tuple[str, bytes, int | None]]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name)
            if mode is not None:
                info.external_attr = mode << 16
            zf.writestr(info, data)
    return path


def test_safe_extract_zip_good_and_malicious(tmp_path):
    good = _zip(tmp_path / "spikesandwav.zip", [("spikesandwav/cluster.01.data.mat", b"m", None),
                                                  ("spikesandwav/SH.En.C/a", b"w", None)])
    safe_extract(good, tmp_path / "NS1")
    assert listing(tmp_path / "NS1") == ["spikesandwav", "spikesandwav/SH.En.C", "spikesandwav/SH.En.C/a",
                                         "spikesandwav/cluster.01.data.mat"]
    safe_extract(good, tmp_path / "flat", strip_components=1)
    assert listing(tmp_path / "flat") == ["SH.En.C", "SH.En.C/a", "cluster.01.data.mat"]

    cases = {
        "dots.zip": (("../evil", b"x", None), "member '../evil': refusing '..' path component"),
        "abs.zip": (("/evil", b"x", None), "member '/evil': refusing absolute path"),
        "link.zip": (("lnk", b"../../etc", 0o120777), "member 'lnk': refusing symlink member in zip"),
    }
    for name, (entry, expected) in cases.items():
        archive = _zip(tmp_path / name, [("ok.txt", b"ok", None), entry])
        with pytest.raises(DownloadError) as ei:
            safe_extract(archive, tmp_path / "bad")
        assert str(ei.value) == f"{name}: {expected}"
    cut = tmp_path / "cut.zip"
    cut.write_bytes(good.read_bytes()[:-30])
    with pytest.raises(DownloadError, match=r"^cut.zip: corrupt or truncated archive"):
        safe_extract(cut, tmp_path / "bad")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["NS1", "flat", "spikesandwav.zip", "cut.zip", *cases])


def test_verify_recorded_names_a_corrupted_archive(tmp_path):
    from strflow.steps.download import verify_recorded

    archive = tmp_path / "BlaBro09xxF.tar.gz"
    archive.write_bytes(b"original bytes")
    (tmp_path / "BlaBro09xxF.tar.gz.sha256").write_text(f"{hashlib.sha256(b'original bytes').hexdigest()}  {archive.name}\n")
    verify_recorded(archive)  # intact: no error
    archive.write_bytes(b"corrupted bytes")
    with pytest.raises(DownloadError, match=r"BlaBro09xxF\.tar\.gz: sha256 does not match"):
        verify_recorded(archive)
