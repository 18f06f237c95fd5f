"""The README's quickstart runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_quickstart_runs(capsys):
    text = README.read_text()
    quickstart = text.split("## Quickstart", 1)[1]
    code = re.search(r"```python\n(.*?)```", quickstart, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "README quickstart", "exec"), namespace)
    log = namespace["log"]
    assert log.counters.score_calls <= 500
    assert all(row["data"]["price"] < 50 for row in log.compile_results())
    assert "score_calls" in capsys.readouterr().out
