"""Running the code blocks of a Markdown page with Sybil.

A page's blocks run in order in the current directory (the tests make it a fresh one holding a
copy of `examples/`), its Python blocks in one namespace: `python` blocks run, `bash` blocks
run in bash with this environment's `emb-opt` first on the PATH, `yaml` blocks are validated
against the run-config schema, `json` blocks are parsed; a `python` or `yaml` block whose first
line is a comment naming a file (`# myscore.py`, `# search.yaml: ...`) is written to it too;
`text` blocks show output and run nothing. An HTML comment
`<!-- invisible-code-block: python ... -->` runs setup a reader does not need to see, and
`<!-- skip: next "reason" -->` marks the next block as one that cannot run here, with the
reason (a server URL, a cluster, minutes of benchmark).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from unittest import SkipTest

import yaml
from documents import REPO
from pydantic import TypeAdapter
from sybil import Example, Sybil
from sybil.evaluators.python import PythonEvaluator
from sybil.parsers.markdown import CodeBlockParser, SkipParser

from emb_opt.config import build_strategy, validate
from emb_opt.config.loading import substitute
from emb_opt.config.schema import RunConfig, StrategyConfig

LANGUAGES = {"python", "bash", "yaml", "json", "text"}
FENCE = re.compile(r"^ *```(\S*)", re.M)
SKIP = re.compile(r"^[ \t]*<!--\s*skip:(.*?)-->", re.S | re.M)
FILE_NAME = re.compile(r"#\s*([\w.-]+\.(?:py|ya?ml))\b")


def check_yaml(example: Example) -> None:
    """A whole config (it has `source` and `score`) is validated as `emb-opt run` does; a part
    of one, block by block; a `strategy` block is built too (its parameters checked)."""
    text = str(example.parsed)
    document = yaml.safe_load(text)
    assert isinstance(document, dict), "a yaml block is a run config or a part of one"
    if {"source", "score"} <= set(document):
        validate(document)
    for key, value in document.items():
        assert key in RunConfig.model_fields, f"{key}: not a block of a run config"
        block = TypeAdapter(RunConfig.model_fields[key].annotation).validate_python(
            substitute(value)
        )
        if isinstance(block, StrategyConfig):
            build_strategy(block)
    write_named_file(text)


def run_python(example: Example) -> None:
    write_named_file(str(example.parsed))
    PythonEvaluator()(example)


def write_named_file(text: str) -> None:
    """Write a block to the file its first line names (`# myscore.py`), if it names one."""
    named = FILE_NAME.match(text)
    if named:
        Path(named[1]).write_text(text)


def run_shell(example: Example) -> str | None:
    """The block in bash, stopping at the first command that fails."""
    bin_dir = str(Path(sys.executable).parent)
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", str(example.parsed)],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"},
    )
    if done.returncode != 0:
        return f"exit {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return None


def check_json(example: Example) -> None:
    json.loads(str(example.parsed))


def shown_only(example: Example) -> None:
    """Output and diagrams: nothing to run."""


SYBIL = Sybil(
    parsers=[
        CodeBlockParser("python", run_python),
        CodeBlockParser("bash", run_shell),
        CodeBlockParser("yaml", check_yaml),
        CodeBlockParser("json", check_json),
        CodeBlockParser("text", shown_only),
        SkipParser(),
    ]
)


def run_blocks(path: Path, here: Path) -> tuple[dict[str, Any], list[str]]:
    """Run the blocks of the page at `path` in the directory `here` (given a copy of
    `examples/`); the page's namespace, and the blocks skipped with their reasons."""
    shutil.copytree(REPO / "examples", here / "examples", ignore=_runs)
    document = SYBIL.parse(path)
    skipped = []
    for example in document.examples():
        try:
            example.evaluate()
        except SkipTest as reason:
            skipped.append(f"line {example.line}: {reason}")
    return document.namespace, skipped


def _runs(folder: str, names: list[str]) -> list[str]:
    """What a copy of `examples/` leaves out: runs a checkout made, caches."""
    return [name for name in names if name in ("runs", "__pycache__")]
