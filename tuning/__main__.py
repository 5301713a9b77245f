"""``python -m snnkit.tuning CONFIG.json [--chief | --worker ...]``: the same as
``snnkit tune``, for machines where only the module path is convenient (e.g. workers
started by a cluster scheduler)."""

from __future__ import annotations

import sys

from snnkit.cli import main

if __name__ == "__main__":
    sys.exit(main(["tune", *sys.argv[1:]]))
