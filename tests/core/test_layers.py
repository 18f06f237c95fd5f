"""The layers of the package: the config sits on top of the adapters and filters, never below,
and no modules import each other in a circle, not even for types or inside a function."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import emb_opt

PACKAGE = Path(emb_opt.__file__).parent


def imported_modules(path: Path, root: Path = PACKAGE) -> set[str]:
    """Every module `path` imports (at the top, lazily or for types), as absolute names."""
    here = list(path.relative_to(root.parent).parts[:-1])  # its package (an __init__'s own)
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.update([module, *(f"{module}.{alias.name}" for alias in node.names)])
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    """Each module of the package at `root` -> the package's modules it imports anywhere.

    Importing `a.b.c` runs the package `a.b` first, so it depends on `a.b` too, unless the
    importer is inside `a.b` (that package is being imported already)."""
    files = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        graph[module] = set()
        for name in imported_modules(path, root):
            while name and name not in files:  # `from a import f`: f is a name in a
                name = name.rpartition(".")[0]
            while name in files:
                if name != module and not module.startswith(f"{name}."):
                    graph[module].add(name)
                name = name.rpartition(".")[0]
    return graph


def import_cycle(graph: dict[str, set[str]]) -> str | None:
    """One circle of imports in `graph`, as "a -> b -> a" (None: there is none)."""
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as error:
        return " -> ".join(reversed(error.args[1]))
    return None


def test_no_adapter_or_filter_module_imports_the_config():
    below = [*(PACKAGE / "adapters").rglob("*.py"), *(PACKAGE / "filters").rglob("*.py")]
    assert len(below) > 20
    upward = {
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in below
        for name in imported_modules(path)
        if name == "emb_opt.config" or name.startswith("emb_opt.config.")
    }
    assert not upward, sorted(upward)


def test_no_modules_import_each_other_in_a_circle():
    graph = import_graph(PACKAGE)
    assert len(graph) > 100 and "emb_opt.log._model" in graph["emb_opt.log._reader"]
    cycle = import_cycle(graph)
    assert cycle is None, f"import cycle: {cycle}"


def test_the_log_model_imports_nothing_else_of_the_log():
    graph = import_graph(PACKAGE)
    assert not {m for m in graph["emb_opt.log._model"] if m.startswith("emb_opt.log")}


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_a_circle_through_types_or_a_function_is_named(tmp_path):
    package = write(
        tmp_path / "pkg",
        {
            "__init__.py": "",
            "a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import B\n",
            "b.py": "def f():\n    from . import c\n",
            "c.py": "from pkg.a import x\n",
        },
    )
    assert import_cycle(import_graph(package)) in {
        "pkg.a -> pkg.b -> pkg.c -> pkg.a",
        "pkg.b -> pkg.c -> pkg.a -> pkg.b",
        "pkg.c -> pkg.a -> pkg.b -> pkg.c",
    }


def test_a_circle_through_a_package_init_is_named(tmp_path):
    package = write(
        tmp_path / "pkg",
        {
            "__init__.py": "",
            "low.py": "def f():\n    from .high.parts import g\n",
            "high/__init__.py": "from ..low import f\n",
            "high/parts.py": "",
        },
    )
    graph = import_graph(package)
    assert graph["pkg.low"] == {"pkg.high", "pkg.high.parts"}
    assert import_cycle(graph) in {
        "pkg.low -> pkg.high -> pkg.low",
        "pkg.high -> pkg.low -> pkg.high",
    }


def test_a_package_importing_its_own_modules_is_no_circle(tmp_path):
    package = write(
        tmp_path / "pkg",
        {"__init__.py": "from .a import f\n", "a.py": "from . import b\n", "b.py": ""},
    )
    graph = import_graph(package)
    assert graph == {"pkg": {"pkg.a"}, "pkg.a": {"pkg.b"}, "pkg.b": set()}
    assert import_cycle(graph) is None
