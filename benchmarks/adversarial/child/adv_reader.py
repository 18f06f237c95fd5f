"""`python -m adv_reader RUN N`: read RUN's log (`RunDirectory.read_log`) N times, each once
its checkpoints file has grown since the read before, while a run writes it; one JSON line
per read on stdout: {"ok": true} or {"error": "Type: message"}. A slow reader (a big log, a
network disk): it waits before it opens a state file (`adv_child.slow_states`). It gives up (exit 3)
when the log has not grown for a minute."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from adv_child import slow_states

from emb_opt.cli.rundir import RunDirectory

STILL = 60  # seconds without a new checkpoint after which the run counts as stopped


def main() -> int:
    run, reads = Path(sys.argv[1]), int(sys.argv[2])
    slow_states(str(run / "log"))
    checkpoints, size, grew = run / "log" / "checkpoints.jsonl", -1, time.monotonic()
    while reads > 0:
        now = checkpoints.stat().st_size if checkpoints.exists() else -1
        if now == size:
            if time.monotonic() - grew > STILL:
                return 3  # the run stopped writing
            time.sleep(0.02)
            continue
        size, reads, grew = now, reads - 1, time.monotonic()
        try:
            RunDirectory(run).read_log()
            said: dict = {"ok": True}
        except Exception as error:  # what a reader of a live run meets, recorded
            said = {"error": f"{type(error).__name__}: {error}"}
        print(json.dumps(said), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
