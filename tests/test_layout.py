"""The code's shape holds: streamlit only in rnnviz/app, plotly only in rnnviz/figures and the
exporters that write figures to files."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "rnnviz"
# Outside rnnviz/figures, what writes figures to files (rnnviz/exports: HTML exports, the lecture
# pack) or shows them inline (the notebook API) imports plotly itself.
FIGURE_WRITERS = {"exports", "notebook.py"}


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def modules() -> list[Path]:
    found = sorted(PACKAGE.rglob("*.py"))
    assert len(found) > 20, "the package's modules are found"
    return found


def test_only_the_page_imports_streamlit():
    outside = [
        p.relative_to(PACKAGE).as_posix()
        for p in modules()
        if "streamlit" in imported_roots(p) and p.relative_to(PACKAGE).parts[0] != "app"
    ]
    assert outside == [], f"streamlit imported outside rnnviz/app: {outside}"


def test_only_figure_builders_and_figure_writers_import_plotly():
    outside = [
        p.relative_to(PACKAGE).as_posix()
        for p in modules()
        if "plotly" in imported_roots(p)
        and p.relative_to(PACKAGE).parts[0] != "figures"
        and p.relative_to(PACKAGE).parts[0] not in FIGURE_WRITERS
    ]
    assert outside == [], f"plotly imported outside rnnviz/figures: {outside}"


def test_the_checks_see_an_import_where_there_is_one(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import os\nfrom plotly import graph_objects\nimport streamlit as st\n")
    assert {"plotly", "streamlit"} <= imported_roots(module)


def module_name(path: Path, root: Path) -> str:
    """rnnviz/core/capture.py → rnnviz.core.capture; a package's __init__.py → the package."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_level_imports(path: Path, root: Path, known: set[str]) -> set[str]:
    """The package's modules that `path` imports when it is imported: statements at module level
    (also inside a module-level if / try), not `if TYPE_CHECKING:` blocks, and not imports inside
    functions — those run later, when the function is called, so they close no cycle at import time
    (they are excluded on purpose)."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(statements) -> None:
        for node in statements:
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                # `from package import module` depends on that module (the package's __init__
                # runs first whatever is imported, as for every import, so that is no edge);
                # `from module import name` on the module.
                for alias in node.names:
                    submodule = f"{source}.{alias.name}"
                    found.add(submodule if submodule in known else source)
            elif isinstance(node, ast.If):
                test = node.test
                type_checking = (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
                    isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
                )
                if not type_checking:
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                for block in (node.body, node.orelse, node.finalbody):
                    visit(block)
                for handler in node.handlers:
                    visit(handler.body)

    visit(ast.parse(path.read_text(encoding="utf-8")).body)
    return {target for target in found if target in known and target != name}


def import_cycles(root: Path) -> list[list[str]]:
    """Every set of modules of the package at `root` that import one another in a circle
    (strongly connected components of the module-level import graph, Tarjan's algorithm)."""
    paths = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    graph = {name: module_level_imports(path, root, set(paths)) for name, path in paths.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return cycles


def test_no_import_cycles_among_the_package_modules():
    """No module imports, at import time, a module that imports it back (directly or around a
    circle): each concern can be read, tested and changed from its own imports downwards."""
    assert import_cycles(PACKAGE) == []


def test_the_cycle_check_finds_a_cycle_and_ignores_lazy_imports(tmp_path):
    root = tmp_path / "pkg"
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "sub" / "__init__.py").write_text("")
    (root / "a.py").write_text("from pkg.sub import b\n")
    (root / "sub" / "b.py").write_text("from ..c import thing\n")
    (root / "c.py").write_text("import pkg.a\nthing = 1\n")
    (root / "d.py").write_text("def later():\n    from pkg import a\n")
    (root / "e.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import d\n"
    )
    assert import_cycles(root) == [["pkg.a", "pkg.c", "pkg.sub.b"]]
    (root / "c.py").write_text("thing = 1\n")
    assert import_cycles(root) == []


def layout_block() -> str:
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## How the code is laid out", 1)[1]
    return section.split("```", 2)[1]


def test_the_package_root_keeps_at_most_ten_modules():
    root_modules = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(root_modules) <= 10, root_modules


def test_readme_names_every_subpackage_and_root_module_and_nothing_that_is_gone():
    block = layout_block()
    subpackages = sorted(
        p.parent.name for p in PACKAGE.glob("*/__init__.py") if p.parent.name != "pretrained"
    )
    root_modules = sorted(p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    missing = [f"{s}/" for s in subpackages if f"{s}/" not in block]
    missing += [m for m in root_modules if m not in block]
    assert missing == [], f"README's layout does not name {missing}"
    for line in block.splitlines():
        folder = line.strip().split(" ")[0]
        if folder.endswith("/") and line.startswith("  ") and not line.startswith("   "):
            assert (PACKAGE / folder).is_dir(), f"README names {folder}, which is not in rnnviz/"
