"""`emb-opt run`: a configured search, checkpointed after every iteration, resumable."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..config import RunConfig
from ..errors import ConfigError, SearchAborted
from ..log import SearchLog
from .interrupts import describe
from .lock import RUN_WAIT
from .outputs import LiveOutputs
from .progress import Progress
from .rundir import RunDirectory
from .session import RunSession
from .stdout import say


def execute(
    config: RunConfig,
    raw: dict[str, Any],
    output: Path,
    resume: bool = False,
    quiet: bool = False,
    wait: float = RUN_WAIT,
    accept_changed_data: bool = False,
) -> SearchLog:
    """Run (or continue) the search of `config` in `output`; write results, plots, manifest.
    Another command writing `output` is waited for `wait` seconds at most.

    `--resume` refuses source data that changed since the run started, unless
    `accept_changed_data` (the manifest records it).

    Whatever stops it early, the manifest's status says what (e.g. "interrupted:
    KeyboardInterrupt"), the finished iterations are checkpointed and on disk, and
    `--resume` continues it."""
    if config.score.external:
        raise ConfigError(
            "score.external: this config's scores come from outside; hand out items with "
            "`emb-opt ask` and give their scores with `emb-opt tell`"
        )
    with RunSession(RunDirectory(output)) as session:
        run = session.build(config)  # opens the source: a config that cannot leaves no directory
        fresh = None if resume else run.start_log()  # reads start.scores: no directory yet
        session.directory.refuse_unfit(resume)  # before the lock (and maybe the directory) is made
        session.read_source_data()  # data that cannot be read leaves no directory either
        session.lock("emb-opt run --resume" if resume else "emb-opt run", wait)
        session.claim(raw, fresh, "--resume", accept_changed_data)
        say(f"run directory: {session.directory.path.absolute()}")
        return _run(session, fresh, quiet)


def _run(session: RunSession, fresh: SearchLog | None, quiet: bool) -> SearchLog:
    """Search in the claimed directory (`fresh`: a new run's log, else the one there);
    whatever stops it, the manifest says what."""
    directory, log = session.directory, None
    try:
        log = session.open_log(fresh)  # even a kill during the first iteration is resumable
        return _search(session, log, quiet)
    except SearchAborted as error:  # the half-done iteration is dropped, as after a kill
        figures = directory.keep_finished(error.log)
        directory.write_manifest({"status": f"failed: {error}", **figures})
        raise
    except BaseException as error:
        figures = {} if log is None else directory.keep_finished(log)
        directory.write_manifest({"status": describe(error), **figures})
        raise
    finally:
        directory.sync()


def _search(session: RunSession, log: SearchLog, quiet: bool) -> SearchLog:
    """The iterations the log still lacks, checkpointed one by one; then the outputs."""
    run, directory = session.run, session.directory
    config = run.config
    progress = Progress(run.stop, quiet)
    timings = {"checkpoints": 0.0, "outputs": 0.0}
    live = LiveOutputs(directory.path, directory.write_manifest)

    def after_iteration(current: SearchLog) -> None:
        began = time.perf_counter()
        directory.checkpoint(current)
        timings["checkpoints"] += time.perf_counter() - began
        began = time.perf_counter()
        live.update(current)
        timings["outputs"] += time.perf_counter() - began
        progress.update(current)

    if run.stop.reason(log) is None:  # a run interrupted after its stop rule ended it: no more
        try:  # the rule's cap counts the log's iterations: those of an earlier process too
            _, log = run.runner.search(
                None,
                config.stop.iterations,
                log=log,
                verbose=False,
                stop=run.stop,
                on_iteration=after_iteration,
            )
        finally:
            progress.finish()
    stopped = run.stop.reason(log)
    began = time.perf_counter()
    session.write_outputs(log, stopped)
    timings["outputs"] += time.perf_counter() - began
    session.write_status(log, "finished", stopped, timings=timings)
    progress.say(f"stopped after {log.counters.iterations} iterations: {stopped}")
    return log
