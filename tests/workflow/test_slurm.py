"""The demo workflow through a real SLURM cluster, via profiles/slurm.

Needs a running SLURM (``.ci/run`` starts a single-node one with ``.ci/slurm-cluster.sh``
and sets STRFLOW_SLURM=1).  Without STRFLOW_SLURM these tests skip; with it, a missing or
unhealthy cluster is a failure.

Checks: every non-local job went through sbatch (the executor's submission lines, the
SLURM job ids that the jobs themselves logged, and the controller's record of them as
COMPLETED); the outputs equal a local run's; a job killed with ``scancel`` mid-run is
resubmitted with twice the memory and the workflow still completes with the same outputs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from tests.helpers import REPO


pytestmark = pytest.mark.slurm
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
TARGET = "results/demo/qc.pdf"
PROFILES = ["--profile", str(REPO / "profiles/slurm"), "--profile", str(REPO / ".ci/slurm-profile")]
SUBMITTED = re.compile(r"has been submitted with SLURM jobid (\d+) \(log: (\S+)\)")


@pytest.fixture(scope="module")
def cluster() -> None:
    if os.environ.get("STRFLOW_SLURM") != "1":
        pytest.skip("no SLURM cluster: set STRFLOW_SLURM=1 with one running (.ci/slurm-cluster.sh)")
    if shutil.which("sinfo") is None:
        pytest.fail("STRFLOW_SLURM=1 but sinfo is not on PATH")
    out = subprocess.run(["sinfo", "-h", "-p", "debug", "-o", "%T"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stdout.split() and out.stdout.split()[0] in ("idle", "mixed"), (
        f"SLURM partition 'debug' not ready: {out.stdout!r} {out.stderr!r}")


def smk_cmd(workdir: Path, *args: str) -> list[str]:
    # targets first: --profile takes a list and would swallow them
    return [str(SNAKEMAKE), TARGET, *args, "-s", str(REPO / "Snakefile"), "-d", str(workdir)]


def run(cmd: list[str], timeout: int = 900) -> subprocess.CompletedProcess:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"snakemake failed:\n{out.stdout[-3000:]}\n{out.stderr[-8000:]}"
    return out


def slurm_job(job_id: str) -> dict[str, str]:
    """`scontrol show job` as a dict (finished jobs stay visible for MinJobAge)."""
    out = subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return dict(kv.split("=", 1) for kv in out.stdout.split() if "=" in kv)


def mem_mb(info: dict[str, str]) -> int:
    """MinMemoryNode of `scontrol show job` (e.g. 1012M, 2G) in MB."""
    value = info["MinMemoryNode"]
    scale = {"M": 1, "G": 1024, "T": 1024**2}[value[-1]]
    return int(float(value[:-1]) * scale)


@pytest.fixture(scope="module")
def local_run(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("local")
    run(smk_cmd(work, "--cores", "2"))
    return work


def outputs(work: Path) -> list[Path]:
    root = work / "results" / "demo"
    skip = {"logs", "benchmarks"}
    return sorted(p.relative_to(root) for p in root.rglob("*")
                  if p.is_file() and not skip & set(p.relative_to(root).parts))


def h5_items(path: Path) -> dict:
    items = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            items[name] = obj[()] if isinstance(obj, h5py.Dataset) else None
            for k, v in obj.attrs.items():
                items[f"{name}@{k}"] = v
        f.visititems(visit)
        for k, v in f.attrs.items():
            items[f"@{k}"] = v
    return items


def assert_same_outputs(a: Path, b: Path) -> None:
    files = outputs(a)
    assert files == outputs(b)
    assert any(p.suffix == ".h5" for p in files) and any(p.suffix == ".parquet" for p in files)
    for rel in files:
        pa, pb = a / "results/demo" / rel, b / "results/demo" / rel
        if rel.suffix == ".parquet":
            ta, tb = pq.read_table(pa), pq.read_table(pb)
            assert ta.schema == tb.schema, rel
            # exact, with NaN == NaN (undefined quality metrics are NaN with a reason)
            pd.testing.assert_frame_equal(ta.to_pandas(), tb.to_pandas(), check_exact=True, obj=str(rel))
        elif rel.suffix == ".h5":
            ia, ib = h5_items(pa), h5_items(pb)
            assert ia.keys() == ib.keys(), rel
            for k in ia:
                np.testing.assert_array_equal(ia[k], ib[k], err_msg=f"{rel}:{k}")
        elif rel.suffix in (".pdf", ".png"):
            assert pa.read_bytes() == pb.read_bytes(), rel  # deterministic figures
        # raw synthetic unit files are HDF5 with other suffixes: compared through the tables


def submissions(log: str) -> list[tuple[str, str]]:
    return SUBMITTED.findall(log)


def test_demo_runs_through_slurm_and_matches_local(cluster, local_run, tmp_path):
    out = run(smk_cmd(tmp_path, *PROFILES))
    log = out.stdout + out.stderr
    subs = submissions(log)
    # synthesize x2, read x2, (stim_table+spectrograms), (bin+smooth) x2, (tables+quality), qc
    assert len(subs) == 9, log[-5000:]
    ids = [i for i, _ in subs]
    assert len(set(ids)) == len(ids)
    for job_id, slurm_log in subs:
        assert Path(slurm_log).is_file(), slurm_log  # kept: slurm-keep-successful-logs
        info = slurm_job(job_id)
        assert info["JobState"] == "COMPLETED", (job_id, info.get("JobState"))
        assert info["Partition"] == "debug"
        assert Path(info["WorkDir"]).resolve() == tmp_path.resolve()
    # The jobs themselves logged the SLURM job they ran in.
    for rule_log in ["read/GreBlu1234M.log", "read/YelRed5678F.log", "qc.log", "tables.log", "smooth/GreBlu1234M.log"]:
        text = (tmp_path / "results/demo/logs" / rule_log).read_text()
        m = re.search(r"SLURM job (\d+)", text)
        assert m and m.group(1) in ids, (rule_log, text[:500])
    # Resources derived from input size reached sbatch: read_shard asks 500 MB + 0.5 per raw MB.
    read_ids = [i for i, p in subs if "rule_read_shard" in p]
    assert len(read_ids) == 2
    for job_id in read_ids:
        assert mem_mb(slurm_job(job_id)) >= 500

    assert_same_outputs(local_run, tmp_path)

    # A completed workflow: a dry run through the same profiles has nothing to do.
    dry = run(smk_cmd(tmp_path, *PROFILES, "-n"))
    assert "Nothing to be done" in dry.stdout + dry.stderr


def test_job_cancelled_mid_run_is_retried(cluster, local_run, tmp_path):
    log_path = tmp_path / "snakemake.out"
    with log_path.open("w") as log_file:
        proc = subprocess.Popen(smk_cmd(tmp_path, *PROFILES), stdout=log_file, stderr=subprocess.STDOUT)
        victim = None
        deadline = time.monotonic() + 300
        try:
            while victim is None and time.monotonic() < deadline and proc.poll() is None:
                q = subprocess.run(["squeue", "-h", "-t", "RUNNING", "-o", "%i|%k"],
                                   capture_output=True, text=True, timeout=30).stdout
                for line in q.splitlines():
                    job_id, comment = line.split("|", 1)
                    if (comment.startswith("rule_read_shard")
                            and Path(slurm_job(job_id)["WorkDir"]).resolve() == tmp_path.resolve()):
                        victim = job_id
                        break
                time.sleep(0.2)
            assert victim is not None, "never saw a running read_shard job to cancel"
            subprocess.run(["scancel", victim], check=True, timeout=30)
            proc.wait(timeout=900)
        finally:
            if proc.poll() is None:
                proc.kill()
    log = log_path.read_text()
    assert proc.returncode == 0, log[-8000:]
    assert slurm_job(victim)["JobState"] == "CANCELLED"
    assert re.search(rf"SLURM-job '{victim}' failed", log), log[-5000:]
    subs = submissions(log)
    read_subs = [(i, p) for i, p in subs if "rule_read_shard" in p]
    assert len(read_subs) == 3  # two birds, one of them twice
    victim_log = dict(read_subs)[victim]
    retry = [i for i, p in read_subs if i != victim and Path(p).parent == Path(victim_log).parent]
    assert len(retry) == 1, read_subs
    mem = {i: mem_mb(slurm_job(i)) for i in (victim, retry[0])}
    assert mem[retry[0]] == 2 * mem[victim]  # attempt 2 asks for twice the memory
    assert slurm_job(retry[0])["JobState"] == "COMPLETED"
    assert_same_outputs(local_run, tmp_path)
