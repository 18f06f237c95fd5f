"""Importing emb_opt pulls in no database or distributed-engine library."""

from __future__ import annotations

import json
import os
import subprocess
import sys

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


def test_the_version_command_imports_neither_numpy_nor_pydantic():
    code = (
        "import sys\nfrom emb_opt.cli.main import main\ntry:\n    main(['--version'])\n"
        "except SystemExit:\n    pass\n"
        "print([m for m in ('numpy', 'pydantic', 'filelock') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == [out.stdout.splitlines()[0], "[]"]
    assert out.stdout.startswith("emb-opt ")
