"""Every code block of the docs pages runs (`codeblocks` says how each language runs);
the README's are run by test_readme.py."""

from __future__ import annotations

import re

import pytest
from codeblocks import FENCE, LANGUAGES, SKIP, run_blocks
from documents import DOCUMENTS, PAGES, REPO

SKIP_WITH_REASON = re.compile(r' next "[^"]{10,}" ')


def relative(path):
    return str(path.relative_to(REPO))


@pytest.mark.slow
@pytest.mark.parametrize("path", PAGES, ids=relative)
def test_every_code_block_runs(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    _, skipped = run_blocks(path, tmp_path)
    for line in skipped:
        print(f"{relative(path)}: skipped {line}")


@pytest.mark.parametrize("path", DOCUMENTS, ids=relative)
def test_every_code_block_is_one_the_tests_run(path):
    """A fence names a language the tests run (or `text`), and a block that cannot run here
    says why."""
    text = path.read_text()
    fences = FENCE.findall(text)[::2]  # an opening fence, then its closing one
    unknown = sorted({language or "(none)" for language in fences} - LANGUAGES)
    assert not unknown, f"code blocks no test runs: {unknown}; use one of {sorted(LANGUAGES)}"
    for mark in SKIP.findall(text):
        assert SKIP_WITH_REASON.fullmatch(mark), f'skip needs the form: next "reason": {mark!r}'


def test_few_blocks_are_skipped():
    """The blocks marked as not runnable here stay the exception."""
    marks = sum(len(SKIP.findall(path.read_text())) for path in DOCUMENTS)
    blocks = sum(len(FENCE.findall(path.read_text())) // 2 for path in DOCUMENTS)
    assert marks <= blocks // 4, f"{marks} of {blocks} code blocks are skipped"
