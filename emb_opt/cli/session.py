"""One command's hold on a run directory, the same for `emb-opt run`, `ask` and `tell`.

`RunSession.open` runs one lifecycle, in this order, for every command that changes a run:

1. the config's folder goes on the import path (plugins beside the config), until `close`;
2. a config from a file must fit the directory (`RunDirectory.refuse_unfit`);
3. a run without a checkpoint yet is built before the lock, which makes the directory: its
   source opened, its log started (`start.scores` read) and its data fingerprinted, so a
   config that cannot be built, or data that cannot be read, leaves no directory;
4. the directory's lock, held until `close`;
5. the config: the file's, else the directory's copy, read holding the lock;
6. the claim: the directory is this run's, the config the manifest's but for the blocks a
   run may change, and the source data unchanged (unless accepted);
7. the log, resumed or started, checkpointed from then on.

The source is opened when something first needs it (`run`): a config from a file opens it
before the claim, so its data is checked before anything is written. A command that goes on
with the directory's own config (`ask RUN`, `tell RUN`) opens it only when the search needs
it (a round begins or ends), and its data is checked then: handing out the items of an open
round, or taking scores that leave it open, reads no data. `close` releases the source, the
lock and the import path, in that order.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import Run, RunConfig, build_run, config_folder_on_path
from ..config.build import stop_rule
from ..log import SearchLog
from ..schemas import Item
from ..stopping import StopRule
from .interrupts import describe
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

Loaded = tuple[RunConfig, dict[str, Any]]  # a validated config and the document it came from


@dataclass(frozen=True)
class Opening:
    """What a command opens a run directory for.

    `command` is what the lock's note says ("emb-opt tell"); `wait` the seconds it waits for
    the lock; `folder` the config's folder, put on the import path (None: none is). `config`
    is a config from a file, or how to read the directory's own (called holding the lock).
    `resume`: the run must (True) or must not (False) have a checkpoint (None: either).
    `hint` says how to go on in a refusal of changed data (`accept_changed_data` accepts
    it). `status` is a resumed run's status from now (None: it keeps its own); a command
    that sets it also records what stopped it while opening. A new run's first manifest
    holds `fields`.
    """

    command: str
    wait: float
    folder: Path | None
    config: Loaded | Callable[[], Loaded]
    resume: bool | None = None
    hint: str = "--resume"
    accept_changed_data: bool = False
    status: str | None = "running"
    fields: dict[str, Any] = field(default_factory=dict)


class RunSession:
    """The run of one directory as one command sees it: `open` it, then checkpoint,
    `write_outputs` and `write_status`; `close` (or leave the `with` block) when done."""

    def __init__(self, directory: RunDirectory) -> None:
        self.directory = directory
        self._resources = ExitStack()
        self._run: Run | None = None
        self._checking: tuple[str, bool] | None = None  # (hint, accept), once claimed
        self._source_data: dict[str, dict[str, Any]] | None = None
        self._keep_under: str | None = None  # the identity a new fingerprint is kept under
        self._since = time.perf_counter()  # when the work not yet counted began

    @classmethod
    def open(cls, directory: RunDirectory, opening: Opening) -> Self:
        """The session of `directory`, opened as the module docstring says."""
        session = cls(directory)
        try:
            session._open(opening)
        except BaseException:
            session.close()
            raise
        return session

    def _open(self, opening: Opening) -> None:
        if opening.folder is not None:
            self._resources.enter_context(config_folder_on_path(opening.folder))
        fresh = None
        if not callable(opening.config):
            self.directory.refuse_unfit(bool(opening.resume))
            self._use(*opening.config)
            if not self.directory.has_log():  # step 3: a new run
                fresh = self.run.start_log()
                self.read_source_data()
        self._lock(opening.command, opening.wait)
        if callable(opening.config):
            self._use(*opening.config())
        elif self._run is None:
            self._build()  # before the claim, which checks its data
        started = self.directory.has_log()  # (another command may have started it meanwhile)
        resume = started if opening.resume is None else opening.resume
        if resume:
            fresh = None
        elif fresh is None:
            fresh = self.run.start_log()
        self._claim_directory(fresh, opening, resume)
        try:
            self.log = self._open_log(fresh)
        except BaseException as error:
            if opening.status is not None:
                self.directory.write_manifest({"status": describe(error)})
            raise

    def _use(self, config: RunConfig, raw: dict[str, Any]) -> None:
        self.config, self.raw = config, raw

    @property
    def run(self) -> Run:
        """The run: its source, runner and stop rule (built at the first use)."""
        return self._run if self._run is not None else self._build()

    def _build(self) -> Run:
        """Build the run (opening its source); once the directory is claimed, check its
        source data now."""
        self._run = build_run(self.config)
        self._resources.callback(self._run.close)
        if self._checking is not None:
            self._keep(self._source_record(self.directory.manifest(), *self._checking))
        return self._run

    @property
    def stop(self) -> StopRule:
        """When the search stops (known without building the run)."""
        return self._run.stop if self._run is not None else stop_rule(self.config)

    def work_seconds(self) -> float:
        """Wall seconds this command worked since it began or since the last call (the wait
        for the lock not counted)."""
        now = time.perf_counter()
        seconds, self._since = now - self._since, now
        return seconds

    def _lock(self, command: str, wait: float) -> None:
        """Hold the directory's lock (which makes the directory) until `close`, waiting
        `wait` seconds at most for it."""
        began = time.perf_counter()
        self._resources.enter_context(holding(self.directory.path, command, wait))
        self._since += time.perf_counter() - began  # waiting is no work

    def read_source_data(self) -> dict[str, dict[str, Any]]:
        """The fingerprint of the source data (read once; of unchanged files, the one the
        directory keeps)."""
        if self._source_data is None:
            config = self.config.source
            identity = files_identity(config)
            kept = cached_fingerprint(self.directory.path, identity)
            self._keep_under = identity if kept is None else None
            before = (self.directory.manifest() or {}).get("source_data")
            self._source_data = kept or source_fingerprint(config, self.run.source, before)
        return self._source_data

    def _claim_directory(self, fresh: SearchLog | None, opening: Opening, resume: bool) -> None:
        """Make the directory this run's, holding its lock: a new run's when `fresh` is its
        log, else the one there goes on (`resume`). The config must be the manifest's (but
        for the blocks a run may change) and the source data, if open, unchanged."""
        checking = (opening.hint, opening.accept_changed_data)
        manifest = self.directory.manifest() if fresh is None else None
        record = None if self._run is None else self._source_record(manifest, *checking)
        status = "running" if fresh is not None else opening.status
        self.directory.claim(self.raw, resume, status=status, **opening.fields)
        self._checking = checking
        if record is not None:
            self._keep(record)

    def _source_record(
        self, manifest: dict[str, Any] | None, hint: str, accept: bool
    ) -> dict[str, Any]:
        """The manifest's record of the source data, checked against `manifest` (see
        `source_data_record`); refused, the manifest says what the check found."""
        try:
            return source_data_record(manifest, self.raw, self.read_source_data(), hint, accept)
        except SourceDataChanged as refused:  # `status` says what the last check found
            self.directory.write_manifest({"source_checked": refused.checked})
            raise

    def _keep(self, record: dict[str, Any]) -> None:
        """Write the record of the source data (and keep the fingerprint of its files)."""
        self.directory.write_manifest(record)
        keep_fingerprint(self.directory.path, self._keep_under, record["source_data"])

    def _open_log(self, fresh: SearchLog | None) -> SearchLog:
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
