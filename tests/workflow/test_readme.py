"""Every shell command of README.md, run as written.

The README is parsed, not copied: each line of its ``bash`` blocks must match one entry
of ``HOW``, which says how it is exercised; a new command that no entry covers fails
this test.  Commands run in a scratch copy of the repository (its tracked files) whose
``.venv`` is the environment running the tests.  Where a command needs data or an
account, the test supplies a local config (``mine.yaml`` pointing at the demo's raw
files) or checks the documented stop (no CRCNS credentials: a clear error, no request).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from strflow.config import dataset_settings
from tests.helpers import REPO


pytestmark = pytest.mark.workflow
README = (REPO / "README.md").read_text()
CREDENTIALS_STOP = "the CRCNS credentials are missing: set CRCNS_USERNAME and CRCNS_PASSWORD"


def blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", README, re.S | re.M)


def commands() -> list[str]:
    return [line.strip() for block in blocks("bash") for line in block.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    """The repository's tracked files, with .venv -> the environment running the tests."""
    root = tmp_path_factory.mktemp("readme") / "strflow"
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, files):
        src = REPO / name.decode()
        if src.is_file():
            (root / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, root / name.decode())
    (root / ".venv").symlink_to(Path(sys.prefix))
    return root


def sh(root: Path, command: str, timeout: int = 1200) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRCNS_")}
    return subprocess.run(["bash", "-c", command], cwd=root, env=env, capture_output=True, text=True, timeout=timeout)


def ok(out: subprocess.CompletedProcess) -> str:
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-4000:]
    return text


# -- how each README command is exercised -------------------------------------------
def quick_start(root, cmd):
    venv, install, run = (part.strip() for part in cmd.split("&&"))
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert venv in ci  # CI creates the environment with the same command ...
    assert any(line.replace(" --quiet", "") == install for line in ci)  # ... and installs the same way
    ok(sh(root, run))
    assert (root / "results/demo/qc.pdf").stat().st_size > 0


def the_test_command(root, cmd):
    ci = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    assert cmd in ci, "the README's test command is what .ci/run runs"


def fast_tests(root, cmd):
    fast = ok(sh(root, cmd + " --collect-only -q -p no:cacheprovider"))
    full = ok(sh(root, ".venv/bin/python -m pytest --collect-only -q -p no:cacheprovider"))
    n_fast, n_full = (sum("::" in line for line in t.splitlines()) for t in (fast, full))
    assert 0 < n_fast < n_full
    assert "test_fault_corpus.py" not in fast and "test_selection.py" in fast


def credentials_export(root, cmd):
    assert cmd == "export CRCNS_USERNAME=... CRCNS_PASSWORD=..."  # a placeholder: never run


def needs_crcns_account(root, cmd):
    out = sh(root, cmd)  # without credentials: the documented stop, before any request
    assert out.returncode != 0 and CREDENTIALS_STOP in out.stdout + out.stderr, (out.stdout + out.stderr)[-3000:]


def with_conda(root, cmd):
    if shutil.which("conda"):
        ok(sh(root, cmd + " -n"))
        return
    out = sh(root, cmd)  # no conda here: the command parses and stops at the credentials or conda check
    text = out.stdout + out.stderr
    assert out.returncode != 0 and (CREDENTIALS_STOP in text or "Error running conda info" in text), text[-3000:]


def local_copy(root, cmd):
    """The README's mine.yaml names /data/aa4; the test points the same dataset at the
    demo's raw files (built by the quick start) and runs the command verbatim."""
    (block,) = [b for b in blocks("yaml") if b.startswith("# mine.yaml")]
    readme_entry = yaml.safe_load(block)["datasets"]["mydata"]
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["datasets"]["mydata"] = readme_entry
    assert dataset_settings(config, "mydata").format == "aa4"  # the README's entry is a valid one
    demo = config["datasets"]["demo"]["synthetic"]["animals"]
    entry = dict(readme_entry, path=str(root / "results/demo/raw"), animals=demo)
    (root / "mine.yaml").write_text(yaml.safe_dump({"datasets": {"mydata": entry}}))
    if not (root / "results/demo/raw").is_dir():
        ok(sh(root, ".venv/bin/snakemake --cores 2 results/demo/qc.pdf"))
    ok(sh(root, cmd))
    assert (root / "results/mydata/qc.pdf").stat().st_size > 0


