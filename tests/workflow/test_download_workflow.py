"""The CRCNS download path of the workflow, end to end, against a local server.

Synthetic AA4 bird tarballs are served with the CRCNS (Plone) protocol on 127.0.0.1;
the workflow downloads, verifies and extracts them and builds qc.pdf, which must be
byte-identical to the one built from the same files with ``source: local``.  The
password must appear nowhere on disk; without credentials the run stops before any
request.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from strflow.processing.spectrogram import SpectrogramSettings
from strflow.synthetic import SyntheticSettings, generate_animal
from tests.helpers import REPO, crcns_server
from tests.helpers.crcns_server import PASSWORD, USER


pytestmark = pytest.mark.workflow
ANIMALS = ["AaaBbb0001M", "CccDdd0002F"]


def smk(work: Path, target: str, cfg: dict, env: dict, dry: bool = False) -> subprocess.CompletedProcess:
    (work / "c.yaml").write_text(yaml.safe_dump(cfg))
    cmd = [str(Path(sys.executable).parent / "snakemake"), target, *(["-n"] if dry else []), "-s", str(REPO / "Snakefile"),
           "-d", str(work), "--cores", "2", "--configfile", str(work / "c.yaml")]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("release")
    spec = SyntheticSettings(animals=tuple(ANIMALS), n_stims=8, stims_per_animal=6, units_per_animal=6, n_trials=10)
    for a in ANIMALS:
        generate_animal(root / "raw", root / "gt" / f"{a}.h5", a, spec, 5.0, SpectrogramSettings(fmin_hz=250, fmax_hz=8000))
    return root / "raw"


def tarball(folder: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    return buf.getvalue()


def test_download_then_identical_qc_and_no_secret(raw, server, tmp_path, monkeypatch):  # noqa: F811
    for a in ANIMALS:
        monkeypatch.setitem(crcns_server.FILES, f"aa-4/{a}.tar.gz", tarball(raw / a))
    download = dict(protocol="crcns", base_url=server.base, download_base=server.base + "/files")
    env = dict(os.environ, CRCNS_USERNAME=USER, CRCNS_PASSWORD=PASSWORD)
    crcns = {"download": download, "datasets": {"x": dict(format="aa4", source="crcns", path="results/x/raw", animals=ANIMALS)}}
    (tmp_path / "dl").mkdir()
    out = smk(tmp_path / "dl", "results/x/qc.pdf", crcns, env)
    assert out.returncode == 0, out.stderr[-4000:]
    assert sorted(r["path"] for r in server.state.requests if r["method"] == "GET") == [f"/files/aa-4/{a}.tar.gz" for a in ANIMALS]
    local = {"datasets": {"x": dict(format="aa4", source="local", path=str(raw), animals=ANIMALS)}}
    (tmp_path / "local").mkdir()
    out = smk(tmp_path / "local", "results/x/qc.pdf", local, dict(os.environ))
    assert out.returncode == 0, out.stderr[-4000:]
    assert (tmp_path / "dl/results/x/qc.pdf").read_bytes() == (tmp_path / "local/results/x/qc.pdf").read_bytes()
    for f in (tmp_path / "dl").rglob("*"):
        if f.is_file():
            assert PASSWORD.encode() not in f.read_bytes(), f
    # a rerun reuses the verified archives: no new request
    n = len(server.state.requests)
    out = smk(tmp_path / "dl", "results/x/qc.pdf", crcns, env)
    assert out.returncode == 0 and len(server.state.requests) == n


def test_missing_credentials_stop_before_any_request(server, tmp_path):  # noqa: F811
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRCNS_")}
    cfg = {"download": dict(protocol="crcns", base_url=server.base, download_base=server.base + "/files"),
           "datasets": {"x": dict(format="aa4", source="crcns", path="results/x/raw", animals=ANIMALS)}}
    out = smk(tmp_path, "results/x/qc.pdf", cfg, env)
    assert out.returncode != 0
    assert "CRCNS credentials are missing: set CRCNS_USERNAME and CRCNS_PASSWORD" in out.stdout + out.stderr
    assert server.state.requests == [] and not (tmp_path / "results").exists()


def test_ns1_from_osf_matches_local_copy(ns1_raw, server, tmp_path, monkeypatch):  # noqa: F811
    import zipfile

    import pyarrow.parquet as pq

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for f in sorted((ns1_raw / "spikesandwav").rglob("*")):
            z.write(f, f.relative_to(ns1_raw).as_posix())
    monkeypatch.setitem(crcns_server.OSF, "5nxga", buf.getvalue())
    monkeypatch.setitem(crcns_server.OSF, "gdwyd", (ns1_raw / "MetadataSHEnCneurons.mat").read_bytes())
    monkeypatch.setitem(crcns_server.OSF, "f3rtm", b"{\\rtf1 readme}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRCNS_")}  # no account needed
    target = "results/x/interim/all/trials.parquet"
    osf = {"download": dict(osf_base_url=server.base + "/osf"), "datasets": {"x": dict(format="ns1", source="osf", path="results/x/raw")}}
    (tmp_path / "dl").mkdir()
    out = smk(tmp_path / "dl", target, osf, env)
    assert out.returncode == 0, out.stderr[-4000:]
    assert sorted(r["path"] for r in server.state.requests) == sorted(f"/osf/download/{g}/" for g in ("5nxga", "gdwyd", "f3rtm"))
    assert not list((tmp_path / "dl/results/x").glob("*.assembling"))
    local = {"datasets": {"x": dict(format="ns1", source="local", path=str(ns1_raw))}}
    (tmp_path / "local").mkdir()
    out = smk(tmp_path / "local", target, local, env)
    assert out.returncode == 0, out.stderr[-4000:]
    for name in ("trials", "neurons", "stims", "skipped"):
        a = pq.read_table(tmp_path / f"dl/results/x/interim/all/{name}.parquet")
        b = pq.read_table(tmp_path / f"local/results/x/interim/all/{name}.parquet")
        assert a.equals(b), name


def _zip_folder(folder: Path, prefix: str) -> bytes:
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                z.write(f, f"{prefix}{f.relative_to(folder).as_posix()}")
    return buf.getvalue()


def _tar_members(folder: Path, names: list[str], prefix: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in names:
            tar.add(folder / name, arcname=f"{prefix}{name}")
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["aa1", "aa2"])
def test_crcns_text_releases_download_like_local(fmt, request, server, tmp_path, monkeypatch):  # noqa: F811
    import pyarrow.parquet as pq

    raw = request.getfixturevalue(f"{fmt}_raw")
    if fmt == "aa1":  # one zip with a wrapping folder (dropped on assembly)
        monkeypatch.setitem(crcns_server.FILES, "aa-1/crcns-aa1.zip", _zip_folder(raw, "crcns-aa1/"))
    else:  # three tarballs wrapping crcns/aa2/
        docs = [p.name for p in raw.iterdir() if p.is_file()]
        for name, members in (("docs", docs), ("all_cells", ["all_cells"]), ("all_stims", ["all_stims"])):
            monkeypatch.setitem(crcns_server.FILES, f"aa-2/crcns-aa2-{name}.tar.gz", _tar_members(raw, members, "crcns/aa2/"))
    env = dict(os.environ, CRCNS_USERNAME=USER, CRCNS_PASSWORD=PASSWORD)
    reading = {"processing": {"reading": {"on_missing_wav": "skip"}}}
    target = "results/t/interim/all/trials.parquet"
    dl = {"download": dict(protocol="crcns", base_url=server.base, download_base=server.base + "/files"),
          "datasets": {"t": dict(format=fmt, source="crcns", path="results/t/raw", **reading)}}
    (tmp_path / "dl").mkdir()
    out = smk(tmp_path / "dl", target, dl, env)
    assert out.returncode == 0, out.stderr[-4000:]
    local = {"datasets": {"t": dict(format=fmt, source="local", path=str(raw), **reading)}}
    (tmp_path / "local").mkdir()
    out = smk(tmp_path / "local", target, local, dict(os.environ))
    assert out.returncode == 0, out.stderr[-4000:]
    for name in ("trials", "neurons", "stims", "skipped"):
        a = pq.read_table(tmp_path / f"dl/results/t/interim/all/{name}.parquet")
        b = pq.read_table(tmp_path / f"local/results/t/interim/all/{name}.parquet")
        assert a.equals(b), name
    for f in (tmp_path / "dl").rglob("*"):
        if f.is_file():
            assert PASSWORD.encode() not in f.read_bytes(), f
