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

# two worker processes, one test file each at a time (module fixtures stay per file):
# the suite is half waiting (subprocesses, servers), so two cores finish it in ~5 min
# instead of ~8; -n 2 rather than auto, as each worker loads TensorFlow
test: $(INSTALLED)
	$(VENV)/bin/python -m pytest -n 2 --dist loadfile

clean:
	rm -rf $(VENV) out .pytest_cache
