# Two commands do everything on a fresh machine (a venv is created inside,
# so an "externally managed" system Python is no obstacle):
#   make serve   install and serve the bundled content on http://127.0.0.1:8080/
#   make test    install and run lint, format check and the whole test suite
#   make quick   lint, then only the tests not marked `slow` (the quick edit-test loop)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ARGS ?=

.PHONY: install serve test quick lint bench abuse scale clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/.installed

serve: install
	$(BIN)/feedsvc serve $(ARGS)

# The house rules: style, the import contract (layers point one way, no
# cycles; see [tool.importlinter] in pyproject.toml) and mypy --strict.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

# Every test, whatever its markers (CI runs this through .ci/run).
test: lint
	$(BIN)/python -m pytest $(ARGS)

# The quick loop: the tests not marked `slow` (benchmarks, load, nginx, the
# browser, long property runs and watcher timing are left out); about a
# quarter of the full run's time. `make test` still runs everything.
quick: lint
	$(BIN)/python -m pytest -m "not slow" $(ARGS)

# Benchmarks against real baselines (wrk and nginx from Debian are used when
# installed); `make bench ARGS=--quick` takes well under a minute. See bench/README.md.
# bench/abuse.py: a reader's latency while abusive clients flood cache misses
# or hold idle connections (`make abuse ARGS=--quick` alone; `make bench` runs it
# after run.py, passing --quick on).
bench: install
	$(BIN)/python bench/run.py $(ARGS)
	$(BIN)/python bench/abuse.py $(filter --quick,$(ARGS))

abuse: install
	$(BIN)/python bench/abuse.py $(ARGS)

scale: install
	$(BIN)/python bench/scale.py $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis .mypy_cache .import_linter_cache
