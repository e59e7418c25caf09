# Set-up and the two Quick start jobs. Every target builds the virtual environment first if needed.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
ARGS ?=

.PHONY: demo test setup clean

$(STAMP): pyproject.toml requirements/constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch is pinned in the constraints file: an open range would pull a multi-GB CUDA build.
	$(PY) -m pip install --quiet -c requirements/constraints.txt -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/deepae demo $(ARGS)

test: $(STAMP)
	$(PY) -m pytest -q --timeout=900

clean:
	rm -rf $(VENV) runs
