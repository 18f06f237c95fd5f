"""The executor block of a run config: Ray and HTTP give the same results as serial."""

from __future__ import annotations

import json

from emb_opt.cli.main import main


def results(directory):
    lines = (directory / "results.jsonl").read_text().splitlines()
    return [(r["id"], round(r["score"], 12)) for r in map(json.loads, lines)]


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
