"""Every rule's conda env provides what its script imports (``snakemake --sdm conda``).

For each rule with a ``script:`` this test follows, statically (``ast``), every import
the script can reach: the script's own imports, then through strflow's modules at the
granularity of functions -- importing a module runs its top-level imports (and its parent
packages'); calling ``strflow.steps.download_archive`` runs that function's local imports
and whatever strflow functions and classes it refers to, but not the local imports of the
other steps in ``steps.py``.  Each third-party import is mapped to its distribution
(``importlib.metadata.packages_distributions``) and must be pinned in the rule's env at
the version the tests run with; each env pin must equal ``pyproject.toml``'s.

The reach is conservative where Python is dynamic: a class counts with all its methods,
any reference to a function counts as a call.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.metadata import packages_distributions, version
from pathlib import Path

import pytest
import yaml
from tests.helpers import REPO


SRC = REPO / "src"
SCRIPTS = REPO / "workflow" / "scripts"
BIN = Path(sys.executable).parent
PACKAGE = "strflow"
# conda-forge name -> Python distribution name, where they differ (after lower-casing)
CONDA_TO_DIST = {
    "pysoundfile": "soundfile",
    "pytorch": "torch",
    "matplotlib-base": "matplotlib",
    "pytables": "tables",
    "pyyaml": "pyyaml",
}
# The data half of the workflow stays light: these rules must not reach torch.
NO_TORCH_RULES = {
    "download_aa4_animal", "extract_aa4_animal", "download_osf_file", "assemble_osf_raw",
    "download_crcns_release_file", "assemble_crcns_release", "read_shard", "stim_table",
    "spectrograms", "bin_shard", "smooth_shard", "tables", "quality", "synthesize_shard",
}


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# ---------------------------------------------------------------- rules -> script, env


@dataclass(frozen=True)
class Rule:
    name: str
    file: Path
    script: Path | None
    env: Path | None


def workflow_files() -> list[Path]:
    return [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]


def directive(body: str, name: str) -> str | None:
    """The single string argument of a directive (``conda:`` / ``script:``) in a rule body."""
    m = re.search(rf"^    {name}:\s*\n?\s*[\"']([^\"']+)[\"']", body, re.M)
    return m.group(1) if m else None


@lru_cache(maxsize=1)
def rules() -> tuple[Rule, ...]:
    out = []
    for path in workflow_files():
        text = path.read_text()
        for m in re.finditer(r"^(?:rule|checkpoint) (\w+):\n((?:[ \t]+.*\n|\n)*)", text, re.M):
            body = m.group(2)
            script, env = directive(body, "script"), directive(body, "conda")
            out.append(Rule(
                m.group(1), path,
                (path.parent / script).resolve() if script else None,
                (path.parent / env).resolve() if env else None,
            ))
    return tuple(out)


def test_rule_parsing_matches_snakemake():
    """The rule files are read with regular expressions: check against Snakemake's own list."""
    out = subprocess.run([BIN / "snakemake", "--list-rules"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    listed = {line.strip() for line in out.stdout.splitlines() if re.fullmatch(r"\s*\w+\s*", line)}
    parsed = {r.name for r in rules()}
    assert parsed == listed, f"parsed {sorted(parsed ^ listed)} differently from snakemake --list-rules"
    assert NO_TORCH_RULES <= parsed, f"NO_TORCH_RULES names unknown rules {sorted(NO_TORCH_RULES - parsed)}"
    for r in rules():
        if r.script is not None:
            assert r.script.is_file(), f"{r.file.name}: rule {r.name}: script {r.script} is missing"
            assert r.env is not None and r.env.is_file(), f"{r.file.name}: rule {r.name}: no conda env file"


# ---------------------------------------------------------------- the import graph

Node = tuple  # ("mod", module) | ("def", module, top-level name)


@dataclass
class Scope:
    third_party: set[str] = field(default_factory=set)  # top-level import names
    refs: set[Node] = field(default_factory=set)  # strflow modules / definitions reached
    names: set[str] = field(default_factory=set)  # names loaded, resolved against bindings
    attrs: set[tuple[str, ...]] = field(default_factory=set)  # dotted names loaded (a.b.c)
    bindings: dict[str, Node | str] = field(default_factory=dict)  # local import bindings


@dataclass
class Module:
    name: str
    top: Scope
    defs: dict[str, Scope]  # top-level function / class -> its scope (class: all its methods)


def module_path(name: str) -> Path | None:
    if name.startswith("script:"):  # a rule script, "script:<path>"
        return Path(name[len("script:"):])
    if name.split(".")[0] == PACKAGE:
        base = SRC.joinpath(*name.split("."))
        for cand in (base.with_suffix(".py"), base / "__init__.py"):
            if cand.is_file():
                return cand
        return None
    cand = SCRIPTS / f"{name}.py"  # a helper next to the scripts (_common)
    return cand if "." not in name and cand.is_file() else None


def is_local(name: str) -> bool:
    return module_path(name) is not None or name.split(".")[0] == PACKAGE


def dotted(node: ast.AST) -> tuple[str, ...] | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return (node.id, *reversed(parts))
    return None


class _Collector(ast.NodeVisitor):
    """Imports and loaded names of one scope; nested function bodies are skipped when
    collecting a module's top level (they run only when called)."""

    def __init__(self, scope: Scope, module: str, skip_defs: bool):
        self.scope, self.module, self.skip_defs = scope, module, skip_defs

    def _resolve_from(self, node: ast.ImportFrom) -> str:
        if node.level:
            base = self.module.split(".")[: -node.level] if self.module else []
            return ".".join([*base, node.module] if node.module else base)
        return node.module or ""

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if is_local(alias.name):
                self.scope.refs.add(("mod", alias.name))
                bound = alias.asname or alias.name.split(".")[0]
                self.scope.bindings[bound] = ("mod", alias.name if alias.asname else alias.name.split(".")[0])
            else:
                self.scope.third_party.add(alias.name.split(".")[0])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        mod = self._resolve_from(node)
        if mod == "__future__":
            return
        if not is_local(mod):
            self.scope.third_party.add(mod.split(".")[0])
            return
        self.scope.refs.add(("mod", mod))
        for alias in node.names:
            target = f"{mod}.{alias.name}"
            node_ = ("mod", target) if module_path(target) else ("def", mod, alias.name)
            self.scope.refs.add(node_)
            self.scope.bindings[alias.asname or alias.name] = node_

    def visit_If(self, node: ast.If) -> None:
        if dotted(node.test) in (("TYPE_CHECKING",), ("typing", "TYPE_CHECKING")):
            for stmt in node.orelse:
                self.visit(stmt)
            return
        self.generic_visit(node)

    def visit_FunctionDef(self, node) -> None:
        if self.skip_defs:
            # decorators, defaults and annotations run at definition time
            for expr in [*node.decorator_list, *node.args.defaults, *node.args.kw_defaults]:
                if expr is not None:
                    self.visit(expr)
            return
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self.scope.names.add(node.id)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        d = dotted(node)
        if d is not None and isinstance(node.ctx, ast.Load):
            self.scope.attrs.add(d)
        self.generic_visit(node)


@lru_cache(maxsize=None)
def load_module(name: str) -> Module:
    path = module_path(name)
    tree = ast.parse(path.read_text(), filename=str(path))
    top = Scope()
    defs: dict[str, Scope] = {}
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            scope = Scope()
            _Collector(scope, name, skip_defs=False).visit(stmt)
            defs[stmt.name] = scope
            # a def statement runs its decorators/defaults (a class its body) at import
            _Collector(top, name, skip_defs=True).visit(stmt)
        else:
            _Collector(top, name, skip_defs=True).visit(stmt)
    return Module(name, top, defs)


def resolve(module: Module, scope: Scope, parts: tuple[str, ...]) -> set[Node]:
    """strflow nodes a loaded (dotted) name refers to inside ``scope`` of ``module``."""
    head = parts[0]
    target = scope.bindings.get(head) or module.top.bindings.get(head)
    if target is None and head in module.defs:
        target = ("def", module.name, head)
    if target is None:
        return set()
    out = {target}
    # follow attributes through modules: strflow.io.readers.ns1.read_ns1, timegrid.n_bins
    for attr in parts[1:]:
        if target[0] != "mod":
            break
        sub = f"{target[1]}.{attr}"
        target = ("mod", sub) if module_path(sub) else ("def", target[1], attr)
        out.add(target)
    return out


def reach(start: list[tuple[Module, Scope]]) -> tuple[set[str], set[Node]]:
    """Third-party import names and strflow nodes reachable from the given scopes."""
    third: set[str] = set()
    seen: set[Node] = set()
    todo = list(start)
    while todo:
        module, scope = todo.pop()
        third |= scope.third_party
        nodes = set(scope.refs)
        for name in scope.names:
            nodes |= resolve(module, scope, (name,))
        for parts in scope.attrs:
            nodes |= resolve(module, scope, parts)
        for node in nodes:
            expanded = [node]
            if node[0] == "def":
                expanded.append(("mod", node[1]))
            for n in expanded:
                mod = n[1]
                # importing a.b.c runs a, a.b and a.b.c
                chain = [mod] if mod.startswith("script:") else [".".join(mod.split(".")[:i]) for i in range(1, mod.count(".") + 2)]
                for parent in (("mod", m_) for m_ in chain):
                    if module_path(parent[1]) and parent not in seen:
                        seen.add(parent)
                        m = load_module(parent[1])
                        todo.append((m, m.top))
                if n[0] == "def" and n not in seen:
                    seen.add(n)
                    m = load_module(n[1])
                    if n[2] in m.defs:
                        todo.append((m, m.defs[n[2]]))
                    elif n[2] in m.top.bindings:  # a re-export: from strflow.x import y in m
                        alias = m.top.bindings[n[2]]
                        todo.append((m, Scope(refs={alias})))
    return third, seen


def script_imports(script: Path) -> set[str]:
    """Third-party top-level import names a rule script can reach (the whole script runs)."""
    module = load_module(f"script:{script}")
    return reach([(module, module.top), *((module, s) for s in module.defs.values())])[0]


def third_party_dists(names: set[str]) -> dict[str, str]:
    """Import name -> normalised distribution name; standard-library names dropped."""
    dists = packages_distributions()
    out = {}
    for name in sorted(names):
        if name in sys.stdlib_module_names:
            continue
        assert name in dists, f"import {name!r} is neither standard library nor an installed distribution"
        out[name] = norm(dists[name][0])
    return out


# ---------------------------------------------------------------- envs and pins


def env_pins(path: Path) -> dict[str, str]:
    """Distribution name (normalised) -> pinned version of a conda env file."""
    env = yaml.safe_load(path.read_text())
    pins = {}
    for dep in env["dependencies"]:
        m = re.fullmatch(r"([\w.-]+) *=+ *(\d+(?:\.\d+)*)", str(dep))
        assert m, f"{path.name}: {dep!r} is not pinned as 'name =X.Y.Z'"
        conda, pinned = m.groups()
        pins[norm(CONDA_TO_DIST.get(conda.lower(), conda))] = pinned
    return pins


def pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        reqs += extra
    pins = {}
    for req in reqs:
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^]]*\])?==([\w.]+)", req.replace(" ", ""))
        assert m, f"pyproject.toml: {req!r} is not pinned exactly (name==X.Y.Z)"
        pins[norm(m.group(1))] = m.group(2)
    return pins


