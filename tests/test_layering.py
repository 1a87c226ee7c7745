"""The package layering, checked on the source with `ast` (nothing is imported).

Bottom to top: the core (every `clbench` module not named in UPPER) -> `strategies` and
`scenarios`, each importing only the core and itself -> UPPER: config composition, the runner
and the run launcher (`clbench.compose`, `clbench.runner`, `clbench.launch`) -> the CLI, the
sweep and tuning (`clbench.cli`, `clbench.__main__`, `clbench.sweep`, `clbench.executors`,
`clbench.tune`). Nothing imports upwards.
Every import counts, at any depth: function-level (lazy) and `if TYPE_CHECKING:` ones too.
The imports between the project's modules must form no cycle, lazy ones included.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("clbench", "strategies", "scenarios")
TOP = (  # may import anything
    "clbench.cli",
    "clbench.__main__",
    "clbench.sweep",
    "clbench.executors",
    "clbench.tune",
)
UPPER = ("clbench.compose", "clbench.runner", "clbench.launch", *TOP)


def project_sources() -> dict[str, str]:
    """Module name -> source of every .py file of the three packages."""
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path.read_text()
    return out


def imports(module: str, source: str, modules: set[str]) -> list[tuple[str, int]]:
    """(imported project module, line) for every import in `source`, at any depth. `from a
    import b` counts as module a.b when that is a module, else as a; relative imports are
    resolved against `module`'s package."""
    is_package = module in PACKAGES or any(m.startswith(module + ".") for m in modules)
    here = module.split(".") if is_package else module.split(".")[:-1]
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = here[: len(here) - (node.level - 1)]
                base = ".".join([*parent, *([base] if base else [])])
            names = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in node.names
            ]
        else:
            continue
        for name in dict.fromkeys(names):  # `from a import b, c` with b, c not modules: a once
            if name.split(".")[0] in PACKAGES:
                out.append((name, node.lineno))
    return out


def _layer(module: str) -> str:
    if module in UPPER:
        return "top" if module in TOP else "upper"
    return "core" if module.split(".")[0] == "clbench" else module.split(".")[0]


def allowed(importer: str, imported: str) -> bool:
    """Whether the layering lets `importer` import `imported` (both project modules)."""
    a, b = _layer(importer), _layer(imported)
    if a == "top":
        return True
    if a == "upper":
        return b != "top"
    if a == "core":
        return b == "core"
    return b in ("core", a)  # strategies or scenarios: the core and their own package


def violations(sources: dict[str, str]) -> list[str]:
    modules = set(sources)
    return [
        f"{module}:{line} imports {target} ({_layer(module)} -> {_layer(target)})"
        for module, source in sorted(sources.items())
        for target, line in imports(module, source, modules)
        if not allowed(module, target)
    ]


def cycles(sources: dict[str, str]) -> list[list[str]]:
    """The import cycles between the modules: the strongly connected components of the import
    graph (importing a.b.c also runs the packages a and a.b), each as its sorted modules.

    The packages that hold the importer itself are already initialised (or initialising) when
    it runs, so importing a sibling runs nothing more: a package whose `__init__` re-exports
    its submodules (strategies/onpro/) is no cycle; importing a name from the package itself
    (`from a.b import name` inside a.b.c) still counts."""
    modules = set(sources)
    graph: dict[str, list[str]] = {}
    for m, s in sources.items():
        targets = set()
        holders = {".".join(m.split(".")[:k]) for k in range(1, len(m.split(".")))}
        for t, _ in imports(m, s, modules):
            parts = t.split(".")
            targets |= {".".join(parts[:k]) for k in range(1, len(parts))} - holders
            targets.add(t)
        graph[m] = sorted(targets & modules - {m})
    # Tarjan's strongly connected components
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


# -- the project ----------------------------------------------------------------------------


