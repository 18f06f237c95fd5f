"""The `emb-opt` command: run, demo, inspect, plot, ask, tell, status."""

from __future__ import annotations

import argparse
import importlib.metadata
import re
import sys
import traceback
from pathlib import Path

from ..errors import EmbOptError, SearchAborted
from .interrupts import describe, exit_code, sigterm_raises

USER_ERRORS = (EmbOptError, ValueError, ImportError, OSError)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="emb-opt",
        description="Find the highest-scoring items in a vector database, scoring only a sliver.",
        formatter_class=argparse.RawDescriptionHelpFormatter,  # --version on one line
    )
    top.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    top.add_argument("--version", action="version", version=version(), help="show the version")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the search a config file describes")
    run.add_argument("config", type=Path, help="the run config (YAML)")
    run.add_argument("--output", type=Path, help="output directory (default: output.dir)")
    run.add_argument(
        "--resume", action="store_true", help="continue the run in the output directory"
    )
    run.add_argument("--quiet", action="store_true", help="no progress display")

    demo = commands.add_parser(
        "demo", help="the embedded demo: FAISS over generated data, no server"
    )
    demo.add_argument("--output", type=Path, help="output directory (default: runs/demo)")
    demo.add_argument("--quiet", action="store_true", help="no progress display")

    inspect = commands.add_parser("inspect", help="summary table of a run directory")
    inspect.add_argument("directory", type=Path)
    inspect.add_argument("--top", type=int, default=10, help="how many results to list")

    plot = commands.add_parser("plot", help="(re)draw the PNG plots of a run directory")
    plot.add_argument("directory", type=Path)

    ask = commands.add_parser(
        "ask", help="hand out items to score (a config with score.external: true, or its run)"
    )
    ask.add_argument("target", type=Path, help="the config (YAML) or its run directory")
    ask.add_argument("--n", type=int, help="at most this many items (default: all waiting)")
    ask.add_argument("--format", default="csv", help="csv (default), parquet or jsonl")

    tell = commands.add_parser(
        "tell", help="give the scores of asked items: id,score[,valid,reason]"
    )
    tell.add_argument("directory", type=Path, help="the run directory")
    tell.add_argument("scores", type=Path, nargs="?", help="a .csv, .parquet or .jsonl file")
    tell.add_argument("--partial", action="store_true", help="apply the good rows, list the rest")
    tell.add_argument(
        "--proceed", action="store_true", help="then give up the items still waiting and go on"
    )

    status = commands.add_parser("status", help="what an ask/tell run is waiting for")
    status.add_argument("directory", type=Path)
    return top


def version() -> str:
    """This installation's version (its package metadata, else `emb_opt.__version__`), where
    it is installed, and the Python running it."""
    from .. import __file__ as package_file
    from .. import __version__

    try:
        number = importlib.metadata.version("emb-opt")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout, not installed
        number = __version__
    python = ".".join(map(str, sys.version_info[:3]))
    return f"emb-opt {number} from {Path(package_file).parent} (Python {python})"


def dispatch(args: argparse.Namespace) -> None:
    if args.command == "run":
        from ..config import load_config
        from .run import execute

        config, raw = load_config(args.config)
        execute(config, raw, args.output or Path(config.output.dir), args.resume, args.quiet)
    elif args.command == "demo":
        from .demo import run_demo

        run_demo(args.output, args.quiet)
    elif args.command == "inspect":
        from .inspect_run import summary

        print(summary(args.directory, args.top))
    elif args.command in ("ask", "tell", "status"):
        from . import asktell

        if args.command == "ask":
            print(asktell.ask(args.target, args.n, args.format))
        elif args.command == "tell":
            print(asktell.tell(args.directory, args.scores, args.partial, args.proceed))
        else:
            print(asktell.status(args.directory))
    else:
        from .plots import write_plots
        from .rundir import RunDirectory

        for path in write_plots(RunDirectory(args.directory).read_log(), args.directory):
            print(path)


def main(argv: list[str] | None = None) -> int:
    """Run the command; a failure is one line on stderr (`--debug`: and its traceback)."""
    args = parser().parse_args(argv)
    try:
        with sigterm_raises():
            dispatch(args)
    except SearchAborted as error:
        return _failed(args, f"{error}; continue with --resume", 1)
    except USER_ERRORS as error:
        return _failed(args, f"error: {error}", 2)
    except Exception:
        raise  # a bug: its traceback
    except BaseException as error:  # Ctrl-C, SIGTERM, a plugin's SystemExit or other
        return _failed(args, f"{describe(error)}; continue with --resume", exit_code(error))
    return 0


def _failed(args: argparse.Namespace, message: str, code: int) -> int:
    if args.debug:
        traceback.print_exc()
    print("emb-opt: " + re.sub(r"\s*\n\s*", " ", message.strip()), file=sys.stderr)
    return code
