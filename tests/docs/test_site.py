"""The docs site builds with warnings as errors, and its generated pages are complete: every
key of the run-config schema, every `emb-opt` command and option, every public name."""

from __future__ import annotations

import argparse
import html
import importlib.util
from collections.abc import Iterator
from types import ModuleType

import pytest
from documents import REPO
from pydantic import BaseModel

import emb_opt
from emb_opt.cli.main import parser
from emb_opt.config.schema import PluginConfig, RunConfig


def hook() -> ModuleType:
    """docs/_hooks/generated.py, the MkDocs hook that writes the generated pages."""
    spec = importlib.util.spec_from_file_location("generated", REPO / "docs/_hooks/generated.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def schema_keys(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, str | None]]:
    """(dotted path, description) of every key of `model` and the blocks under it; a plugin
    block's keys by their own names (they have one table for all plugin blocks)."""
    for name, field in model.model_fields.items():
        path = name if model is PluginConfig else f"{prefix}{name}"
        yield path, field.description
        annotation = field.annotation
        members = getattr(annotation, "__args__", (annotation,))
        for member in members:
            if isinstance(member, type) and issubclass(member, BaseModel):
                yield from schema_keys(member, f"{path}.")


@pytest.mark.slow
def test_the_site_builds_with_warnings_as_errors(site):
    for page in ("index.html", "concepts/index.html", "api/index.html", "extending/index.html"):
        assert (site / page).stat().st_size > 0, page


def test_every_schema_key_has_a_description_in_the_reference():
    reference = hook().config_reference()
    keys = list(schema_keys(RunConfig))
    assert len(keys) > 40
    for path, description in keys:
        assert description, f"{path}: no docstring in emb_opt/config/schema.py"
        rows = [r for r in reference.splitlines() if r.startswith(f"| `{path}` | ")]
        assert any(" ".join(description.split()) in row for row in rows), path


@pytest.mark.slow
def test_the_built_reference_shows_every_schema_key(site):
    page = (site / "configuration-reference/index.html").read_text()
    assert "generated: config-reference" not in page
    for path, _ in schema_keys(RunConfig):
        assert f"<code>{path}</code>" in page, path


@pytest.mark.slow
def test_the_cli_reference_shows_every_command_and_option(site):
    page = html.unescape((site / "cli/index.html").read_text())
    commands = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert len(commands.choices) >= 7
    for name, command in commands.choices.items():
        assert f"usage: emb-opt {name}" in page, name
        for action in command._actions:
            for option in action.option_strings:
                assert option in page, f"emb-opt {name} {option}"


@pytest.mark.slow
def test_the_api_reference_documents_every_public_name(site):
    page = (site / "api/index.html").read_text()
    for name in emb_opt.__all__:
        assert f'id="emb_opt.{name}"' in page or f'id="emb_opt.errors.{name}"' in page, name
