"""Every built-in backend is described once, by its adapter module's `BACKEND`, and comes
with an example config and a conformance test: no list of backends is kept by hand."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import numpy as np
import pytest
import yaml

from emb_opt.adapters.backend import Backend, builtin_backends
from emb_opt.adapters.base import MATCHES_NOTHING, VectorDataSource
from emb_opt.adapters.remote import RemoteDataSource
from emb_opt.adapters.spec import SourceSpec
from emb_opt.config.registry import backends
from emb_opt.schemas import Query

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
ADAPTERS = REPO / "emb_opt" / "adapters"


def pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def requirement_names(requirements: list[str]) -> set[str]:
    """Normalised distribution names of requirement strings ("faiss-cpu>=1.8" -> faiss-cpu)."""
    names = (re.match(r"[A-Za-z0-9._-]+", r).group(0) for r in requirements)
    return {re.sub(r"[-_.]+", "-", name).lower() for name in names}


def example_backends() -> dict[str, str]:
    """The example configs, by the backend their `source` block names."""
    found: dict[str, str] = {}
    for path in sorted(EXAMPLES.glob("*.yaml")):
        found.setdefault(yaml.safe_load(path.read_text())["source"]["backend"], path.name)
    return found


def descriptor_modules() -> list[str]:
    """The adapter modules that end in a `BACKEND = Backend(...)` descriptor."""
    return sorted(
        path.stem
        for path in ADAPTERS.glob("*.py")
        if any(
            isinstance(node, ast.Assign)
            and any(
                isinstance(target, ast.Name) and target.id == "BACKEND" for target in node.targets
            )
            for node in ast.parse(path.read_text()).body
        )
    )


def server_backends() -> list[str]:
    """Backends holding collections (servers, and engines keeping them in a directory)."""
    return sorted(
        n for n, b in builtin_backends().items() if issubclass(b.adapter, RemoteDataSource)
    )


def client_libraries() -> list[str]:
    """What the optional backends' packages install, as importable names."""
    optional = {
        requirement
        for backend in builtin_backends().values()
        if backend.extra is not None
        for requirement in requirement_names(list(backend.packages))
    }
    return sorted(
        module
        for module, distributions in packages_distributions().items()
        if requirement_names(distributions) & optional and not module.startswith("_")
    )


def test_the_registry_lists_every_adapter_module_by_its_descriptor():
    builtin = builtin_backends()
    modules = descriptor_modules()
    assert len(modules) == len(builtin) >= 9
    assert sorted(b.adapter.__module__.rpartition(".")[2] for b in builtin.values()) == modules
    registry = backends()
    for name, backend in builtin.items():
        assert registry[name] is backend
        assert backend.name == name
        assert issubclass(backend.adapter, VectorDataSource)


@pytest.mark.parametrize("name", sorted(builtin_backends()))
def test_descriptor_extra_installs_its_packages(name):
    backend, project = builtin_backends()[name], pyproject()["project"]
    assert backend.packages
    if backend.extra is None:  # in the core install
        required = requirement_names(project["dependencies"])
    else:
        extras = project["optional-dependencies"]
        assert backend.extra in extras, f"{name}: no extra {backend.extra!r} in pyproject.toml"
        required = requirement_names(extras[backend.extra])
    assert requirement_names(list(backend.packages)) <= required


def test_the_all_extra_installs_every_backend():
    extras = pyproject()["project"]["optional-dependencies"]
    (everything,) = extras["all"]
    named = set(re.fullmatch(r"emb-opt\[(.*)\]", everything).group(1).split(","))
    missing = {b.extra for b in builtin_backends().values() if b.extra is not None} - named
    assert not missing, f"add {sorted(missing)} to the `all` extra in pyproject.toml"


@pytest.mark.parametrize("name", server_backends())
def test_server_descriptors_say_how_to_open_fill_list_and_drop(name):
    backend = builtin_backends()[name]
    fields = ("open_client", "collections", "drop_collection", "load_collection")
    assert all(callable(getattr(backend, field)) for field in fields)


