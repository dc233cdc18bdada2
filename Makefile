# bankbot: the two commands a newcomer needs are `make run` and `make test` (see README).
PYTHON ?= python3.11
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed

.PHONY: install run demo test lint train clean

install: $(STAMP)

# torch is installed first and pinned: pip takes the CPU wheel from the machine's local wheel folder
# (never a CUDA build); the project install then finds it already satisfied.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip check
	touch $(STAMP)

run: install
	$(VENV)/bin/bankbot run

# demo mode, only when asked for: also adds the demo agents of data/handoff/demo_agents.yml (published passwords)
demo: install
	$(VENV)/bin/bankbot run --demo

test: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check bot actions handoff tests benchmarks
	$(VENV)/bin/mypy

train: install
	$(VENV)/bin/bankbot train

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
