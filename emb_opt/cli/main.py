"""The `emb-opt` command: run, demo, inspect, plot, ask, tell, status."""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import re
import sys
import traceback
from pathlib import Path

from ..errors import CallTimedOut, EmbOptError, PluginResponseError, SearchAborted
from ..formats import FORMATS, format_names
from ..masking import mask_secrets
from .interrupts import describe, exit_code, sigterm_raises
from .lock import ASK_TELL_WAIT, RUN_WAIT, check_wait
from .needs import check_installed
from .stdout import CLOSED_EXIT, closed, say

USER_ERRORS = (EmbOptError, ValueError, ImportError, OSError)
ACCEPT = ("--accept-changed-data",)
ACCEPT_HELP = (
    "continue although the source data changed since the run started (recorded in the manifest)"
)


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
    _wait_option(run, RUN_WAIT)
    run.add_argument(*ACCEPT, action="store_true", help=ACCEPT_HELP)

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
    ask.add_argument("--format", default="csv", help=f"{', '.join(format_names())} (default csv)")
    _wait_option(ask, ASK_TELL_WAIT)
    ask.add_argument(*ACCEPT, action="store_true", help=ACCEPT_HELP)

    tell = commands.add_parser(
        "tell", help="give the scores of asked items: id,score[,valid,reason]"
    )
    tell.add_argument("directory", type=Path, help="the run directory")
    tell.add_argument("scores", type=Path, nargs="?", help=f"a table file: {', '.join(FORMATS)}")
    tell.add_argument("--partial", action="store_true", help="apply the good rows, list the rest")
    tell.add_argument(
        "--proceed", action="store_true", help="then give up the items still waiting and go on"
    )
    tell.add_argument(
        "--yes",
        action="store_true",
        help="--proceed even when that ends the search or gives up a whole iteration",
    )
    tell.add_argument(
        "--replicate",
        action="store_true",
        help="the file holds further scores of items scored earlier (averaged)",
    )
    _wait_option(tell, ASK_TELL_WAIT)
    tell.add_argument(*ACCEPT, action="store_true", help=ACCEPT_HELP)

    status = commands.add_parser("status", help="what an ask/tell run is waiting for")
    status.add_argument("directory", type=Path)
    return top


def _wait_option(command: argparse.ArgumentParser, default: float) -> None:
    command.add_argument(
        "--wait",
        type=_seconds,
        default=default,
        metavar="SECONDS",
        help=f"wait this long for another command writing the run directory (default {default:g})",
    )


def _seconds(text: str) -> float:
    """The value of `--wait`: a number of seconds, 0 or more."""
    try:
        return check_wait(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number of seconds, 0 or more; got {text!r}"
        ) from None


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
    check_installed(args.command)  # before anything is written
    if args.command == "run":
        from ..config import load_config
        from .outputs import finished_report, result_rows
        from .run import execute

        config, raw = load_config(args.config)
        args.run_directory = args.output or Path(config.output.dir)
        log = execute(
            config,
            raw,
            args.run_directory,
            args.resume,
            args.quiet,
            args.wait,
            args.accept_changed_data,
            folder=args.config.absolute().parent,
        )
        say(finished_report(result_rows(log), args.run_directory))
    elif args.command == "demo":
        from .demo import run_demo

        run_demo(args.output, args.quiet)
    elif args.command == "inspect":
        from .inspect_run import summary

        say(summary(args.directory, args.top))
    elif args.command in ("ask", "tell", "status"):
        from . import asktell

        target = args.target if args.command == "ask" else args.directory
        if args.command == "ask":
            accept = args.accept_changed_data
            say(asktell.ask(target, args.n, args.format, args.wait, accept))
        elif args.command == "tell":
            say(
                asktell.tell(
                    target,
                    args.scores,
                    args.partial,
                    args.proceed,
                    args.yes,
                    args.wait,
                    args.accept_changed_data,
                    args.replicate,
                )
            )
        else:
            say(asktell.status(target))
    else:
        from .plots import write_plots
        from .rundir import RunDirectory

        for path in write_plots(RunDirectory(args.directory).read_log(), args.directory):
            say(str(path))


def main(argv: list[str] | None = None) -> int:
    """Run the command; a failure is one line on stderr (`--debug`: and its traceback), a
    bug its traceback. Whatever is printed has its secrets masked (`mask_secrets`)."""
    openmp_threads_sleep()
    args = parser().parse_args(argv)
    try:
        with sigterm_raises():
            dispatch(args)
    except SearchAborted as error:
        same_again = isinstance(error.__cause__, PluginResponseError)  # a wrong answer's shape
        return _failed(args, f"{error}{'' if same_again else _resume_hint(args, error)}", 1)
    except USER_ERRORS as error:
        return _failed(args, f"error: {error}", 2)
    except Exception:  # a bug: its traceback (masked), and the exit status Python gives it
        print(mask_secrets(traceback.format_exc()), end="", file=sys.stderr)
        return 1
    except BaseException as error:  # Ctrl-C, SIGTERM, a plugin's SystemExit or other
        return _failed(args, f"{describe(error)}{_resume_hint(args)}", exit_code(error))
    return CLOSED_EXIT if closed() else 0


def openmp_threads_sleep() -> None:
    """Make the OpenMP threads of this process, and of the worker processes it starts, sleep
    between calls unless the user chose (`OMP_WAIT_POLICY`). A search makes many small
    batched kNN calls with Python work in between; OpenMP threads (FAISS, numpy's BLAS) that
    spin between them take the cores that work needs: the seed tutorial search took 4x as
    long on a busy 2-core machine. Set before any OpenMP runtime starts (importing emb_opt
    changes no environment variable: a library user sets it, see docs/executors.md)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _resume_hint(args: argparse.Namespace, error: BaseException | None = None) -> str:
    """The advice to resume, only where `--resume` can continue: `emb-opt run` stopped
    with finished iterations checkpointed in its run directory; after a call's deadline, with
    a longer one (the executor block may change on `--resume`)."""
    from .rundir import RunDirectory

    directory = getattr(args, "run_directory", None)
    if directory is None or not RunDirectory(directory).has_log():
        return ""
    causes: list[BaseException] = []
    while error is not None and len(causes) < 10:
        causes.append(error)
        error = error.__cause__
    if any(isinstance(cause, CallTimedOut) for cause in causes):
        return "; continue with --resume, with a longer executor.timeout if calls need it"
    return "; continue with --resume"


def _failed(args: argparse.Namespace, message: str, code: int) -> int:
    if args.debug:
        print(mask_secrets(traceback.format_exc()), end="", file=sys.stderr)
    line = re.sub(r"\s*\n\s*", " ", mask_secrets(message).strip())
    print("emb-opt: " + line, file=sys.stderr)
    return code
