"""The `emb-opt` command: run, demo, inspect, plot."""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path

from ..errors import EmbOptError, SearchAborted

USER_ERRORS = (EmbOptError, ValueError, ImportError, OSError)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="emb-opt",
        description="Find the highest-scoring items in a vector database, scoring only a sliver.",
    )
    top.add_argument("--debug", action="store_true", help="show tracebacks on errors")
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
    return top


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
    else:
        from .plots import write_plots
        from .rundir import RunDirectory

        for path in write_plots(RunDirectory(args.directory).read_log(), args.directory):
            print(path)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        dispatch(args)
    except KeyboardInterrupt:
        print("emb-opt: interrupted; continue with --resume", file=sys.stderr)
        return 130
    except SearchAborted as error:
        if args.debug:
            traceback.print_exc()
        print(f"emb-opt: {error}; continue with --resume", file=sys.stderr)
        return 1
    except USER_ERRORS as error:
        if args.debug:
            traceback.print_exc()
        print(f"emb-opt: error: {error}", file=sys.stderr)
        return 2
    return 0
