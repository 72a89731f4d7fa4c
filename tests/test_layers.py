"""The import rules of the code base, checked on the source (every import counts, those inside
functions and under ``TYPE_CHECKING`` too):

- no import circle between modules;
- no module imports another module's ``_private`` name;
- dependencies point one way: ``ledgerline/`` may import every component; ``lineage/`` and
  ``alerts/`` use the store API (``collector.store`` and its errors); ``dashboard/`` talks to
  the lineage HTTP API only; ``collector/`` imports none of the others;
- inside lineage, the floors (docs/development.md): the business core and the SQL import no
  HTTP layer and no product, and no product imports the app that composes them.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("collector", "lineage", "alerts", "dashboard", "ledgerline")

# (importer prefix, forbidden prefixes)
FORBIDDEN: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("collector", ("lineage", "alerts", "dashboard", "ledgerline")),
    ("dashboard", ("collector", "lineage", "alerts", "ledgerline")),
    ("lineage", ("alerts", "dashboard", "ledgerline")),
    ("alerts", ("dashboard", "ledgerline")),
    (
        "lineage.core",
        ("lineage.api", "lineage.auth", "lineage.business", "lineage.insights", "lineage.replay", "lineage.evidence"),
    ),
    (
        "lineage.sql",
        ("lineage.api", "lineage.auth", "lineage.business", "lineage.insights", "lineage.replay", "lineage.evidence"),
    ),
    ("lineage.replay", ("lineage.api.app",)),
    ("lineage.evidence", ("lineage.api.app",)),
    ("lineage.insights", ("lineage.api.app",)),
    ("lineage.business", ("lineage.api.app",)),
    ("lineage.auth", ("lineage.api",)),
)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, str]]:
    """(imported module, imported name or "") of every import in a module."""
    out: list[tuple[str, str]] = []
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(alias.name, "") for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join([*package[: len(package) - node.level + 1], node.module or ""]).strip(".")
            module = base if node.level else node.module or ""
            for alias in node.names:
                full = f"{module}.{alias.name}"
                out.append((full, "") if full in modules else (module, alias.name))
    return out


def _graph() -> tuple[dict[str, set[str]], list[str]]:
    modules = _modules()
    edges: dict[str, set[str]] = defaultdict(set)
    private = []
    for name, path in modules.items():
        for module, imported in _imports(name, path, modules):
            if module in modules and module != name:
                edges[name].add(module)
                if imported.startswith("_") and not imported.startswith("__"):
                    private.append(f"{name} imports {module}.{imported}")
    return edges, private


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_no_import_circle() -> None:
    edges, _ = _graph()
    assert _cycles(edges) == []


def test_no_private_name_is_imported_from_another_module() -> None:
    _, private = _graph()
    assert private == []


def test_dependencies_point_one_way() -> None:
    edges, _ = _graph()
    wrong = sorted(
        f"{importer} imports {imported}"
        for importer, targets in edges.items()
        for imported in targets
        for owner, forbidden in FORBIDDEN
        if _under(importer, owner) and any(_under(imported, f) for f in forbidden)
    )
    assert wrong == []


def test_the_checker_sees_circles_and_private_names(tmp_path: Path) -> None:
    """The checks above can fail: a planted circle and a planted private import are found."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    modules = {"pkg.x": tmp_path / "x.py", "pkg.y": tmp_path / "y.py"}
    modules["pkg.x"].write_text("from pkg.y import _helper, public\n")
    assert _imports("pkg.x", modules["pkg.x"], modules) == [("pkg.y", "_helper"), ("pkg.y", "public")]
