"""`emb-opt run`: a configured search, checkpointed after every iteration, resumable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config import RunConfig, build_run
from ..errors import SearchAborted
from ..log import SearchLog
from .outputs import run_figures, write_results
from .plots import write_plots
from .progress import Progress
from .rundir import RunDirectory


def execute(
    config: RunConfig, raw: dict[str, Any], output: Path, resume: bool = False, quiet: bool = False
) -> SearchLog:
    """Run (or continue) the search of `config` in `output`; write results, plots, manifest."""
    directory = RunDirectory(output)
    directory.claim(raw, resume)
    run = build_run(config)
    try:
        log = directory.load_log() if resume else SearchLog(pending=run.start_batch())
        directory.start_checkpoints(log)  # even a kill during the first iteration is resumable
        progress = Progress(config.stop.iterations, quiet)

        def after_iteration(current: SearchLog) -> None:
            directory.checkpoint(current)
            progress.update(current)

        remaining = max(0, config.stop.iterations - log.counters.iterations)
        if log.pending is not None and log.pending.valid_queries() and remaining:
            try:
                _, log = run.runner.search(
                    None,
                    remaining,
                    log=log,
                    verbose=False,
                    stop=run.stop,
                    on_iteration=after_iteration,
                )
            except SearchAborted as error:
                directory.checkpoint(error.log)
                directory.write_manifest({"status": f"failed: {error}", **run_figures(error.log)})
                raise
            finally:
                progress.finish()
        write_results(log, directory.path)
        write_plots(log, directory.path)
        directory.write_manifest({"status": "finished", **run_figures(log)})
        return log
    finally:
        run.close()
