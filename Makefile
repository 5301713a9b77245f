# Two commands do all the set-up: `make demo` and `make test` create .venv from
# nothing (python3.11 -m venv, pip install -e ".[dev]") when it is missing or
# pyproject.toml changed, then run.
PYTHON ?= python3.11
VENV := .venv
INSTALLED := $(VENV)/.installed

.PHONY: demo test bench venv clean

venv: $(INSTALLED)

$(INSTALLED): pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	@touch $(INSTALLED)

demo: $(INSTALLED)
	$(VENV)/bin/snnkit demo

test: $(INSTALLED)
	$(VENV)/bin/python -m pytest

clean:
	rm -rf $(VENV) out .pytest_cache