SCRIPT_RULES = [r for r in rules() if r.script is not None]


@pytest.mark.parametrize("rule", SCRIPT_RULES, ids=lambda r: r.name)
def test_rule_env_provides_every_import_its_script_reaches(rule):
    needed = third_party_dists(script_imports(rule.script))
    pins = env_pins(rule.env)
    missing = {imp: dist for imp, dist in needed.items() if dist not in pins}
    assert not missing, (
        f"rule {rule.name} ({rule.script.name}) imports {sorted(missing)} "
        f"(distributions {sorted(set(missing.values()))}) but {rule.env.name} does not provide them"
    )
    for imp, dist in needed.items():
        installed = version(dist).split("+")[0]
        assert pins[dist] == installed, f"{rule.env.name}: {dist} pinned {pins[dist]}, tests run with {installed}"
    if rule.name in NO_TORCH_RULES:
        assert "torch" not in needed, f"rule {rule.name} reaches torch: the data half must stay light"


def test_env_pins_equal_pyproject_pins():
    project = pyproject_pins()
    envs = sorted({r.env for r in rules() if r.env is not None})
    assert envs
    for env in envs:
        for dist, pinned in env_pins(env).items():
            if dist == "python":
                continue
            assert dist in project, f"{env.name}: {dist} is not a pinned dependency in pyproject.toml"
            assert project[dist] == pinned, f"{env.name}: {dist} ={pinned}, pyproject.toml says =={project[dist]}"


