"""`python -m adv_many ARGS [::: ARGS ...]`: several emb-opt commands in one process (what
each would do alone, without paying for the imports again); one JSON line per command on
stdout: {"code": exit code, "out": its stdout, "err": its stderr}."""

from __future__ import annotations

import io
import json
import sys
from contextlib import redirect_stderr, redirect_stdout

from emb_opt.cli.main import main as emb_opt


def run(args: list[str]) -> dict:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = emb_opt(args)
        except SystemExit as exit:  # argparse refusing the arguments
            code = exit.code if isinstance(exit.code, int) else 2
    return {"code": code, "out": out.getvalue(), "err": err.getvalue()}


def main() -> int:
    commands, current = [], []
    for arg in sys.argv[1:]:
        if arg == ":::":
            commands.append(current)
            current = []
        else:
            current.append(arg)
    commands.append(current)
    for args in commands:
        print(json.dumps(run(args)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
