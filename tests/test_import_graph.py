"""The package's layers import only downwards, and its modules import each other without cycles.

Lazy (in-function) and ``TYPE_CHECKING`` imports count like the others: a type-only import from
a higher layer still ties the lower one to it. A cycle makes import order matter and hides which
module is the lower layer; an import back up (a run module inside the search core, say) is how
cycles start. The layers are docs/design/design.md's "Layout".
"""

from __future__ import annotations

import ast
from pathlib import Path

import mdsnn_search

PACKAGE = Path(mdsnn_search.__file__).parent


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


LAYERS: tuple[frozenset[str], ...] = (
    frozenset(
        {
            "errors",
            "files",
            "finite",
            "precision",
            "metrics",
            "checksums",
            "file_lock",
            "registry",
            "terminal",
            "tables",
            "outputs",
        }
    ),
    frozenset({"hardware", "data"}),
    frozenset({"snn"}),
    frozenset({"checkpoint", "training_loop"}),
    frozenset({"distill"}),
    frozenset({"job"}),
    frozenset({"spec"}),
    frozenset({"study"}),
    frozenset({"results"}),
    frozenset({"execution"}),
    frozenset({"search"}),
    frozenset({"strategies"}),
    frozenset({"cli", "api", "mdsnn_search"}),  # the package root names the Python API
)
"""Bottom to top. A module may import its own layer (without cycles) and the layers below."""


def _imported(tree: ast.Module, module: str, is_package: bool) -> list[str]:
    """Every name ``module`` imports: at import time, in functions and under ``TYPE_CHECKING``."""
    names: list[str] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                package = package[: len(package) - node.level + 1]
                base = ".".join([*package, base] if base else package)
            names.extend(f"{base}.{alias.name}" for alias in node.names)
        stack.extend(ast.iter_child_nodes(node))
    return names


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports (``from pkg import name`` counts as ``pkg.name``
    when that is a module, else as ``pkg``)."""
    modules = _modules()

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text())
        targets = {resolve(n) for n in _imported(tree, module, path.name == "__init__.py")}
        graph[module] = {t for t in targets if t is not None and t != module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def layer(module: str) -> int:
    """The index in :data:`LAYERS` of ``mdsnn_search.<name>...``."""
    parts = module.split(".")
    name = parts[1] if len(parts) > 1 else parts[0]
    for index, names in enumerate(LAYERS):
        if name in names:
            return index
    raise AssertionError(f"{module} is in no layer: add its top-level name to LAYERS")


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        for target in targets
        if layer(target) > layer(module)
    )


def test_the_package_has_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_no_layer_imports_a_layer_above_it() -> None:
    assert upward_imports(import_graph()) == []


def test_the_check_finds_an_upward_import() -> None:
    graph = import_graph()
    graph["mdsnn_search.search.trial"].add("mdsnn_search.strategies.oneshot.supernet")
    assert upward_imports(graph) == [
        "mdsnn_search.search.trial -> mdsnn_search.strategies.oneshot.supernet"
    ]


def test_type_checking_imports_count() -> None:
    tree = ast.parse("if TYPE_CHECKING:\n    from mdsnn_search.search.driver import StudyDriver\n")
    assert _imported(tree, "mdsnn_search.execution.executors", False) == [
        "mdsnn_search.search.driver.StudyDriver"
    ]


def test_the_check_finds_a_cycle() -> None:
    graph = import_graph()
    graph["mdsnn_search.execution.executors"].add("mdsnn_search.execution.ray_tune")
    graph["mdsnn_search.execution.ray_tune"].add("mdsnn_search.execution.executors")
    assert ["mdsnn_search.execution.executors", "mdsnn_search.execution.ray_tune"] in cycles(graph)


def test_lazy_imports_count() -> None:
    tree = ast.parse("def f():\n    from mdsnn_search.execution import ray_tune\n")
    assert _imported(tree, "mdsnn_search.execution.executors", False) == [
        "mdsnn_search.execution.ray_tune"
    ]