# ---------------------------------------------------------------- the analysis itself


def test_import_walk_on_a_hand_built_package(tmp_path, monkeypatch):
    """Function granularity: a script calling one step reaches that step's local imports
    and its module's top-level imports, not another step's; re-exports, attribute access
    through modules, classes and parent packages are followed."""
    pkg = tmp_path / "src" / PACKAGE
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("import json\n")
    (pkg / "sub" / "__init__.py").write_text("from strflow.sub.leaf import Leaf\nimport tomli_w_parent\n")
    (pkg / "sub" / "leaf.py").write_text(
        "import numpy\nclass Leaf:\n    def m(self):\n        import scipy.io\n        return helper()\n"
        "def helper():\n    import h5py\n"
    )
    (pkg / "steps.py").write_text(
        "import pyarrow.parquet as pq\nfrom strflow import other\n\n"
        "def light():\n    import requests\n    return other.used()\n\n"
        "def heavy():\n    import torch\n    from strflow.sub import Leaf\n    return Leaf()\n"
    )
    (pkg / "other.py").write_text("def used():\n    import tqdm\n\ndef unused():\n    import librosa\n")
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "_common.py").write_text("import os\n")
    light = scripts / "light.py"
    light.write_text("from _common import os\n\ndef main():\n    from strflow.steps import light\n    light()\n")
    heavy = scripts / "heavy.py"
    heavy.write_text("def main():\n    import strflow.steps\n    strflow.steps.heavy()\n")
    monkeypatch.setattr(sys.modules[__name__], "SRC", tmp_path / "src")
    monkeypatch.setattr(sys.modules[__name__], "SCRIPTS", scripts)
    load_module.cache_clear()
    try:
        assert script_imports(light) == {"os", "json", "pyarrow", "requests", "tqdm"}
        assert script_imports(heavy) == {"json", "pyarrow", "torch", "numpy", "scipy", "h5py", "tomli_w_parent"}
    finally:
        load_module.cache_clear()
