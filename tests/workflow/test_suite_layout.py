"""Static checks of the test suite itself (``ast``, nothing imported or run):

* no test module imports another test module or a conftest (shared fixtures live in
  conftest.py, plain helpers in tests/helpers/);
* every folder holding test modules is a package (``__init__.py``), so two test modules
  may share a file name;
* every marker used is registered in pyproject.toml;
* the fast subset of the README (``-m "not workflow and not realdata and not slurm"``)
  stays fast: each module in tests/workflow/ is marked ``workflow`` or ``slurm`` unless it
  is one of the static checks below, and anywhere in tests/ a test that reaches a
  Snakemake run (``run_snakemake``, the ``snakemake`` executable) through its body, the
  module's functions or its fixtures is marked ``workflow``/``slurm``, and one that
  reaches ``real_data_dir`` is marked ``realdata``.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

from tests.helpers import REPO

TESTS = REPO / "tests"
# static checks of the workflow: they parse it (snakemake --lint, --list-rules) but run no job
STATIC = {"test_workflow_static.py", "test_envs.py", "test_profiles.py", "test_suite_layout.py"}
BUILTIN_MARKS = {"parametrize", "skip", "skipif", "xfail", "usefixtures", "filterwarnings"}
LAUNCH_NAMES = {"run_snakemake", "SNAKEMAKE"}


def module_paths(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("test_*.py") if "benchmarks" not in p.relative_to(root).parts)


def imported_modules(tree: ast.AST) -> list[list[str]]:
    """Per import statement, the modules it may import (``from a import b``: a, a.b)."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [[a.name] for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            out.append([base, *(f"{base}.{a.name}" if node.module else base + a.name for a in node.names)])
    return out


def import_problems(root: Path) -> list[str]:
    problems = []
    for path in [*module_paths(root), *root.rglob("conftest.py"), *(root / "helpers").rglob("*.py")]:
        for names in imported_modules(ast.parse(path.read_text())):
            bad = [n for n in names if any(p.startswith("test_") or p == "conftest" for p in n.lstrip(".").split("."))]
            if bad:
                problems.append(f"{path.relative_to(root)} imports {bad[0]}: move what it shares to conftest.py "
                                "(fixtures) or tests/helpers/ (plain helpers)")
    return problems


def package_problems(root: Path) -> list[str]:
    folders = {p.parent for p in module_paths(root)} | {root}
    return [f"{f.relative_to(root.parent)} has test modules but no __init__.py" for f in sorted(folders)
            if not (f / "__init__.py").is_file()]


# ------------------------------------------------------------------------ markers


def mark_names(node: ast.AST) -> set[str]:
    """``pytest.mark.X`` names in a decorator list / pytestmark value."""
    names = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Attribute) and sub.value.attr == "mark":
            names.add(sub.attr)
    return names


def fixture_defs(tree: ast.Module) -> dict[str, ast.FunctionDef]:
    return {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)
            and any("fixture" in ast.unparse(d) for d in n.decorator_list)}


