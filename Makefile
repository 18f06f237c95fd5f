VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: demo test test-fast lint typecheck bench docs clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip uv
	$(VENV)/bin/uv pip install --python $(PY) --quiet -e ".[all,dev]"
	rm -f $(VENV)/.installed-* && touch $@

demo: $(STAMP)
	$(VENV)/bin/emb-opt demo

test: $(STAMP)
	$(VENV)/bin/ruff check emb_opt tests benchmarks examples docs/_hooks
	$(VENV)/bin/mypy
	$(PY) -m pytest

# The inner loop: no subprocess runs, no database servers; on two cores.
test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow and not engine" -q -n 2

lint: $(STAMP)
	$(VENV)/bin/ruff check emb_opt tests benchmarks examples docs/_hooks
	$(VENV)/bin/ruff format --check emb_opt tests benchmarks examples docs/_hooks
	$(VENV)/bin/mypy

# The docs site, warnings as errors (tests/docs builds it too, so `make test` checks it).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

bench: $(STAMP)
	$(PY) -m benchmarks.overhead

clean:
	rm -rf $(VENV) .pytest_cache site
