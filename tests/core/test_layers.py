"""The layers of the package: the config sits on top of the adapters and filters, never below."""

from __future__ import annotations

import ast
from pathlib import Path

import emb_opt

PACKAGE = Path(emb_opt.__file__).parent


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports (at the top, lazily or for types), as absolute names."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    here = parts if parts[-1] == "__init__" else parts[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.update([module, *(f"{module}.{alias.name}" for alias in node.names)])
    return found


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
