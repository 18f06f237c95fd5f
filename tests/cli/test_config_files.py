"""A config file is read strictly: an alias bomb, a key given twice and a binary file are each
one line naming the file, in `run` and in every `ask`/`tell` that re-reads a shared
run's `config.yaml`; anchors and merge keys within the size limit still load."""

from __future__ import annotations

import pytest
import yaml
from asktell_runs import write
from test_bad_input import cli, one_line

from emb_opt.config.loading import MAX_SIZE, read_yaml
from emb_opt.errors import ConfigError

VALID = {
    "source": {"backend": "faiss", "data": {"kind": "synthetic", "n": 200, "dim": 4}},
    "score": {"function": "target"},
    "start": {"random": 2},
    "stop": {"iterations": 1},
}


def alias_bomb(levels: int = 9) -> str:
    """A config of about 650 bytes whose aliases stand for 9**9 values."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join([*lines, yaml.safe_dump(VALID), f"extra: *a{levels - 1}\n"])


def test_an_alias_bomb_is_refused_before_anything_walks_it(tmp_path):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(alias_bomb())
    assert len(bomb.read_bytes()) < 1000
    with pytest.raises(ConfigError, match=r"bomb.yaml: expands to [\d,]+ values and char"):
        read_yaml(bomb)


def test_an_alias_inside_what_it_names_is_refused(tmp_path):
    loop = tmp_path / "loop.yaml"
    loop.write_text("source: &s {backend: faiss, again: *s}\n")
    with pytest.raises(ConfigError, match=r"loop\.yaml: line 1: an alias names a value that holds"):
        read_yaml(loop)


def test_anchors_and_merge_keys_within_the_limit_load(tmp_path):
    config = tmp_path / "anchors.yaml"
    config.write_text(
        "base: &base {backend: faiss, k: 5}\n"
        "source:\n  <<: *base\n  k: 7\n"  # a merged key may be overridden: not a duplicate
        "tags: [&t red, *t]\n"
    )
    assert read_yaml(config) == {
        "base": {"backend": "faiss", "k": 5},
        "source": {"backend": "faiss", "k": 7},
        "tags": ["red", "red"],
    }


def test_a_config_past_the_size_limit_is_refused(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text(yaml.safe_dump({**VALID, "note": "x" * MAX_SIZE}))
    with pytest.raises(ConfigError, match=f"big.yaml: larger than {MAX_SIZE:,} bytes"):
        read_yaml(big)


@pytest.mark.parametrize(
    ("text", "key", "lines"),
    [
        ("stop: {iterations: 1}\nstop: {iterations: 50}\n", "'stop'", "line 2: .* line 1"),
        ("stop:\n  iterations: 1\n  iterations: 50\n", "'iterations'", "line 3: .* line 2"),
        ("stop: {iterations: 1}\n1: a\n0x1: b\n", "1", "line 3: .* line 2"),
    ],
    ids=["top level", "nested", "same value, other spelling"],
)
def test_a_key_given_twice_is_one_line_naming_it(tmp_path, capsys, text, key, lines):
    config = tmp_path / "twice.yaml"
    config.write_text(text + yaml.safe_dump({k: v for k, v in VALID.items() if k != "stop"}))
    code, err = cli(capsys, "run", str(config), "--output", str(tmp_path / "out"), "--quiet")
    assert code == 2
    one_line(err, "emb-opt: error: ", "twice.yaml", f"key {key} is given twice")
    with pytest.raises(ConfigError, match=lines):
        read_yaml(config)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "content",
    [b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe" + bytes(range(256)), "stop: caf\xe9\n".encode("latin-1")],
    ids=["binary", "Latin-1"],
)
def test_a_file_that_is_not_text_is_one_line_naming_it(tmp_path, capsys, content):
    config = tmp_path / "picture.yaml"
    config.write_bytes(content)
    code, err = cli(capsys, "run", str(config), "--output", str(tmp_path / "out"), "--quiet")
    assert code == 2
    one_line(err, "emb-opt: error: ", "picture.yaml: not a text file: byte 0x", "is not UTF-8")


def test_a_utf16_config_with_a_byte_order_mark_loads(tmp_path):
    config = tmp_path / "utf16.yaml"
    config.write_bytes(yaml.safe_dump({**VALID, "note": "café"}).encode("utf-16"))
    assert read_yaml(config)["note"] == "café"


@pytest.mark.parametrize("command", ["ask", "tell"])
def test_a_shared_runs_config_yaml_is_read_as_strictly(tmp_path, capsys, command):
    assert cli(capsys, "ask", str(write(tmp_path, "lab", external=True)))[0] == 0
    run = tmp_path / "lab"
    stored = run / "config.yaml"
    stored.write_text(stored.read_text() + "seed: 4\n" * 2)
    plate = next((run / "ask").glob("*.csv"))
    args = {"ask": [str(run)], "tell": [str(run), str(plate)]}[command]
    code, err = cli(capsys, command, *args)
    assert code == 2
    one_line(err, "emb-opt: error: ", "config.yaml", "key 'seed' is given twice")
