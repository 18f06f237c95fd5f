"""The executor block of a run config: Ray and HTTP give the same results as serial."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from emb_opt.cli.main import main

SERVICE = Path(__file__).resolve().parents[2] / "examples" / "scoring_service.py"


def results(directory):
    lines = (directory / "results.jsonl").read_text().splitlines()
    return [(r["id"], round(r["score"], 12)) for r in map(json.loads, lines)]


@pytest.mark.slow  # starts Ray, as the Ray executor tests do
def test_http_and_ray_executor_blocks_match_serial(
    write_config, tmp_path, service_module, ray_session
):
    serial = write_config("serial.yaml", output={"dir": str(tmp_path / "serial")})
    assert main(["run", str(serial), "--quiet"]) == 0
    functions = service_module.default_functions()
    with service_module.ScoringServer(functions).start() as server:
        http = write_config(
            "http.yaml",
            executor={"kind": "http", "url": server.url, "concurrency": 4, "batch_size": 8},
            output={"dir": str(tmp_path / "http")},
        )
        assert main(["run", str(http), "--quiet"]) == 0
        assert server.requests > 0
    ray = write_config(
        "ray.yaml",
        executor={"kind": "ray", "num_actors": 2, "batch_size": 16},
        output={"dir": str(tmp_path / "ray")},
    )
    assert main(["run", str(ray), "--quiet"]) == 0
    expected = results(tmp_path / "serial")
    assert results(tmp_path / "http") == expected
    assert results(tmp_path / "ray") == expected


def test_readme_http_snippet_service_base_url(write_config, tmp_path):
    """docs/executors.md: `python examples/scoring_service.py --port 8080`, then
    `executor: {kind: http, url: http://127.0.0.1:8080, concurrency: 8}` (a free port here)."""
    service = subprocess.Popen(
        [sys.executable, str(SERVICE), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert service.stdout is not None
        banner = service.stdout.readline()  # "scoring service on http://127.0.0.1:PORT/score ..."
        found = re.search(r"http://127\.0\.0\.1:(\d+)/score", banner)
        assert found, banner
        executor = {"kind": "http", "url": f"http://127.0.0.1:{found[1]}", "concurrency": 8}
        config = write_config(executor=executor, output={"dir": str(tmp_path / "http")})
        assert main(["run", str(config), "--quiet"]) == 0
    finally:
        service.terminate()
        service.wait(timeout=10)
        assert service.stdout is not None
        service.stdout.close()
    serial = write_config("serial.yaml", output={"dir": str(tmp_path / "serial")})
    assert main(["run", str(serial), "--quiet"]) == 0
    assert results(tmp_path / "http") == results(tmp_path / "serial")