def strf_demo(root, cmd):
    ok(sh(root, cmd))
    assert (root / "results/demo/strf/report.pdf").stat().st_size > 0


def demo_output(root, cmd):
    ok(sh(root, cmd))
    target = shlex.split(cmd, comments=True)[-1]
    assert (root / target).exists()


def planned_training(root, cmd):
    """Training every model on the demo takes minutes: the command is planned (-n) as
    written; tests/nn/test_nn_workflow.py runs the model rules end to end."""
    argv = shlex.split(cmd, comments=True)
    text = ok(sh(root, shlex.join(argv + ["-n"])))
    assert "model_fit" in text


def planned_comparison(root, cmd):
    """The NS1 comparison needs the release (downloaded, or a local copy) and hours of
    training: the command is planned (-n, no network) as written; the reduced end-to-end
    run on the real files is tests/workflow/test_model_comparison_realdata.py."""
    argv = shlex.split(cmd, comments=True)
    text = ok(sh(root, shlex.join(argv + ["-n"])))
    assert "model_fit_protocol" in text and "model_comparison" in text and "download_osf_file" in text


def benchmark(root, cmd):
    argv = shlex.split(cmd, comments=True)
    assert Path(root / argv[1]).is_file()
    ok(sh(root, shlex.join(argv[:2] + ["--help"])))


HOW = [
    (r"python3 -m venv \.venv && .*&& \.venv/bin/snakemake --cores 8 results/demo/qc\.pdf", quick_start),
    (r"\.venv/bin/python -m pytest", the_test_command),
    (r"\.venv/bin/python -m pytest -m .+", fast_tests),
    (r"export CRCNS_USERNAME=.*", credentials_export),
    (r"\.venv/bin/snakemake (--cores 8|--profile profiles/slurm) results/aa4/qc\.pdf", needs_crcns_account),
    (r"\.venv/bin/snakemake --sdm conda .*", with_conda),
    (r"\.venv/bin/snakemake --cores 8 results/mydata/qc\.pdf --configfile mine\.yaml", local_copy),
    (r"\.venv/bin/snakemake --cores 8 results/demo/strf/report\.pdf", strf_demo),
    (r"\.venv/bin/python tests/benchmarks/\S+\.py.*", benchmark),
    (r"\.venv/bin/snakemake --cores 8 results/demo/(nwb|waveforms\.h5)\s*#.*", demo_output),
    (r"\.venv/bin/snakemake --cores 8 results/demo/models/\S+\s*#.*", planned_training),
    (r"\.venv/bin/snakemake --cores 8 results/ns1/figures/model_comparison\.pdf\s*#.*", planned_comparison),
]


def handler(cmd: str):
    matches = [fn for pattern, fn in HOW if re.fullmatch(pattern, cmd)]
    assert len(matches) == 1, f"README command {cmd!r} matches {len(matches)} entries of HOW: say how to test it"
    return matches[0]


def test_every_readme_command_is_covered():
    cmds = commands()
    assert len(cmds) >= 9
    for cmd in cmds:
        handler(cmd)


def test_no_target_after_configfile():
    for cmd in commands():
        argv = shlex.split(cmd, comments=True)
        if "--configfile" in argv:
            after = argv[argv.index("--configfile") + 1 :]
            assert not any(a.startswith("results/") for a in after), f"{cmd}: --configfile swallows the target"


def test_readme_yaml_blocks_are_valid_dataset_entries():
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    for block in blocks("yaml"):
        for name, entry in yaml.safe_load(block)["datasets"].items():
            assert dataset_settings(dict(config, datasets={name: entry}), name).name == name


def test_readme_commands_run_as_written(scratch):
    # the quick start first: later commands use what it built
    for cmd in sorted(commands(), key=lambda c: handler(c) is not quick_start):
        handler(cmd)(scratch, cmd)
