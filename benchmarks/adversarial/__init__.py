"""An adversarial pass over the emb-opt CLI: every row of issue 31's table replayed as cases,
and commands interrupted at random points, then resumed.

    python -m benchmarks.adversarial                       # this checkout's emb_opt
    python -m benchmarks.adversarial --quick --out t.md    # fewer repetitions
    python -m benchmarks.adversarial --code /tmp/old       # another checkout's emb_opt

Each case is classified: ok (refused in one line naming the bad value, or handled
correctly), lost (a told or computed score missing), wrong (accepted and wrong: a secret in
an output, a changed source accepted, a duplicate key taking the last), traceback, hang (not
done within --timeout, or a process outliving its command: killed by PID), other (neither
ok nor one of those: a dead end, an error naming nothing, a false "corrupt", memory without
bound). Commands run as `python -m adv_child` (benchmarks/adversarial/child) with `--code`
first on PYTHONPATH, each in its own process group, each stopped by PID on every path.
"""

from __future__ import annotations

from .interrupts import interrupted_and_resumed
from .rows_files import alias_bombs, changed_sources, huge_tell_file, score_and_reason
from .rows_lock import killed_before_first_checkpoint, lock_removed_mid_tell
from .rows_misc import odds_and_ends
from .rows_runs import executor_changes, killed_workers, read_while_writing
from .rows_secrets import echoed_secrets

ROWS = [  # (short name, the row, the cases)
    ("lock", "lock files removed mid-tell, then a second tell", lock_removed_mid_tell),
    (
        "fresh",
        "kill -9 of ask CONFIG / run before the first checkpoint",
        killed_before_first_checkpoint,
    ),
    ("executor", "run stopped by its timeout resumed with another executor", executor_changes),
    ("secrets", "credentials echoed, in URLs, DSNs, free text", echoed_secrets),
    ("workers", "kill -9 of run with the process executor", killed_workers),
    ("bombs", "YAML alias bomb as a config (run, ask, shared config.yaml)", alias_bombs),
    ("reading", "plot / read_log while a run writes", read_while_writing),
    ("reason", "a tell row with a score and a reason", score_and_reason),
    ("huge-tell", "a 100 MB tell file", huge_tell_file),
    ("sources", "source data changed (big file, database, status)", changed_sources),
    ("misc", "--wait, flock, soft lock, configs, SIGTERM (x2), another run's plate", odds_and_ends),
    (
        "interrupts",
        "kill -9 / SIGTERM of run, ask, tell at random points, resumed",
        interrupted_and_resumed,
    ),
]
