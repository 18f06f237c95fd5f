"""`emb-opt ask`, `tell` and `status`: a search scored from outside, one round at a time.

The run directory is the only state, so rounds may be days, processes and machines apart:
the config as written (`config.yaml`) and the log. The open iteration (the items asked, the
files they went out in, the scores told so far) is the annex of the log's last checkpoint, so
the one line a command appends is its commit point: a command that dies leaves the run as it
was before or after it, never between. (Runs of earlier versions kept it in `ask/open.json`,
which names the checkpoint it belongs to; it is read until the next command saves.)
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from ..asktell import Asked, AskTell
from ..atomic import write_atomically
from ..config import RunConfig, load_config, validate
from ..errors import ConfigError
from ..log import SearchLog
from ..masking import literal_secrets
from ..scorefile import (
    SHOWN,
    Answer,
    first_row_number,
    parse_row,
    problems_text,
    read_rows,
    row_id,
    shown,
)
from . import tables
from .lock import ASK_TELL_WAIT
from .manifest import MANIFEST
from .outputs import result_rows
from .rundir import RunDirectory
from .session import RunSession

CONFIG, OPEN, ANNEX = "config.yaml", Path("ask") / "open.json", "open_iteration"
ASK = "emb-opt ask"
FORMATS = ("csv", "parquet", "jsonl")


class Session(RunSession):
    """One command's view of an ask/tell run: the built run, its log and the open iteration.

    With a `command` ("emb-opt tell", ...) it holds the run directory's lock (waiting `wait`
    seconds at most for it) until `close` and may change the run; without, it only reads
    (what `status` does)."""

    def __init__(
        self,
        target: Path,
        command: str | None = None,
        wait: float = ASK_TELL_WAIT,
        accept_changed_data: bool = False,
    ) -> None:
        from_config = target.is_file()
        if from_config and command != ASK:
            raise ConfigError(
                f"{target} is a file; give the run directory (the config's output.dir), "
                "which `emb-opt ask CONFIG` made"
            )
        loaded = None
        if from_config:  # `ask CONFIG`: start its run, or go on with a changed stop block
            loaded = load_config(target)
            _refuse_literal_secrets(loaded[1], target)
            super().__init__(RunDirectory(Path(loaded[0].output.dir)))
        else:
            _refuse_no_run(target)
            super().__init__(RunDirectory(target))
        try:
            self._start(target, loaded, command, wait, accept_changed_data)
        except BaseException:
            self.close()
            raise

    def _start(
        self,
        target: Path,
        loaded: tuple[RunConfig, dict[str, Any]] | None,
        command: str | None,
        wait: float,
        accept_changed_data: bool,
    ) -> None:
        """Build the run (`loaded` from a config file, else from the run directory's copy),
        take the lock if `command` changes the run, claim the directory and open the log."""
        from_config = loaded is not None
        if loaded is not None:
            config, raw = loaded
            self.directory.refuse_unfit(resume=False)
        else:
            if command is not None:
                self.lock(command, wait)
            raw = yaml.safe_load((target / CONFIG).read_text())
            config = validate(raw, str(target / CONFIG), config_folder(target))
        if not config.score.external:
            raise ConfigError(
                f"{target}: score.external is not true; a config with a score function runs "
                "with `emb-opt run`"
            )
        self.config: RunConfig = config
        self.build(config)
        if command is None:
            self._start_search(*self.directory.read_checkpoint())
            return
        if from_config:  # only now: a config whose source cannot open leaves no directory
            self.lock(command, wait)
        started = self.directory.has_log()
        fresh = None if started else self.run.start_log()  # reads start.scores
        status = None if started else "running"
        self.claim(raw, fresh, str(self.directory.path), accept_changed_data, status)
        log = self.open_log(fresh)
        if from_config:  # the run's config.yaml, once the log it belongs to is on disk
            write_atomically(self.directory.path / CONFIG, yaml.safe_dump(raw, sort_keys=False))
            self.directory.write_manifest({"base": str(target.absolute().parent)})
        self._start_search(log, self.directory.sequence, self.directory.annex)

    def _start_search(self, log: SearchLog, sequence: int, annex: dict[str, Any] | None) -> None:
        """The search of `log`, with the open iteration its last checkpoint (number
        `sequence`, with `annex`) holds."""
        self.search = AskTell(self.run.runner, log=log, stop=self.run.stop)
        if annex is None:  # a line an earlier emb_opt wrote
            opened = _open_of_an_earlier_version(self.directory.path / OPEN, sequence)
        else:
            opened = annex.get(ANNEX)
        self.handed: dict[str, str] = {}
        if opened is not None:
            self.search.restore(opened["state"])
            self.handed = opened["handed"]

    def save(self) -> None:
        """Keep what this command did: one checkpoint, with the open iteration (if any)."""
        state = self.search.state()
        opened = None if state is None else {"state": state, "handed": self.handed}
        self.directory.checkpoint(self.search.log, {ANNEX: opened})
        self.directory.sync()
        (self.directory.path / OPEN).unlink(missing_ok=True)  # superseded by the annex
        log, stopped = self.search.log, self.search.stopped
        self.write_outputs(log, stopped)
        status = "finished" if stopped else f"waiting for {len(self.search.waiting())} scores"
        self.write_status(log, status, stopped, search_seconds=self._search_seconds())

    def _search_seconds(self) -> float:
        """The run's search time: the wall time of every ask and tell that changed it, this
        one so far included (not the time its items waited for scores outside)."""
        before = (self.directory.manifest() or {}).get("search_seconds") or 0.0
        return float(before) + self.work_seconds()


def _refuse_no_run(target: Path) -> None:
    """A ConfigError unless `target` is the directory of an ask/tell run."""
    if not (target / CONFIG).is_file():
        if (target / MANIFEST).is_file():
            raise ConfigError(
                f"{target} is the directory of an `emb-opt run`, not an ask/tell run; "
                f"see it with `emb-opt inspect {target}`"
            )
        problem = "no such directory" if not target.exists() else f"{CONFIG} is missing"
        raise ConfigError(
            f"{target} holds no ask/tell run ({problem}); start one with `emb-opt ask CONFIG`"
        )


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
    if format not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, got {format!r}")
    if n is not None and n < 1:
        raise ConfigError(f"--n must be a positive number of items, got {n}")
    with Session(target, ASK, wait, accept_changed_data) as session:
        waiting = session.search.ask()
        fresh = [asked for asked in waiting if asked.id not in session.handed][:n]
        if fresh:
            path = _new_plate(session, format)
            _write_asked(path, fresh)
            session.handed.update(dict.fromkeys((a.id for a in fresh), path.name))
        session.save()
        if fresh:
            return str(path)
        if waiting:
            return f"all {len(waiting)} waiting items are out already (emb-opt status)"
        return f"the search has stopped: {session.search.stopped}"


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
    with Session(run, "emb-opt tell", wait, accept_changed_data) as session:
        if scores is None:
            return _proceed(session, yes)
        if replicate:
            return _replicate(session, scores, partial)
        search = session.search
        good, skipped = _answers(session, scores, partial, {a.id for a in search.waiting()})
        ids, values, reasons = zip(*good)
        left = search.tell(list(ids), list(values), list(reasons))
        if left and proceed:
            return f"told {len(good)} score(s){skipped}; " + _proceed(session, yes)
        session.save()
        told = f"told {len(good)} score(s); {left} item(s) still waiting"
        return told + skipped if left else f"told {len(good)} score(s); iteration done" + skipped


def _replicate(session: Session, scores: Path, partial: bool) -> str:
    """Add the scores of a file as replicates of items scored valid earlier (an id may
    repeat); a row marked invalid is not counted (the item keeps the mean of its valid
    scores)."""
    search = session.search
    good, skipped = _answers(session, scores, partial, search.replicable(), replicate=True)
    valid = [(id, score) for id, score, _ in good if score is not None]
    if valid:
        ids, values = zip(*valid)
        search.replicate(ids, values)
        session.save()
    invalid = len(good) - len(valid)
    dropped = f"; {invalid} invalid row(s) not counted" if invalid else ""
    return f"added {len(valid)} replicate score(s){dropped}{skipped}"


def _answers(
    session: Session, scores: Path, partial: bool, ids: set[str], replicate: bool = False
) -> tuple[list[Answer], str]:
    """The (id, score, reason) rows of `scores` for the items `ids` (`replicate`: an id may
    repeat) and what to say of the rows skipped; a ConfigError naming the bad rows, with
    nothing changed, unless `partial`, or when no row is good."""
    rows = read_rows(scores)
    good, problems = [], []
    seen: set[str] | None = None if replicate else set()
    for number, row in enumerate(rows, first_row_number(scores)):
        answer, problem = _answer(row, ids, seen, replicate)
        if problem:
            problems.append(f"row {number}: {problem}")
        else:
            good.append(answer)
    listing = problems_text(problems, _list_problems(session, scores, problems))
    verb, done = ("replicate", "replicated") if replicate else ("tell", "told")
    if problems and not partial:
        hint = ""
        if not replicate and any(row_id(row) not in ids for row in rows):
            hint = f" (scores you had before the search: start: {{scores: {scores}}})"
        raise ConfigError(
            f"{scores}: {listing}; nothing was {done} (--partial applies the good rows){hint}"
        )
    if not good:
        raise ConfigError(f"{scores}: no row holds a score to {verb}")
    return good, f"; skipped {listing}" if problems else ""


def _list_problems(session: Session, scores: Path, problems: list[str]) -> Path | None:
    """All of `problems` in a file of the run's ask folder, when more than a message lists."""
    if len(problems) <= SHOWN:
        return None
    path = (
        session.directory.path
        / "ask"
        / f"problems-{datetime.now(timezone.utc):%Y%m%dT%H%M%S%fZ}.txt"
    )
    write_atomically(path, f"{scores}\n" + "".join(problem + "\n" for problem in problems))
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
    """What the run is waiting for (read only: it takes no lock and changes nothing)."""
    with Session(run) as session:
        search, log = session.search, session.search.log
        best = log.best()
        waiting = [asked.id for asked in search.waiting()]
        files = sorted({session.handed[i] for i in waiting if i in session.handed})
        facts = [
            ("run", str(session.directory.path)),
            ("iteration", log.counters.iterations),
            ("score calls", log.counters.score_calls),
            ("known items", log.counters.known_scores),
            ("direction", log.direction.name),
            ("best score", "-" if best is None else best.score),
            ("stopped", search.stopped or "-"),
            ("waiting", len(waiting)),
            ("out in", ", ".join(files) or "-"),
            ("not out yet", sum(i not in session.handed for i in waiting)),
            ("results", len(result_rows(log))),
        ]
        width = max(len(name) for name, _ in facts)
        return "\n".join(f"{name:<{width}}  {value}" for name, value in facts)


def _refuse_literal_secrets(raw: dict[str, Any], target: Path) -> None:
    """The run directory keeps the config as written (`config.yaml`): secrets must come from
    the environment, as `${VAR}`, so that they are not written there."""
    found = literal_secrets(raw)
    if found:
        raise ConfigError(
            f"{target}: {found[0]} holds a secret written out; an ask/tell run stores its "
            "config, so give it as an environment variable reference, e.g. ${MY_TOKEN}"
        )


def _write_asked(path: Path, asked: list[Asked]) -> None:
    """The items to score, with empty `score` and `reason` columns for whoever scores them.

    CSV: one `metadata` column of JSON text; JSON lines: `metadata` as an object; Parquet: one
    typed column per metadata key (`metadata.KEY`, see `tables`). Any text round-trips; an id
    or item that UTF-8 cannot hold (a lone surrogate) is refused for CSV and Parquet."""
    if path.suffix != ".jsonl":
        for a in asked:
            if any(tables.has_lone_surrogate(str(v)) for v in (a.id, a.item) if v is not None):
                raise ConfigError(
                    f"id {tables.escape_surrogates(a.id)!r}: its id or item holds a lone "
                    f"surrogate, which {path.suffix[1:]} (UTF-8) cannot hold; ask with "
                    "--format jsonl"
                )
    path.parent.mkdir(exist_ok=True)
    if path.suffix == ".jsonl":
        blank = {"score": None, "reason": None}
        rows = [{"id": a.id, "item": a.item, "metadata": a.metadata or {}, **blank} for a in asked]
        write_atomically(path, "".join(json.dumps(row, default=str) + "\n" for row in rows))
    elif path.suffix == ".csv":
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer)
        writer.writerow(["id", "item", "metadata", "score", "reason"])
        for a in asked:
            item = "" if a.item is None else str(a.item)
            writer.writerow([a.id, item, tables.to_json(a.metadata or {}), "", ""])
        write_atomically(path, buffer.getvalue())
    else:
        import pyarrow as pa

        none = [None] * len(asked)
        columns = [
            ("id", tables.id_array([_as_given(a.id) for a in asked])),
            ("item", tables.value_array([a.item for a in asked])),
            ("score", pa.array(none, pa.float64())),
            ("reason", pa.array(none, pa.string())),
        ]
        tables.write_parquet(tables.table(columns, [a.metadata for a in asked]), path)


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


def _answer(
    row: dict[str, Any], ids: set[str], seen: set[str] | None, replicate: bool = False
) -> tuple[Answer, str | None]:
    """(id, score, reason) of one row for the items `ids` (waiting ones, or `replicate`:
    scored ones), or the problem with it."""
    id = row_id(row, ids)
    if id not in ids:
        what = "has no valid score to replicate" if replicate else "is not waiting for a score"
        return (id, None, None), f"id {shown(id)} {what}"
    return parse_row(row, seen, id)