def test_the_project_has_the_expected_modules():
    sources = project_sources()
    for module in ("clbench.config", "clbench.augment", "clbench.stream", *UPPER):
        assert module in sources
    assert "strategies.base" in sources and "scenarios.base" in sources


def test_no_module_imports_against_the_layering():
    assert violations(project_sources()) == []


def test_no_import_cycles():
    assert cycles(project_sources()) == []


# -- the checks catch what they should ------------------------------------------------------

BASE = {
    "clbench": "",
    "clbench.errors": "",
    "clbench.config": "from clbench.errors import ClbenchError\n",
    "clbench.runner": "from strategies import STRATEGIES\nfrom scenarios.base import ScenarioSpec\n",
    "clbench.sweep": "from clbench.runner import run\n",
    "clbench.cli": "def main():\n    from clbench.sweep import sweep\n",
    "strategies": "from clbench.registry import Registry\n",
    "strategies.base": "from clbench.config import StrategyParams\nfrom . import replay\n",
    "strategies.replay": "",
    "scenarios": "",
    "scenarios.base": "from clbench import errors\n",
}


def test_a_clean_tree_passes():
    assert violations(BASE) == [] and cycles(BASE) == []


@pytest.mark.parametrize(
    ("module", "line", "layers"),
    [
        (
            "clbench.config",
            "def compose():\n    from strategies import STRATEGIES\n",
            "core -> strategies",
        ),
        ("clbench.config", "if True:\n    import scenarios.base\n", "core -> scenarios"),
        ("clbench.errors", "from clbench import runner\n", "core -> upper"),
        ("clbench.errors", "from clbench.cli import main\n", "core -> top"),
        ("strategies.replay", "from scenarios.base import Scenario\n", "strategies -> scenarios"),
        (
            "strategies.replay",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from scenarios import base\n",
            "strategies -> scenarios",
        ),
        (
            "scenarios.base",
            "class A:\n    def f(self):\n        import strategies\n",
            "scenarios -> strategies",
        ),
        ("strategies.base", "from clbench.runner import run\n", "strategies -> upper"),
        ("scenarios.base", "from clbench.sweep import sweep\n", "scenarios -> top"),
        ("clbench.runner", "from clbench.cli import main\n", "upper -> top"),
    ],
)
def test_a_bad_import_is_caught(module, line, layers):
    bad = dict(BASE)
    bad[module] = BASE[module] + line
    found = violations(bad)
    assert len(found) == 1 and found[0].startswith(module) and f"({layers})" in found[0]


def test_relative_imports_are_resolved():
    bad = dict(BASE)
    bad["scenarios.base"] = "from ..strategies import replay\n"  # above the package: caught
    assert imports("scenarios.base", "from . import base\n", set(BASE)) == [("scenarios.base", 1)]
    assert imports("strategies", "from .replay import x\n", set(BASE)) == [("strategies.replay", 1)]
    assert violations(bad) != []


def test_a_cycle_is_caught_lazy_imports_too():
    bad = dict(BASE)
    bad["clbench.sweep"] = (
        BASE["clbench.sweep"] + "def run_job():\n    from clbench.cli import main\n"
    )
    assert cycles(bad) == [["clbench.cli", "clbench.sweep"]]
    bad = dict(BASE)
    bad["strategies.replay"] = "import strategies.base\n"
    assert cycles(bad) == [["strategies.base", "strategies.replay"]]


def test_a_package_re_exporting_its_submodules_is_no_cycle():
    tree = dict(BASE)
    tree["strategies.pkg"] = "from strategies.pkg.impl import Thing\n"
    tree["strategies.pkg.impl"] = "from strategies.pkg.helpers import f\n"
    tree["strategies.pkg.helpers"] = ""
    assert cycles(tree) == [] and violations(tree) == []
    tree["strategies.pkg.impl"] += "from strategies.pkg import Thing\n"  # from the package
    assert cycles(tree) == [["strategies.pkg", "strategies.pkg.impl"]]
