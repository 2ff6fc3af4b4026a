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
