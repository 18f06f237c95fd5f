"""MkDocs hook: the parts of the docs generated from the code itself.

In a page, `<!-- generated: config-reference -->` becomes the configuration reference, walked
from the pydantic schema (`emb_opt.config.schema.RunConfig`: every key with its type, default
and description, the field's docstring), and `<!-- generated: cli-reference -->` the `--help`
of every `emb-opt` command.
"""

from __future__ import annotations

import argparse
import inspect
import os
import types
from collections.abc import Callable, Iterator
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from emb_opt.cli.main import parser
from emb_opt.config.schema import PluginConfig, RunConfig

HELP_WIDTH = "96"  # columns of the `--help` texts


def on_page_markdown(markdown: str, **_: Any) -> str:
    """MkDocs calls this with each page's Markdown before rendering it."""
    for name, make in GENERATED.items():
        marker = f"<!-- generated: {name} -->"
        if marker in markdown:
            markdown = markdown.replace(marker, make())
    return markdown


# -- the configuration reference ------------------------------------------------------------


HEADER = ["", "| key | type | default | description |", "|---|---|---|---|"]


def config_reference() -> str:
    """Every key of a run config: a table of the blocks, one table per block, then the keys
    of a plugin block (`score.function`, `strategy.update`, ...)."""
    lines = HEADER[1:] + [_row(name, field) for name, field in RunConfig.model_fields.items()]
    plugins = []
    for name, field in RunConfig.model_fields.items():
        model = _block_model(field.annotation)
        if model is None:
            continue
        lines += ["", f"## `{name}`", "", _one_line(model.__doc__)]
        if model.model_config.get("extra") == "allow":
            lines += ["", f"Any other key of `{name}` goes to the constructor it names."]
        rows = list(walk(model, name))
        lines += HEADER + [_row(path, field) for path, field in rows]
        plugins += [path for path, field in rows if PluginConfig in _models_in(field.annotation)]
    lines += ["", "## Plugin blocks", "", _one_line(PluginConfig.__doc__)]
    lines += ["", f"Plugin blocks: {', '.join(f'`{path}`' for path in plugins)}."]
    lines += HEADER + [_row(name, field) for name, field in PluginConfig.model_fields.items()]
    return "\n".join(lines) + "\n"


def walk(model: type[BaseModel], prefix: str) -> Iterator[tuple[str, FieldInfo]]:
    """(dotted path, field) of every key under `model`, nested blocks included but for plugin
    blocks (one table of their own); a block of several kinds (`source.data`) comes once per
    kind."""
    for name, field in model.model_fields.items():
        path = f"{prefix}.{name}"
        yield path, field
        for member in _models_in(field.annotation):
            if member is not PluginConfig:
                yield from walk(member, path)


def _row(path: str, field: FieldInfo) -> str:
    cells = [f"`{path}`", _type(field.annotation), _default(field), _one_line(field.description)]
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def _one_line(text: str | None) -> str:
    return " ".join(inspect.cleandoc(text or "").split())


def _block_model(annotation: Any) -> type[BaseModel] | None:
    models = _models_in(annotation)
    return models[0] if len(models) == 1 else None


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The config blocks an annotation allows (`SyntheticData | FileData | None`: both)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if get_origin(annotation) in (Union, types.UnionType):
        return [model for arg in get_args(annotation) for model in _models_in(arg)]
    return []


NAMES = {int: "integer", float: "number", str: "string", bool: "boolean", type(None): "null"}


def _type(annotation: Any) -> str:
    origin = get_origin(annotation)
    if annotation in NAMES:
        return NAMES[annotation]
    if annotation is Any:
        return "any"
    if annotation is PluginConfig:
        return "plugin block"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        kind = annotation.model_fields.get("kind")
        return "block" if kind is None else f"block, `kind: {kind.default}`"
    if origin is Literal:
        return " or ".join(f"`{value}`" for value in get_args(annotation))
    if origin in (Union, types.UnionType):
        return " or ".join(_type(arg) for arg in get_args(annotation))
    if origin is dict:
        return "mapping"
    if origin is list:
        return f"list of {_type(get_args(annotation)[0])}"
    raise TypeError(f"no name for the config type {annotation!r}; add it to _type")


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if isinstance(value, BaseModel):
        value = value.model_dump(exclude_defaults=True) or "its keys' defaults"
        if isinstance(value, str):
            return value
    return f"`{_yaml(value)}`"


def _yaml(value: Any) -> str:
    """`value` in YAML flow style, as a config would write it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    return str(value)


# -- the command line ---------------------------------------------------------------------


def cli_reference() -> str:
    """The `--help` of `emb-opt` and of each of its commands."""
    before = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = HELP_WIDTH  # argparse wraps to the terminal's width
    try:
        top = parser()
        parts = [("emb-opt", top.format_help())]
        for action in top._actions:
            if isinstance(action, argparse._SubParsersAction):
                parts += [(f"emb-opt {n}", p.format_help()) for n, p in action.choices.items()]
    finally:
        if before is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = before
    return "\n".join(f"### `{name}`\n\n```text\n{text.rstrip()}\n```\n" for name, text in parts)


GENERATED: dict[str, Callable[[], str]] = {
    "config-reference": config_reference,
    "cli-reference": cli_reference,
}
