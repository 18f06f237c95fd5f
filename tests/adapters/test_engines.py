"""The engine fixtures' process handling: stopped by pid, children included, none left."""

from __future__ import annotations

import subprocess
import time

import engines


def test_stop_process_stops_the_children_too():
    """A server that forks (as `milvus run standalone` may) leaves nothing behind."""
    proc = subprocess.Popen(["sh", "-c", "sleep 60 & echo $!; wait"], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    child = int(proc.stdout.readline())
    proc.stdout.close()
    engines.track(proc.pid)
    assert {proc.pid, child} <= set(engines.still_alive())
    engines.stop_process(proc, timeout=5)
    deadline = time.monotonic() + 5
    while child in engines.still_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.pid not in engines.still_alive() and child not in engines.still_alive()
