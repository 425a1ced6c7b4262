"""``training/explanations`` is layered: no import cycle, the results types at the bottom, the report above them.

Imports are read from the source (every ``import`` statement, in functions and ``TYPE_CHECKING`` blocks too), so a
cycle fails here even when Python would happen to resolve it at run time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "training.explanations"
FOLDER = Path(__file__).resolve().parents[2] / "training" / "explanations"
# What the report, the figures, the CI bars and the advice may import of the package: never the code that runs
# the evaluation, so they can be read, and changed, without it.
ABOVE_RESULTS = {"report", "figures", "ci", "guide", "vbp_plots", "segment_report", "segment_figures"}
COMPUTING = {"evaluate", "segment_evaluate", "class_models"}


def package_imports(source: str, modules: set[str]) -> set[str]:
    """The package's modules that ``source`` imports, by short name."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        found |= {name.removeprefix(PACKAGE + ".").split(".")[0] for name in names if name.startswith(PACKAGE + ".")}
    return found & modules


def import_graph(folder: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports."""
    modules = {path.stem for path in folder.glob("*.py")}
    return {name: package_imports((folder / f"{name}.py").read_text(), modules) - {name} for name in modules}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path that ends where it starts, or None."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node], _ = "open", path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[node], _ = "done", path.pop()
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_the_package_has_no_import_cycle() -> None:
    graph = import_graph(FOLDER)
    assert {"results", "evaluate", "report", "__main__"} <= set(graph)
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_results_sit_at_the_bottom_and_the_report_above_them() -> None:
    graph = import_graph(FOLDER)
    assert graph["results"] == set()
    for name in ABOVE_RESULTS & set(graph):
        assert not graph[name] & COMPUTING, f"{name} imports {graph[name] & COMPUTING}"


@pytest.mark.parametrize(
    ("sources", "cycle"),
    [
        ({"a": "from training.explanations.b import x", "b": "import training.explanations.a"}, ["a", "b", "a"]),
        (
            {"a": "from training.explanations import b", "b": "def f():\n    from training.explanations.a import y"},
            ["a", "b", "a"],
        ),
        ({"a": "from training.explanations.b import x", "b": "import numpy"}, None),
    ],
)
def test_the_check_sees_a_cycle_in_any_import_form(tmp_path: Path, sources: dict[str, str], cycle: list[str]) -> None:
    for name, text in sources.items():
        (tmp_path / f"{name}.py").write_text(text + "\n")
    assert find_cycle(import_graph(tmp_path)) == cycle
