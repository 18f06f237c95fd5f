"""Installing this project: the README's install lines name this checkout or its repository
(PyPI's `emb-opt` is an unrelated 1.0.2), and an install of the checkout into a fresh
environment gives the `emb-opt` command and `from emb_opt import Runner`."""

from __future__ import annotations

import csv
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


def readme_commands(text: str) -> set[str]:
    """The `emb-opt` subcommands (and options alone, `--version`) the README's shell blocks run."""
    blocks = re.findall(r"```bash\n(.*?)```", text, re.S)
    found = (
        re.match(r"\s*emb-opt\s+(-{0,2}[\w-]+)", line) for b in blocks for line in b.splitlines()
    )
    return {match.group(1) for match in found if match}


def readme_extras(text: str) -> str:
    """The extras the README installs a checkout with (`[faiss,strategies]`)."""
    checkout = [c for c in install_commands(text) if re.search(r'"/path/to/emb_opt\[', c)]
    assert checkout, "the README shows no install of a checkout"
    return re.search(r"\[[^\]]*\]", checkout[0]).group(0)


@pytest.mark.slow
def test_an_install_with_the_readme_extras_runs_every_command_the_readme_shows(tmp_path):
    """A fresh environment, the checkout installed with the README's extras (its
    dependencies resolved for real; uv's cache makes it quick), then each command; with a
    dependency of the outputs removed, a command is one line and writes nothing."""
    if importlib.util.find_spec("uv") is None:
        pytest.skip("uv is not installed here (make installs it into .venv)")
    readme = (REPO / "README.md").read_text()
    checkout = copy_checkout(tmp_path / "checkout")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    install = [
        sys.executable,
        "-m",
        "uv",
        "pip",
        "install",
        "--python",
        str(venv / "bin" / "python"),
    ]
    built = subprocess.run(
        [*install, f"{checkout}{readme_extras(readme)}"], capture_output=True, text=True
    )
    assert built.returncode == 0, built.stderr

    def emb_opt(*args: str | Path, code: int = 0) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [venv / "bin" / "emb-opt", *map(str, args)],
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )
        assert done.returncode == code, done.stderr
        return done

    ran = {"--version"}
    assert emb_opt("--version").stdout.startswith(f"emb-opt {VERSION} from ")
    emb_opt("demo", "--output", tmp_path / "demo", "--quiet")
    for example in ("numpy", "faiss"):
        emb_opt("run", checkout / "examples" / f"{example}.yaml", "--quiet")
    run = checkout / "examples" / "runs" / "example-faiss"
    assert "status          finished" in emb_opt("inspect", run).stdout
    emb_opt("plot", run)
    ran |= {"demo", "run", "inspect", "plot"}
    for directory in (tmp_path / "demo", run):
        for name in ("results.parquet", "results.jsonl", "best_and_top_k.png", "manifest.json"):
            assert (directory / name).stat().st_size > 0, name

    assay = tmp_path / "assay.yaml"
    assay.write_text(
        "source: {backend: faiss, k: 10, data: {kind: synthetic, n: 2000, dim: 16}}\n"
        "score: {external: true}\n"
        "strategy: {update: {name: guided, batch: 12, initial: 12}}\n"
        "stop: {iterations: 2}\n"
        "output: {dir: runs/assay}\n"
    )
    lab = tmp_path / "runs" / "assay"
    plate = Path(emb_opt("ask", assay).stdout.strip())
    emb_opt("tell", lab, score_plate(plate))
    emb_opt("ask", lab)
    assert "waiting" in emb_opt("status", lab).stdout
    emb_opt("inspect", lab)
    ran |= {"ask", "tell", "status"}
    assert readme_commands(readme) <= ran

    uninstall = [*install[:4], "uninstall", *install[5:]]
    subprocess.run([*uninstall, "pyarrow"], check=True, capture_output=True)
    failed = emb_opt("demo", "--output", tmp_path / "demo-again", code=2)
    assert failed.stderr.startswith("emb-opt: error: emb-opt demo needs pyarrow: ")
    assert len(failed.stderr.splitlines()) == 1 and '".[cli]"' in failed.stderr
    assert not (tmp_path / "demo-again").exists()


def copy_checkout(checkout: Path) -> Path:
    """The files an install of the checkout reads, and the examples, in `checkout`."""
    checkout.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, checkout / name)
    ignore = shutil.ignore_patterns("__pycache__")
    for folder in ("emb_opt", "examples"):
        shutil.copytree(REPO / folder, checkout / folder, ignore=ignore)
    return checkout


def score_plate(plate: Path) -> Path:
    """The asked CSV with every score filled in (0.5)."""
    with open(plate, newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["score"] = "0.5"
    scored = plate.with_name(plate.stem + "-scored.csv")
    with open(scored, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return scored
