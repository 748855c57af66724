"""The Snakemake profiles: portable defaults vs the SLURM profile, and local rules.

The SLURM profile is run for real in tests/workflow/test_slurm.py (when a cluster is available);
these checks hold everywhere.
"""

import re

import yaml
from snakemake.cli import get_argument_parser

from tests.helpers import REPO


DEFAULT = REPO / "profiles" / "default" / "profile.yaml"
SLURM = REPO / "profiles" / "slurm" / "profile.yaml"
CI_OVERRIDE = REPO / ".ci" / "slurm-profile" / "profile.yaml"
# every long option Snakemake accepts, including the installed SLURM plugin's --slurm-*
OPTIONS = {s[2:] for a in get_argument_parser()._actions for s in a.option_strings if s.startswith("--")}


def rule_names() -> set[str]:
    text = "".join(p.read_text() for p in [REPO / "Snakefile", *(REPO / "workflow/rules").glob("*.smk")])
    return set(re.findall(r"^rule (\w+):", text, re.M))


def test_every_profile_key_is_a_snakemake_option():
    for path in (DEFAULT, SLURM, CI_OVERRIDE):
        keys = yaml.safe_load(path.read_text())
        unknown = set(keys) - OPTIONS
        assert not unknown, f"{path.relative_to(REPO)}: not Snakemake options: {unknown}"


def test_default_profile_is_portable():
    default = yaml.safe_load(DEFAULT.read_text())
    assert "executor" not in default
    assert not [k for k in default if k.startswith("slurm")]
    assert "default-resources" not in default and "jobs" not in default
    # profiles/default is a workflow profile: it would override --profile per top-level key
    assert not set(default) & set(yaml.safe_load(SLURM.read_text()))


def test_slurm_profile_settings():
    slurm = yaml.safe_load(SLURM.read_text())
    assert slurm["executor"] == "slurm"
    assert slurm["retries"] >= 1 and slurm["rerun-incomplete"] is True
    assert slurm["slurm-status-command"] == "squeue"  # clusters without accounting would hang on sacct
    assert set(slurm["groups"]) <= rule_names()
    # the partition and account a user must adapt are documented, not set
    text = SLURM.read_text()
    assert re.search(r"#\s*slurm_partition:", text) and re.search(r"#\s*slurm_account:", text)
    assert "slurm_partition" not in slurm["default-resources"]


def test_slurm_profile_is_commented_line_by_line():
    lines = SLURM.read_text().splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^[\w-]+:", line):  # a top-level setting
            assert i > 0 and lines[i - 1].lstrip().startswith("#"), f"profiles/slurm: '{line}' has no comment"


def test_downloads_and_all_stay_local():
    text = (REPO / "workflow/rules/download.smk").read_text()
    local = set(re.findall(r"^\s+(\w+),$", text.split("localrules:", 1)[1].split("\n\n\n", 1)[0], re.M))
    assert local == set(re.findall(r"^rule (\w+):", text, re.M)) and local
    all_rule = (REPO / "Snakefile").read_text().split("rule all:", 1)[1]
    assert "localrule: True" in all_rule