class Module:
    def __init__(self, path: Path, conftests: list[ast.Module]):
        self.path = path
        self.tree = ast.parse(path.read_text())
        self.functions = {n.name: n for n in self.tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        self.fixtures = {}
        for c in conftests:
            self.fixtures.update(fixture_defs(c))
        self.fixtures.update(fixture_defs(self.tree))
        self.module_marks: set[str] = set()
        self.launch_names = set(LAUNCH_NAMES)
        for node in self.tree.body:
            if isinstance(node, ast.Assign):
                targets = {t.id for t in node.targets if isinstance(t, ast.Name)}
                if "pytestmark" in targets:
                    self.module_marks |= mark_names(node.value)
                if any(is_launch_string(c) for c in ast.walk(node.value)):
                    self.launch_names |= targets  # e.g. SNAKEMAKE = Path(sys.executable).parent / "snakemake"

    def reaches(self, fn: ast.FunctionDef, names: set[str], strings: bool) -> bool:
        """Whether ``fn`` refers to one of ``names`` (or a snakemake string when
        ``strings``), directly or through module functions and fixtures it uses."""
        seen, todo = set(), [fn]
        while todo:
            f = todo.pop()
            if f.name in seen:
                continue
            seen.add(f.name)
            for sub in ast.walk(f):
                if isinstance(sub, ast.Name) and sub.id in names:
                    return True
                if strings and is_launch_string(sub):
                    return True
                if isinstance(sub, ast.Name) and sub.id in self.functions:
                    todo.append(self.functions[sub.id])
            for arg in f.args.args:
                if arg.arg in self.fixtures:
                    todo.append(self.fixtures[arg.arg])
        return False


def is_launch_string(node: ast.AST) -> bool:
    if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
        return False
    v = node.value.strip()
    return v == "snakemake" or v.endswith("/snakemake") or v.startswith(".venv/bin/snakemake")


def marker_problems(root: Path) -> list[str]:
    problems = []
    for path in module_paths(root):
        rel = path.relative_to(root)
        conftests = [ast.parse(c.read_text()) for c in
                     [root / "conftest.py", *(d / "conftest.py" for d in path.relative_to(root).parents if d.parts)]
                     if c.is_file()]
        m = Module(path, conftests)
        in_workflow = rel.parts[0] == "workflow"
        if in_workflow and path.name not in STATIC and not m.module_marks & {"workflow", "slurm"}:
            problems.append(f"{rel}: every module in tests/workflow/ is marked workflow or slurm (pytestmark)")
        if path.name in STATIC:
            continue
        for name, fn in m.functions.items():
            if not name.startswith("test_"):
                continue
            marks = m.module_marks | mark_names(ast.Module(body=fn.decorator_list, type_ignores=[]))
            if not marks & {"workflow", "slurm"} and m.reaches(fn, m.launch_names, strings=True):
                problems.append(f"{rel}::{name} runs Snakemake but is not marked workflow")
            if "realdata" not in marks and m.reaches(fn, {"real_data_dir"}, strings=False):
                problems.append(f"{rel}::{name} reads $STRFLOW_REAL_DATA but is not marked realdata")
    return problems


def registered_marks() -> set[str]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    return {m.split(":")[0].strip() for m in config["markers"]}


# -------------------------------------------------------------------------- tests


def test_no_test_module_imports_another():
    assert import_problems(TESTS) == []


def test_every_test_folder_is_a_package():
    assert package_problems(TESTS) == []


def test_markers_are_registered():
    used = set()
    for path in module_paths(TESTS):
        used |= mark_names(ast.parse(path.read_text()))
    assert {"workflow", "realdata", "slurm"} <= registered_marks()
    assert used - BUILTIN_MARKS <= registered_marks(), f"unregistered: {sorted(used - BUILTIN_MARKS - registered_marks())}"


def test_slow_tests_carry_their_marker():
    assert marker_problems(TESTS) == []


def test_the_checks_catch_what_they_should(tmp_path):
    """The checkers above on a hand-built suite with one instance of every problem."""
    root = tmp_path / "tests"
    (root / "workflow").mkdir(parents=True)
    (root / "io").mkdir()
    (root / "helpers").mkdir()
    for d in (root, root / "workflow"):
        (d / "__init__.py").write_text("")
    (root / "conftest.py").write_text(
        "import pytest\nfrom tests.helpers import run_snakemake\n\n"
        "@pytest.fixture\ndef built(tmp_path):\n    return run_snakemake(tmp_path, 'x')\n")
    (root / "io" / "test_a.py").write_text(
        "import pytest\nfrom test_b import thing\nfrom conftest import other\nfrom tests.helpers import real_data_dir\n\n"
        "def helper():\n    return real_data_dir()\n\n"
        "def test_uses_fixture(built):\n    pass\n\n"
        "def test_real():\n    helper()\n\n"
        "@pytest.mark.realdata\ndef test_real_marked():\n    helper()\n\n"
        "@pytest.mark.workflow\ndef test_marked(built):\n    pass\n\n"
        "def test_plain():\n    assert 1\n")
    (root / "workflow" / "test_e2e.py").write_text(
        "import subprocess, sys\nfrom pathlib import Path\nfrom tests.workflow import test_x\n"
        "SMK = Path(sys.executable).parent / 'snakemake'\n\n"
        "def test_run():\n    subprocess.run([str(SMK), 'all'])\n")
    (root / "workflow" / "test_ok.py").write_text(
        "import pytest\npytestmark = [pytest.mark.workflow]\n\ndef test_run():\n    pass\n")
    assert sorted(import_problems(root)) == [
        "io/test_a.py imports conftest: move what it shares to conftest.py (fixtures) or tests/helpers/ (plain helpers)",
        "io/test_a.py imports test_b: move what it shares to conftest.py (fixtures) or tests/helpers/ (plain helpers)",
        "workflow/test_e2e.py imports tests.workflow.test_x: move what it shares to conftest.py (fixtures) or "
        "tests/helpers/ (plain helpers)",
    ]
    assert package_problems(root) == ["tests/io has test modules but no __init__.py"]
    assert sorted(marker_problems(root)) == [
        "io/test_a.py::test_real reads $STRFLOW_REAL_DATA but is not marked realdata",
        "io/test_a.py::test_uses_fixture runs Snakemake but is not marked workflow",
        "workflow/test_e2e.py: every module in tests/workflow/ is marked workflow or slurm (pytestmark)",
        "workflow/test_e2e.py::test_run runs Snakemake but is not marked workflow",
    ]


@pytest.mark.parametrize("name", sorted(STATIC))
def test_static_modules_exist(name):
    """The allow-list names real modules of tests/workflow/ (a renamed one must be listed again)."""
    assert (TESTS / "workflow" / name).is_file()
