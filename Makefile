# Set-up and the two Quick start jobs. Every target builds the virtual environment first if needed.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
ARGS ?=

.PHONY: demo test lint setup clean

$(STAMP): pyproject.toml requirements/constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch is pinned in the constraints file: an open range would pull a multi-GB CUDA build.
	$(PY) -m pip install --quiet -c requirements/constraints.txt -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/deepae demo $(ARGS)

# The tests start with the linter: a lint error fails `make test` as a failing test would.
test: lint
	$(PY) -m pytest -q --timeout=900

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench scripts examples

clean:
	rm -rf $(VENV) runs
