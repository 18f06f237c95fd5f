"""One command's hold on a run directory, the same for `emb-opt run` and for ask/tell.

A session builds the run, takes the directory's lock, claims the directory (the config and
the source data checked against its manifest), resumes or starts the log and checkpoints
it, and writes the outputs and the manifest's status; `close` releases the lock and the
run's backend. The commands differ only in who scores: `run` calls the score function,
`ask`/`tell` hand the items out (see `emb_opt.asktell`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from ..config import Run, RunConfig, build_run
from ..log import SearchLog
from ..schemas import Item
from .lock import holding
from .outputs import run_figures, write_results
from .plots import write_plots
from .rundir import RunDirectory
from .sourcedata import (
    SourceDataChanged,
    cached_fingerprint,
    files_identity,
    keep_fingerprint,
    source_data_record,
    source_fingerprint,
)

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self from Python 3.11


class RunSession:
    """The run of `directory` as one command sees it; `build` the run, `lock` the directory,
    `claim` it, `open_log`, then checkpoint, `write_outputs` and `write_status`."""

    def __init__(self, directory: RunDirectory) -> None:
        self.directory = directory
        self._resources = ExitStack()
        self._source_data: dict[str, dict[str, Any]] | None = None
        self._keep_under: str | None = None  # the identity a new fingerprint is kept under
        self._since = time.perf_counter()  # when the work not yet counted began

    def work_seconds(self) -> float:
        """Wall seconds this command worked since it began or since the last call (the wait
        for the lock not counted)."""
        now = time.perf_counter()
        seconds, self._since = now - self._since, now
        return seconds

    def build(self, config: RunConfig) -> Run:
        """Build the run of `config` (opening its source); `close` closes it."""
        self.run = build_run(config)
        self._resources.callback(self.run.close)
        return self.run

    def lock(self, command: str, wait: float) -> None:
        """Hold the directory's lock (which makes the directory) until `close`, waiting
        `wait` seconds at most for it."""
        began = time.perf_counter()
        self._resources.enter_context(holding(self.directory.path, command, wait))
        self._since += time.perf_counter() - began  # waiting is no work

    def read_source_data(self) -> dict[str, dict[str, Any]]:
        """The fingerprint of the source data (read once; of unchanged files, the one the
        directory keeps)."""
        if self._source_data is None:
            config = self.run.config.source
            identity = files_identity(config)
            kept = cached_fingerprint(self.directory.path, identity)
            self._keep_under = identity if kept is None else None
            before = (self.directory.manifest() or {}).get("source_data")
            self._source_data = kept or source_fingerprint(config, self.run.source, before)
        return self._source_data

    def claim(
        self,
        raw: dict[str, Any],
        fresh: SearchLog | None,
        hint: str,
        accept_changed_data: bool,
        status: str | None = "running",
        **fields: Any,
    ) -> None:
        """Make the directory this run's, holding its lock: a new run's when `fresh` is its
        log, else the one there goes on. The config must be the manifest's (but for its stop
        block) and the source data unchanged, unless `accept_changed_data` (the manifest
        records it; `hint` says how to go on). `status` starts the manifest (None: keep it),
        with `fields` (the first write of the manifest holds them)."""
        manifest = self.directory.manifest() if fresh is None else None
        try:
            record = source_data_record(
                manifest, raw, self.read_source_data(), hint, accept_changed_data
            )
        except SourceDataChanged as refused:  # `status` says what the last check found
            self.directory.write_manifest({"source_checked": refused.checked})
            raise
        self.directory.claim(raw, resume=fresh is None, status=status, **fields)
        self.directory.write_manifest(record)
        keep_fingerprint(self.directory.path, self._keep_under, record["source_data"])

    def open_log(self, fresh: SearchLog | None) -> SearchLog:
        """The log to go on with (`fresh`, else the directory's), checkpointed from now on:
        even a command killed during the next step leaves it resumable."""
        log = fresh if fresh is not None else self.directory.resume_log()
        self.directory.start_checkpoints(log)
        return log

    def write_outputs(self, log: SearchLog, stopped: str | None, told: Sequence[Item] = ()) -> None:
        """The results (with `told`, the answers of an open ask/tell iteration so far), and
        the plots once the search has `stopped`."""
        write_results(log, self.directory.path, told)
        if stopped is not None:
            write_plots(log, self.directory.path)

    def write_status(
        self,
        log: SearchLog,
        status: str,
        stopped: str | None,
        told: Sequence[Item] = (),
        **fields: Any,
    ) -> None:
        """The manifest's status, why the search stopped ("-": it goes on), the log's figures
        (with `told`, as for `write_outputs`) and `fields` (which take precedence)."""
        self.directory.write_manifest(
            {"status": status, "stopped": stopped or "-", **run_figures(log, told), **fields}
        )

    def close(self) -> None:
        self._resources.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
