"""Importing emb_opt pulls in no database or distributed-engine library."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

BACKENDS = ["faiss", "datasets", "qdrant_client", "chromadb", "pymilvus", "psycopg", "ray", "httpx"]
BACKENDS += ["pyarrow"]


def test_import_emb_opt_imports_no_backend():
    code = (
        "import sys, emb_opt, emb_opt.imports, emb_opt.adapters, emb_opt.filters; "
        f"print([m for m in {BACKENDS!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_seed_names_are_importable():
    from emb_opt.data_source import DataPluginGradWrapper  # noqa: F401
    from emb_opt.log import SearchLog  # noqa: F401
    from emb_opt.plugins.huggingface import HugggingfaceDataPlugin, HuggingFaceDataSource
    from emb_opt.prune import TopKPrune  # noqa: F401
    from emb_opt.schemas import (  # noqa: F401
        Batch,
        DataSourceFunction,
        DataSourceResponse,
        FilterFunction,
        FilterResponse,
        Item,
        PruneFunction,
        PruneResponse,
        Query,
        ScoreFunction,
        ScoreResponse,
        UpdateFunction,
        UpdateResponse,
    )
    from emb_opt.update import (  # noqa: F401
        RLUpdate,
        TopKContinuousUpdate,
        TopKDiscreteUpdate,
        UpdatePluginGradientWrapper,
    )

    assert HugggingfaceDataPlugin is HuggingFaceDataSource


def test_missing_backend_error_names_the_extra():
    from emb_opt.errors import missing_dependency

    error = missing_dependency("qdrant-client", "qdrant")
    assert isinstance(error, ImportError)
    assert 'pip install -e ".[qdrant]"' in str(error)


def test_importing_emb_opt_changes_no_environment_variable():
    code = (
        "import json, os; before = dict(os.environ); "
        "import emb_opt, emb_opt.imports, emb_opt.runner, emb_opt.executors, emb_opt.cli.main; "
        "print(json.dumps([before, dict(os.environ)]))"
    )
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    before, after = json.loads(out.stdout)
    assert "OMP_WAIT_POLICY" not in after
    assert after == before


def test_the_command_sleeps_openmp_threads_unless_the_user_chose(tmp_path):
    code = (
        "import os; from emb_opt.cli.main import main; "
        "main(['inspect', 'no-such-run']); print(os.environ['OMP_WAIT_POLICY'])"
    )
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    run = [sys.executable, "-c", code]
    out = subprocess.run(run, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.stdout.strip() == "PASSIVE"
    env["OMP_WAIT_POLICY"] = "ACTIVE"
    out = subprocess.run(run, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.stdout.strip() == "ACTIVE"


def _runtime_imports(root: Path) -> dict[str, set[str]]:
    """Module -> the emb_opt modules it imports when it runs (`TYPE_CHECKING` blocks left
    out; `from . import sub` imports the submodule, not its package)."""
    files = {}
    for file in root.rglob("*.py"):
        parts = file.relative_to(root.parent).with_suffix("").parts
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = file
    graph: dict[str, set[str]] = {}
    for module, file in files.items():
        package = module.split(".") if file.name == "__init__.py" else module.split(".")[:-1]
        edges, todo = set(), list(ast.iter_child_nodes(ast.parse(file.read_text())))
        while todo:
            node = todo.pop()
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            todo += ast.iter_child_nodes(node)
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                name = ".".join(base + ([node.module] if node.module else []))
                subs = [f"{name}.{a.name}" for a in node.names if f"{name}.{a.name}" in files]
                targets = subs if len(subs) == len(node.names) else [name, *subs]
            else:
                continue
            for target in targets:
                while target and target not in files:
                    target = target.rpartition(".")[0]
                if target and target != module:
                    edges.add(target)
        graph[module] = edges
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of `graph` (None: it has none)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            found = None if target in state else visit(target)
            if found:
                return found
        state[module] = 2
        path.pop()
        return None

    for module in sorted(graph):
        found = None if module in state else visit(module)
        if found:
            return found
    return None


def test_the_modules_import_each_other_in_no_cycle():
    import emb_opt

    graph = _runtime_imports(Path(emb_opt.__file__).parent)
    # the conformance suite shipped for adapter tests is left out: `scan_suite` imports one
    # helper of `suite` lazily, and neither is part of a search
    graph = {m: {t for t in ts if ".testing" not in t} for m, ts in graph.items()
             if ".testing" not in m}  # fmt: skip
    assert "emb_opt.logfile" in graph and "emb_opt.log_reader" in graph["emb_opt.log"]
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_version_command_imports_neither_numpy_nor_pydantic():
    code = (
        "import sys\nfrom emb_opt.cli.main import main\ntry:\n    main(['--version'])\n"
        "except SystemExit:\n    pass\n"
        "print([m for m in ('numpy', 'pydantic', 'filelock') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == [out.stdout.splitlines()[0], "[]"]
    assert out.stdout.startswith("emb-opt ")