def test_listing_descriptors_imports_no_client_library():
    clients = (*client_libraries(), "pyarrow")  # and what datasets and lancedb build on
    assert len(clients) > 9
    code = (
        "import sys\n"
        "from emb_opt.config.registry import backends\n"
        "backends()\n"
        f"print(sorted(m for m in {clients!r} if m in sys.modules))\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == "[]"


def embedded_backends() -> list[str]:
    """Server backends whose example opens them in a directory only (no `url`)."""
    examples = {
        name: yaml.safe_load((EXAMPLES / file).read_text())
        for name, file in example_backends().items()
    }
    return [name for name in server_backends() if "url" not in examples[name]["source"]]


@pytest.mark.parametrize("name", ["qdrant", *embedded_backends()])
def test_server_collections_are_listed_and_dropped_through_the_descriptor(tmp_path, name):
    """The calls the test engines use to clean servers, on Qdrant's local mode and on the
    embedded engines."""
    backend: Backend = builtin_backends()[name]
    client = backend.open_client(SourceSpec(backend=name, path=str(tmp_path / "db")))
    backend.load_collection(client, "kept", np.eye(3, dtype=np.float32))
    backend.load_collection(client, "dropped", np.eye(3, dtype=np.float32))
    backend.drop_collection(client, "dropped")
    assert backend.collections(client) == ["kept"]
    if hasattr(client, "close"):
        client.close()


def conformance_tests() -> dict[tuple[str, str], str]:
    """(module, class) of each adapter a test module here imports while one of its classes
    derives from the shared `DataSourceConformance` (directly or through another class of
    the module), mapped to that test module's name."""
    found: dict[tuple[str, str], str] = {}
    for path in sorted(Path(__file__).parent.glob("test_*.py")):
        tree = ast.parse(path.read_text())
        suites = {"DataSourceConformance"}
        for node in tree.body:  # in order: a class follows the classes it derives from
            if isinstance(node, ast.ClassDef) and any(
                isinstance(base, ast.Name) and base.id in suites for base in node.bases
            ):
                suites.add(node.name)
        if len(suites) == 1:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    found.setdefault((node.module, alias.name), path.name)
    return found


@pytest.mark.parametrize("name", sorted(builtin_backends()))
def test_every_backend_has_an_example_config(name):
    assert name in example_backends(), (
        f"backend {name!r} has no example config: add examples/{name.replace('-', '_')}.yaml "
        f"with source.backend: {name}"
    )


@pytest.mark.parametrize("name", sorted(builtin_backends()))
def test_every_backend_runs_the_conformance_suite(name):
    adapter = builtin_backends()[name].adapter
    assert (adapter.__module__, adapter.__name__) in conformance_tests(), (
        f"backend {name!r}: no module in tests/adapters imports {adapter.__name__} and "
        "subclasses emb_opt.testing.DataSourceConformance for it"
    )


def test_the_config_parses_the_filter_once_and_hands_the_ir_to_the_adapter():
    from emb_opt.config.backends import source_spec
    from emb_opt.config.schema import SourceConfig

    config = SourceConfig.model_validate(
        {
            "backend": "numpy",
            "k": 5,
            "filter": {"rand": {"$lt": 0.5}},
            "data": {"kind": "synthetic", "n": 200, "dim": 4},
        }
    )
    spec = source_spec(config)
    assert spec.filter is config.parsed_filter
    with builtin_backends()["numpy"].connect(spec) as source:
        assert source.filter is spec.filter
        (response,) = source([Query(embedding=np.zeros(4))])
    assert len(response.query_results) == 5
    assert all(item.data["rand"] < 0.5 for item in response.query_results)


def test_a_filter_the_schema_rules_out_compiles_to_matches_nothing(tmp_path):
    """LanceDB folds a comparison on a column the table lacks: no query is sent."""
    backend = builtin_backends()["lancedb"]
    client = backend.open_client(SourceSpec(backend="lancedb", path=str(tmp_path / "db")))
    backend.load_collection(client, "t", np.eye(3, dtype=np.float32), metadata=[{"a": 1}] * 3)
    source = backend.adapter(client, "t", k=2, filter={"missing": {"$gt": 0}})
    assert source.native_filter is MATCHES_NOTHING
    assert source([Query(embedding=np.zeros(3))])[0].query_results == []
    assert source.count() == 0
    kept = backend.adapter(client, "t", k=2, filter={"a": 1})
    assert kept.native_filter == "`a` = 1" and kept.count() == 3
