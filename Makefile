# Two commands on a fresh machine:  make demo   /   make test
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
PIP     = $(VENV)/bin/pip
STAMP   = $(VENV)/.installed

.PHONY: setup demo test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	# torch is pinned to the CPU build that lies on this machine's disk (see README).
	$(PIP) install --quiet "torch==2.13.0"
	$(PIP) install --quiet -e ".[test,plots]"
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/spikeattack demo --out runs/demo

test: $(STAMP)
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) benchmarks/estimator_cost.py

clean:
	rm -rf $(VENV) runs .pytest_cache
