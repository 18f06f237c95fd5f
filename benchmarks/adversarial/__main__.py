"""The adversarial pass: `python -m benchmarks.adversarial [--quick] [--out FILE]`."""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from . import ROWS
from .context import Pass
from .harness import Case, Commands
from .report import table


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--code", type=Path, help="the checkout whose emb_opt the commands run")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--seeds", type=int, help="random seeds of the interruptions")
    parser.add_argument("--timeout", type=float, default=120, help="seconds before a hang")
    parser.add_argument("--memory-gb", type=float, default=8, help="address space per command")
    parser.add_argument("--rows", help="only these rows, by short name, comma-separated")
    parser.add_argument("--out", type=Path, help="also write the table (markdown) here")
    parser.add_argument("--all", action="store_true", help="list every case, not only those not ok")
    parser.add_argument("--keep", action="store_true", help="keep the pass's folder")
    args = parser.parse_args()
    chosen = [name for name, _, _ in ROWS]
    if args.rows:
        chosen = args.rows.split(",")
        unknown = set(chosen) - {name for name, _, _ in ROWS}
        if unknown:
            parser.error(f"--rows: no row {sorted(unknown)}; rows: {[r for r, _, _ in ROWS]}")
    work = Path(tempfile.mkdtemp(prefix="emb-opt-adversarial-"))
    commands = Commands(args.code and args.code.resolve(), work, args.timeout, args.memory_gb)
    ctx = Pass(commands, work, args.quick, args.seeds or (2 if args.quick else 4))
    signal.signal(signal.SIGTERM, _interrupted)
    cases: list[Case] = []
    began = time.monotonic()
    try:
        for name, _, row in ROWS:
            if name in chosen:
                print(f"row {name} ...", file=sys.stderr, flush=True)
                row_began = time.monotonic()
                cases += row(ctx)
                ctx.seconds[name] = time.monotonic() - row_began
    finally:
        commands.stop_all()
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    text = table(cases, ctx, args, time.monotonic() - began)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    main()
