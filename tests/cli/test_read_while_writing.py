"""Reading a run while it writes: `plot`, `inspect` and `RunDirectory.read_log` of a running
run never see half a file, nor take a state file the run replaced for corruption."""

from __future__ import annotations

import pytest
from run_processes import finish, start_run

from emb_opt.cli.rundir import RunDirectory
from emb_opt.log import CHECKPOINTS

READS = 20  # reads, each of a log that moved on


@pytest.mark.slow
def test_reading_a_log_while_a_run_writes_it_never_reports_corruption(write_config, tmp_path):
    """Each counted read saw a checkpoint the one before it did not, while the run wrote more
    (the old slot files, rewritten in place, failed from about the third such read)."""
    config = write_config(stop={"iterations": 100_000, "idle": None})  # until the test stops it
    out = tmp_path / "out"
    writer = start_run(config, out)
    seen = [-1]
    try:
        while len(seen) <= READS:
            assert writer.poll() is None, finish(writer)
            if (out / "log" / CHECKPOINTS).exists():
                iterations = RunDirectory(out).read_log().counters.iterations
                if iterations > seen[-1]:
                    seen.append(iterations)
        assert writer.poll() is None, finish(writer)  # the last read too raced a live writer
    finally:
        writer.kill()
        finish(writer)
