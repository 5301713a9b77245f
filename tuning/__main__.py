"""``python -m snnkit.tuning CONFIG.json [--chief | --worker ...]``: the same as
``snnkit tune``, for machines where only the module path is convenient (e.g. workers
started by a cluster scheduler). It builds the tune subcommand's parser alone."""

from __future__ import annotations

import sys

from snnkit.cli.tune import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
