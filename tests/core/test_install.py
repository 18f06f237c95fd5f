"""Installing this project: the README's install lines name this checkout or its repository
(PyPI's `emb-opt` is an unrelated 1.0.2), and an install of the checkout into a fresh
environment gives the `emb-opt` command and `from emb_opt import Runner`."""

from __future__ import annotations

import importlib.util
import re
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

import emb_opt
from emb_opt.cli.main import main

REPO = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def test_the_package_says_the_version_pyproject_gives():
    assert emb_opt.__version__ == VERSION


def test_emb_opt_version_names_this_project_and_where_it_lives(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["--version"])
    assert exit.value.code == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"emb-opt {VERSION} from {Path(emb_opt.__file__).parent} ")


def install_commands(text: str) -> list[str]:
    """Every `pip install ...` command in the README's shell blocks."""
    blocks = re.findall(r"```bash\n(.*?)```", text, re.S)
    return [
        line.split("#")[0].strip()
        for b in blocks
        for line in b.splitlines()
        if "pip install" in line
    ]


def test_the_readme_installs_this_project_never_the_name_on_pypi():
    commands = install_commands((REPO / "README.md").read_text())
    assert commands, "the README shows no install command"
    for command in commands:
        targets = re.findall(r'"([^"]+)"', command)
        assert targets, command
        for target in targets:
            named = re.match(r"emb-opt(\[[^\]]*\])?", target)
            if named:  # a bare name would come from PyPI: only `name @ URL` may use it
                assert " @ git+" in target, f"installs emb-opt from PyPI: {command}"
            else:
                assert target.startswith(("/", ".")), f"not a checkout path: {command}"


@pytest.mark.slow
def test_the_checkout_installs_into_a_fresh_environment(tmp_path):
    """`uv pip install CHECKOUT` offline and without dependencies (those this environment
    already has are made visible to the new one), then the command and the import."""
    if importlib.util.find_spec("uv") is None:
        pytest.skip("uv is not installed here (make installs it into .venv)")
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, checkout / name)
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPO / "emb_opt", checkout / "emb_opt", ignore=ignore)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    python = venv / "bin" / "python"
    new_site = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    # this environment's packages (numpy, pydantic...), searched after the new ones
    Path(new_site, "_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    install = [sys.executable, "-m", "uv", "pip", "install", "--python", str(python)]
    built = subprocess.run(
        [*install, "--offline", "--no-deps", str(checkout)], capture_output=True, text=True
    )
    if built.returncode != 0 and "offline" in built.stderr.lower():
        pytest.skip(
            f"the build backend is not in uv's cache and this test stays offline: {built.stderr}"
        )
    assert built.returncode == 0, built.stderr
    version = run(venv / "bin" / "emb-opt", "--version")
    assert version.startswith(f"emb-opt {VERSION} from {new_site}/emb_opt ")
    imported = run(
        python, "-c", "from emb_opt import Runner; import emb_opt; print(emb_opt.__file__)"
    )
    assert imported == f"{new_site}/emb_opt/__init__.py"


def run(*command: str | Path) -> str:
    """Its stdout, stripped; it must succeed."""
    done = subprocess.run(command, capture_output=True, text=True, cwd=Path(command[0]).parent)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()
