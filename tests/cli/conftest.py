from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))  # the score functions configs import


@pytest.fixture
def write_config(tmp_path):
    """Write a small faiss config (with overrides per block) and return its path."""

    def write(name: str = "run.yaml", **blocks) -> Path:
        config = {
            "source": {
                "backend": "faiss",
                "k": 5,
                "filter": {"rand": {"$lt": 0.9}},
                "data": {"kind": "synthetic", "n": 3000, "dim": 16, "seed": 0},
            },
            "score": {"function": "target"},
            "strategy": {
                "update": {"name": "rl", "lrs": [0.25, 1.0]},
                "prune": {"name": "topk", "k": 1, "group_by": "collection_id"},
            },
            "start": {"random": 4, "seed": 1},
            "stop": {"iterations": 6},
            "output": {"dir": str(tmp_path / "out")},
        }
        for block, value in blocks.items():
            config[block] = value if value is None else {**config.get(block, {}), **value}
        config = {k: v for k, v in config.items() if v is not None}
        path = tmp_path / name
        path.write_text(yaml.safe_dump(config))
        return path

    return write
