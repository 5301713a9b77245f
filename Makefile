# Two commands do all the set-up: `make demo` and `make test` create .venv from
# nothing (python3.11 -m venv, pip install -e ".[dev]", then the NIR readers the tests
# use) when it is missing or pyproject.toml or this file changed, then run.
PYTHON ?= python3.11
VENV := .venv
INSTALLED := $(VENV)/.installed

.PHONY: demo test bench venv clean

venv: $(INSTALLED)

# The NIR readers the interop tests run (tests/test_nir_readers.py): a second pip step,
# after the project's, every time: torch 2.13 needs typing-extensions >= 4.10 and
# tensorflow 2.12.1 declares < 4.6, so they cannot resolve together (pip reports the
# conflict; TensorFlow works with the newer typing-extensions), and re-installing the
# project alone would downgrade typing-extensions and break torch (hence this step runs
# whenever the first one does, and the import check after it). The CPU build is
# pinned so a CUDA one is never chosen; norse 1.1.0 without its declared torchvision,
# which only its datasets use.
READERS := "torch==2.13.0+cpu" snntorch==1.0.0 nirtorch==2.6

$(INSTALLED): pyproject.toml Makefile
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check $(READERS)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps \
		norse==1.1.0
	$(VENV)/bin/python -c "import torch, snntorch, norse.torch, nirtorch"
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
