"""Static checks of the workflow: lint, formatting, every rule's directives, env pins."""

import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml
from tests.helpers import REPO


BIN = Path(sys.executable).parent
RULE_FILES = sorted((REPO / "workflow" / "rules").glob("*.smk"))
# conda-forge package name -> installed Python distribution
CONDA_TO_PIP = {"pysoundfile": "soundfile", "pytorch": "torch", "matplotlib-base": "matplotlib"}


def rule_blocks():
    for path in [REPO / "Snakefile", *RULE_FILES]:
        text = path.read_text()
        for match in re.finditer(r"^rule (\w+):\n((?:[ \t]+.*\n|\n)*)", text, re.M):
            yield path.name, match.group(1), match.group(2)


def test_snakemake_lint_is_clean():
    out = subprocess.run([BIN / "snakemake", "--lint"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Lints for" not in out.stdout + out.stderr


def test_snakefmt_check():
    out = subprocess.run([BIN / "snakefmt", "--check", "Snakefile", *map(str, RULE_FILES)], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_rule_has_log_conda_resources_and_benchmark_where_it_works():
    blocks = list(rule_blocks())
    assert len(blocks) >= 8
    light = {"all", "stim_table", "tables", "unknown_dataset"}  # bookkeeping rules, no benchmark needed
    for fname, name, body in blocks:
        if name == "all":
            continue
        for directive in ("log:", "conda:", "resources:"):
            assert f"    {directive}" in body, f"{fname}: rule {name} lacks {directive}"
        assert "mem_mb" in body and "runtime" in body, f"{fname}: rule {name} lacks mem_mb/runtime"
        if name not in light:
            assert "    benchmark:" in body, f"{fname}: rule {name} lacks benchmark:"


def test_env_files_are_pinned_and_match_installed_versions():
    envs = sorted((REPO / "envs").glob("*.yaml"))
    assert envs
    referenced = set(re.findall(r'"\.\./\.\./envs/([\w-]+\.yaml)"', "".join(p.read_text() for p in RULE_FILES)))
    assert referenced == {p.name for p in envs}, "every env file is used by a rule and every rule's env exists"
    for path in envs:
        env = yaml.safe_load(path.read_text())
        assert env["channels"] == ["conda-forge", "nodefaults"], path.name
        for dep in env["dependencies"]:
            m = re.fullmatch(r"([\w.-]+) =(\d+(?:\.\d+)*)", dep)
            assert m, f"{path.name}: {dep!r} is not pinned as 'name =X.Y.Z'"
            name, pinned = m.groups()
            if name == "python":
                assert sys.version.startswith(pinned), f"{path.name}: python {pinned} vs {sys.version}"
                continue
            installed = version(CONDA_TO_PIP.get(name, name)).split("+")[0]
            assert installed == pinned, f"{path.name}: {name} pinned {pinned}, tests run with {installed}"


@pytest.mark.parametrize("path", sorted((REPO / "workflow" / "scripts").glob("*.py")), ids=lambda p: p.name)
def test_scripts_are_thin_adapters(path):
    code = [l for l in path.read_text().splitlines() if l.strip() and not l.strip().startswith("#")]
    assert len(code) <= 40, f"{path.name}: logic belongs in src/strflow/"
