"""`emb-opt ask`, `tell` and `status`: a search scored from outside, one round at a time.

The run directory is the only state, so rounds may be days, processes and machines apart:
the config as written (`config.yaml`) and the log. The open iteration (the items asked, the
files they went out in, the scores told so far) is the annex of the log's last checkpoint, so
the one line a command appends is its commit point: a command that dies leaves the run as it
was before or after it, never between. (Runs of earlier versions kept it in `ask/open.json`,
which names the checkpoint it belongs to; it is read until the next command saves.)
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from .. import formats
from ..asktell import Answers, Asked, AskTell, SavedIteration
from ..atomic import write_atomically
from ..config import RunConfig, load_config, validate
from ..config.loading import read_yaml
from ..errors import ConfigError
from ..log import SearchLog
from ..masking import literal_secrets
from ..schemas import Item
from ..scorefile import (
    SHOWN,
    Problems,
    first_row_number,
    open_rows,
    parse_row,
    problems_text,
    row_id,
    shown,
)
from .lock import ASK_TELL_WAIT
from .outputs import run_figures
from .rundir import RunDirectory
from .session import Loaded, Opening, RunSession
from .source_status import source_status

CONFIG, OPEN, ANNEX = "config.yaml", Path("ask") / "open.json", "open_iteration"
RUN_ID = "run_id"  # the manifest's key for the id its plates carry in their `run` column
CONFIG_FILE = "config_file"  # the manifest's field naming the config an ask started from
ASK = "emb-opt ask"


class Session(RunSession):
    """One ask or tell: the run directory it holds (see `RunSession`), the log and the open
    iteration (`search`, `handed`: which file each asked id went out in)."""

    @classmethod
    def of(cls, target: Path, command: str, wait: float, accept_changed_data: bool) -> Session:
        """`command` ("emb-opt ask", "emb-opt tell") on `target`: a run directory, or (`ask`)
        the config file of a run to start, or to go on with a changed stop block."""
        from_config = target.is_file()
        if from_config and command != ASK:
            raise ConfigError(
                f"{target} is a file; give the run directory (the config's output.dir), "
                "which `emb-opt ask CONFIG` made"
            )
        config: Loaded | Callable[[], Loaded]
        if from_config:
            config = load_config(target)
            _refuse_literal_secrets(config[1], target)
            _refuse_scored(config[0], target)
            directory = RunDirectory(Path(config[0].output.dir))
            fields = {"base": str(target.absolute().parent), CONFIG_FILE: str(target.absolute())}
        else:
            _refuse_no_run(target)
            directory, config, fields = RunDirectory(target), partial(_run_config, target), {}
        opening = Opening(
            command,
            wait,
            config_folder(target),
            config,
            hint=str(directory.path),
            accept_changed_data=accept_changed_data,
            status=None,
            fields=fields,
        )
        session = cls.open(directory, opening)
        try:
            if from_config:  # the run's config.yaml, once the log it belongs to is on disk
                text = yaml.safe_dump(session.raw, sort_keys=False)
                write_atomically(session.directory.path / CONFIG, text)
            session._start_search()
        except BaseException:
            session.close()
            raise
        return session

    def _start_search(self) -> None:
        """The search of the log, with the open iteration its last checkpoint holds; the
        run (its source) is built when the search needs it."""
        opened = _opened(self.directory, self.directory.sequence, self.directory.annex)
        state = None if opened is None else opened["state"]
        self.search = AskTell.resume(lambda: self.run.runner, self.log, self.stop, state)
        self.handed: dict[str, str] = {} if opened is None else opened["handed"]

    def save(self) -> None:
        """Keep what this command did: one checkpoint, with the open iteration (if any)."""
        state = self.search.state()
        opened = None if state is None else {"state": state, "handed": self.handed}
        self.directory.checkpoint(self.search.log, {ANNEX: opened})
        self.directory.sync()
        (self.directory.path / OPEN).unlink(missing_ok=True)  # superseded by the annex
        log, stopped, told = self.search.log, self.search.stopped, self.search.told_items()
        self.write_outputs(log, stopped, told)
        status = "finished" if stopped else f"waiting for {len(self.search.waiting())} scores"
        self.write_status(log, status, stopped, told, search_seconds=self._search_seconds())

    def _search_seconds(self) -> float:
        """The run's search time: the wall time of every ask and tell that changed it, this
        one so far included (not the time its items waited for scores outside)."""
        before = (self.directory.manifest() or {}).get("search_seconds") or 0.0
        return float(before) + self.work_seconds()


def _run_config(target: Path) -> Loaded:
    """The config of the run in directory `target` (its `config.yaml`)."""
    raw = read_yaml(target / CONFIG)
    config = validate(raw, str(target / CONFIG), config_folder(target))
    _refuse_scored(config, target)
    return config, raw


def _refuse_scored(config: RunConfig, target: Path) -> None:
    """A ConfigError unless the scores of `config` come from outside."""
    if not config.score.external:
        raise ConfigError(
            f"{target}: score.external is not true; a config with a score function runs "
            "with `emb-opt run`"
        )


def _refuse_no_run(target: Path) -> None:
    """A ConfigError unless `target` is the directory of an ask/tell run, naming the command
    that starts or continues one there."""
    if (target / CONFIG).is_file():
        return
    directory = RunDirectory(target)
    manifest = directory.manifest() if target.is_dir() else None
    score = (manifest or {}).get("config", {}).get("score")
    if manifest is not None and not (isinstance(score, dict) and score.get("external")):
        raise ConfigError(
            f"{target} is the directory of an `emb-opt run`, not an ask/tell run; "
            f"see it with `emb-opt inspect {target}`"
        )
    if not target.exists():
        problem = "no such directory"
    elif manifest is None:
        problem = f"{CONFIG} is missing"
    else:  # killed before its first checkpoint, or before it wrote config.yaml
        problem = f"the `emb-opt ask` that started it stopped before it wrote {CONFIG}"
    command = f"emb-opt ask {(manifest or {}).get(CONFIG_FILE, 'CONFIG')}"
    verb = "continue it" if directory.has_log() else "start it"
    raise ConfigError(f"{target} holds no ask/tell run ({problem}); {verb} with `{command}`")


def config_folder(target: Path) -> Path:
    """The folder of the config of `target` (a config file or its run directory): relative
    paths and plugin modules are found from there."""
    if target.is_dir():
        return Path((RunDirectory(target).manifest() or {}).get("base", target))
    return target.absolute().parent


def ask(
    target: Path,
    n: int | None = None,
    format: str = "csv",
    wait: float = ASK_TELL_WAIT,
    accept_changed_data: bool = False,
) -> str:
    """Hand out up to `n` items waiting for scores in a new file; say where it is."""
    if format not in formats.format_names():
        known = ", ".join(formats.format_names())
        raise ConfigError(f"--format must be one of {known}, got {format!r}")
    if n is not None and n < 1:
        raise ConfigError(f"--n must be a positive number of items, got {n}")
    with Session.of(target, ASK, wait, accept_changed_data) as session:
        waiting = session.search.ask()
        fresh = [asked for asked in waiting if asked.id not in session.handed][:n]
        if fresh:
            path = _new_plate(session, format)
            _write_asked(path, fresh, _run_id(session.directory))
            session.handed.update(dict.fromkeys((a.id for a in fresh), path.name))
        session.save()
        if fresh:
            return str(path)
        if waiting:
            return f"all {len(waiting)} waiting items are out already (emb-opt status)"
        return f"the search has stopped: {session.search.stopped}"


def _run_id(directory: RunDirectory) -> str:
    """The id of the run in `directory` that its plates carry (a run that has none, started
    by an earlier emb_opt, is given one now)."""
    found = (directory.manifest() or {}).get(RUN_ID)
    if not isinstance(found, str):
        found = uuid.uuid4().hex[:12]
        directory.write_manifest({RUN_ID: found})
    return found


def _new_plate(session: Session, format: str) -> Path:
    """A plate file name of the open iteration no file has (one an ask wrote before it was
    killed, say), so a plate that may be out is never overwritten."""
    iteration = session.search.log.counters.iterations
    count = len(set(session.handed.values()))
    while True:
        path = session.directory.path / "ask" / f"iteration-{iteration}-{count}.{format}"
        if not any(path.parent.glob(f"iteration-{iteration}-{count}.*")):
            return path
        count += 1


def tell(
    run: Path,
    scores: Path | None,
    partial: bool = False,
    proceed: bool = False,
    yes: bool = False,
    wait: float = ASK_TELL_WAIT,
    accept_changed_data: bool = False,
    replicate: bool = False,
) -> str:
    """Apply a scores file (id,score[,valid,reason]); with `proceed`, then give up the items
    still waiting (invalid: no score was told) and finish the iteration (`yes`: even when
    that ends the search or gives up the whole iteration). With `replicate`, the file holds
    further scores of items scored earlier instead (see `_replicate`). Say what is left."""
    if replicate and (scores is None or proceed):
        raise ConfigError("tell --replicate needs a scores file and takes no --proceed")
    if scores is None and not proceed:
        raise ConfigError("tell needs a scores file (or --proceed to go on without the rest)")
    with Session.of(run, "emb-opt tell", wait, accept_changed_data) as session:
        if scores is None:
            return _proceed(session, yes)
        if replicate:
            return _replicate(session, scores, partial)
        return _tell(session, scores, partial, proceed, yes)


def _tell(session: Session, scores: Path, partial: bool, proceed: bool, yes: bool) -> str:
    """Apply the rows of `scores`: answers of waiting items, late ones of items given up
    earlier; rows told before with the same answer change nothing. A ConfigError naming the
    bad rows, with nothing changed, unless `partial`. Rows are sorted as they are read:
    memory grows with the items asked, not with the file."""
    search = session.search
    answers, problems = Answers(), Problems()
    place, known = search.sorter(answers), search.known_ids()
    for number, row in _rows(session, scores):
        (id, value, reason), problem = parse_row(row, None, row_id(row, known))
        problem = problem or place(id, value, reason)
        if problem:
            problems.add(number, problem)
    listing = _listing(session, scores, problems)
    if problems and not partial:
        hint = ""
        if any("is not waiting for a score" in problem for problem in problems.first):
            hint = f" (scores you had before the search: start: {{scores: {scores}}})"
        raise ConfigError(
            f"{scores}: {listing}; nothing was told (--partial applies the good rows){hint}"
        )
    told = len(answers.new) + len(answers.late)
    same = f"; {answers.same} row(s) told before, unchanged" if answers.same else ""
    skipped = f"; skipped {listing}" if problems else ""
    if not told:
        if answers.same:
            return f"nothing new: told 0 score(s){same}{skipped}"
        raise ConfigError(f"{scores}: no row holds a score to tell")
    late = f" ({len(answers.late)} late, for items given up before)" if answers.late else ""
    was_open = search.step is not None and bool(answers.new)
    left = search.take(answers)
    said = f"told {told} score(s){late}"
    if left and proceed:
        return f"{said}{same}{skipped}; " + _proceed(session, yes)
    session.save()
    if not was_open:
        return said + same + skipped
    where = f"{left} item(s) still waiting" if left else "iteration done"
    return f"{said}; {where}{same}{skipped}"


def _replicate(session: Session, scores: Path, partial: bool) -> str:
    """Add the scores of a file as replicates of items scored valid earlier (an id may
    repeat; the first score of an item given up earlier is its late score); a row marked
    invalid is not counted (the item keeps the mean of its valid scores). A ConfigError
    naming the bad rows, with nothing changed, unless `partial`."""
    search = session.search
    ids = search.replicable()
    valid: list[tuple[str, float]] = []
    invalid, problems = 0, Problems()
    for number, row in _rows(session, scores):
        (id, score, _), problem = parse_row(row, None, row_id(row, ids))
        if not problem and id not in ids:
            problem = f"id {shown(id)} has no valid score to replicate"
        if problem:
            problems.add(number, problem)
        elif score is None:
            invalid += 1
        else:
            valid.append((id, score))
    listing = _listing(session, scores, problems)
    if problems and not partial:
        raise ConfigError(
            f"{scores}: {listing}; nothing was replicated (--partial applies the good rows)"
        )
    if not valid and not invalid:
        raise ConfigError(f"{scores}: no row holds a score to replicate")
    if valid:
        replicated, values = zip(*valid)
        search.replicate(replicated, values)
        session.save()
    dropped = f"; {invalid} invalid row(s) not counted" if invalid else ""
    skipped = f"; skipped {listing}" if problems else ""
    return f"added {len(valid)} replicate score(s){dropped}{skipped}"


def _rows(session: Session, scores: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """The rows of a scores file with their numbers, as they are read; a ConfigError at the
    first row of a plate another run asked for (its `run` column names that run)."""
    ours = (session.directory.manifest() or {}).get(RUN_ID)
    with open_rows(scores) as rows:
        for number, row in enumerate(rows, first_row_number(scores)):
            theirs = str(row.get("run") or "").strip()
            if theirs and theirs != ours:
                this = f"run {ours}" if ours else "a run of an earlier emb_opt (no run id)"
                raise ConfigError(
                    f"{scores}: row {number} is from a plate of run {theirs}, but "
                    f"{session.directory.path} is {this}; tell it to the run that asked for "
                    "it; nothing was told"
                )
            yield number, row


def _listing(session: Session, scores: Path, problems: Problems) -> str:
    """The problems of rows as a message lists them."""
    return problems_text(problems.first, _list_problems(session, scores, problems), problems.count)


def _list_problems(session: Session, scores: Path, problems: Problems) -> Path | None:
    """The first LISTED problems and how many there are in a file of the run's ask folder,
    when more than a message lists."""
    if problems.count <= SHOWN:
        return None
    path = (
        session.directory.path
        / "ask"
        / f"problems-{datetime.now(timezone.utc):%Y%m%dT%H%M%S%fZ}.txt"
    )
    more = problems.count - len(problems.first)
    rest = f"and {more:,} more row(s) with a problem, not listed\n" if more else ""
    write_atomically(path, f"{scores}\n" + "".join(f"{line}\n" for line in problems.first) + rest)
    return path


def _proceed(session: Session, yes: bool) -> str:
    search = session.search
    if search.step is None:
        raise ConfigError(f"{session.directory.path}: nothing is waiting for scores; ask first")
    waiting, told = len(search.waiting()), len(search.told)
    iteration = search.log.counters.iterations
    search.proceed()
    ends = search.stopped
    if not yes and (ends or not told):
        whole = f"give up all {waiting} item(s) of iteration {iteration}, none scored"
        what = [*([] if told else [whole]), *([f"end the search ({ends})"] if ends else [])]
        raise ConfigError(
            f"--proceed would {' and '.join(what)}; nothing was changed; add --yes to do it"
        )
    session.save()
    return f"gave up {waiting} item(s) without a score; iteration done"


def status(run: Path) -> str:
    """What the run is waiting for, what was told and what failed. It reads only the run
    directory: no source, no database, no lock (a command changing the run meanwhile
    commits whole, so this shows the run before or after it)."""
    _refuse_no_run(run)
    directory = RunDirectory(run)
    log, sequence, annex = directory.read_checkpoint()
    opened = _opened(directory, sequence, annex)
    saved = SavedIteration.read(opened["state"]) if opened is not None else None
    handed: dict[str, str] = opened["handed"] if opened is not None else {}
    told = saved.told_items() if saved is not None else []
    waiting = saved.waiting() if saved is not None else []
    figures = run_figures(log, told)
    counters = figures["counters"]
    failures = [*log.failures(), *(item for item in told if item.internal.removed)]
    facts = [
        ("run", os.path.normpath(directory.path.absolute())),
        ("iteration", log.counters.iterations),
        ("score calls", counters["score_calls"]),
        ("told", f"{len(told)} of {len(saved.ids)}" if saved is not None else "-"),
        ("known items", log.counters.known_scores),
        ("direction", log.direction.name),
        ("best score", "-" if figures["best_score"] is None else figures["best_score"]),
        ("stopped", (directory.manifest() or {}).get("stopped", "-")),
        ("waiting", len(waiting)),
        ("out in", ", ".join(sorted({handed[i] for i in waiting if i in handed})) or "-"),
        ("not out yet", sum(i not in handed for i in waiting)),
        ("failed", _failures(failures)),
        ("given up", _given_up(counters["given_up"])),
        ("results", _result_count(log, told)),
        ("source", source_status(directory.manifest() or {})),
    ]
    width = max(len(name) for name, _ in facts)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in facts)


def _result_count(log: SearchLog, told: list[Item]) -> int:
    """How many rows the results hold (`result_rows`), without building them."""
    valid = sum(not item.internal.removed and item.score is not None for item in log.items.values())
    return valid + len(told) + len(log.failures())


def _opened(
    directory: RunDirectory, sequence: int, annex: dict[str, Any] | None
) -> dict[str, Any] | None:
    """The open iteration the last checkpoint (number `sequence`, with `annex`) holds."""
    if annex is None:  # a line an earlier emb_opt wrote
        return _open_of_an_earlier_version(directory.path / OPEN, sequence)
    opened: dict[str, Any] | None = annex.get(ANNEX)
    return opened


def _failures(items: list[Item]) -> str:
    """The failed items as status shows them: how many, and the first few with reasons."""
    if not items:
        return "0"
    shown = ", ".join(f"{item.id} ({item.internal.removal_reason})" for item in items[:SHOWN])
    more = (
        f" and {len(items) - SHOWN} more (results.jsonl lists them)" if len(items) > SHOWN else ""
    )
    return f"{len(items)}: {shown}{more}"


def _given_up(count: int) -> str:
    """The given-up items as status shows them."""
    return f"{count} (a late score is still taken: emb-opt tell)" if count else "0"


def _refuse_literal_secrets(raw: dict[str, Any], target: Path) -> None:
    """The run directory keeps the config as written (`config.yaml`): secrets must come from
    the environment, as `${VAR}`, so that they are not written there."""
    found = literal_secrets(raw)
    if found:
        raise ConfigError(
            f"{target}: {found[0]} holds a secret written out; an ask/tell run stores its "
            "config, so give it as an environment variable reference, e.g. ${MY_TOKEN}"
        )


def _write_asked(path: Path, asked: list[Asked], run_id: str) -> None:
    """The items to score, with empty `score` and `reason` columns for whoever scores them
    and the id of the run asking in a `run` column (`tell` refuses a plate of another run),
    in the format of `path`'s suffix (`emb_opt.formats`: CSV and JSON lines keep metadata in
    one column, Parquet and xlsx a column per key). Any text round-trips; an id or item a
    format cannot hold (a lone surrogate in UTF-8, a control character in xlsx) is refused."""
    none = [None] * len(asked)
    typed = formats.format_of(path).typed  # ids as the database gave them: typed columns
    columns = [
        formats.Column("id", "id", [_as_given(a.id) if typed else a.id for a in asked], True),
        formats.Column("item", "value", [a.item for a in asked], exact=True),
        formats.Column("metadata", "metadata", [a.metadata for a in asked]),
        formats.Column("score", "float", none),
        formats.Column("reason", "text", none),
        formats.Column("run", "text", [run_id] * len(asked)),
    ]
    path.parent.mkdir(exist_ok=True)
    formats.write(path, formats.Table(columns, hint="ask with --format jsonl"))


def _open_of_an_earlier_version(path: Path, sequence: int) -> dict[str, Any] | None:
    """The open iteration `ask/open.json` holds, if it belongs to checkpoint `sequence`
    (a run an earlier emb_opt wrote; else it was superseded or never checkpointed)."""
    if not path.exists():
        return None
    saved = json.loads(path.read_text())
    return saved if saved["sequence"] == sequence else None


def _as_given(id: str) -> int | str:
    """An asked id as the database gave it: an integer where its text is one."""
    return int(id) if re.fullmatch(r"-?[0-9]+", id) and str(int(id)) == id else id
