"""Backend accuracy/latency benchmark: ``snnkit bench`` as a script.

Runs one FrozenNetwork on several backends with the same MNIST test images and
writes bench.json, bench.csv, accuracy_by_step.csv, per-backend case files and PNG
plots to --out-dir (see ``snnkit bench --help`` for every option). Re-running with the
same --out-dir skips finished cases.

Without a network file, it makes one the demo's way first (train the seed convnet,
calibrate it with Loihi neurons; saved as OUT/seed-loihi.snn.npz, reused next time):

    .venv/bin/python benchmarks/bench_cli.py [NETWORK] [--backends nengo-dl,loihi-emulator]
        [--n-test 1000] [--max-images-slow 50] [--out-dir out/bench]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from snnkit.cli import main  # noqa: E402


def _default_network(argv) -> str:
    """Train and calibrate the seed network once, with the CLI itself."""
    out = Path("out/bench")
    for flag in ("--out-dir", "--out"):  # --out: its deprecated spelling
        if flag in argv and argv.index(flag) + 1 < len(argv):
            out = Path(argv[argv.index(flag) + 1])
    relu, loihi = out / "seed-relu.snn.npz", out / "seed-loihi.snn.npz"
    if not loihi.is_file():
        out.mkdir(parents=True, exist_ok=True)
        if not relu.is_file() and main(["train", "--model", "seed", "--epochs", "2",
                                        "--out", str(relu)]) != 0:
            sys.exit(1)
        if main(["calibrate", str(relu), "--out", str(loihi), "--synapse", "0.005",
                 "--target-rate", "200"]) != 0:
            sys.exit(1)
    return str(loihi)


if __name__ == "__main__":
    argv = sys.argv[1:]
    if "-h" in argv or "--help" in argv:
        sys.exit(main(["bench", "--help"]))
    if not argv or argv[0].startswith("-"):
        argv = [_default_network(argv)] + argv
    sys.exit(main(["bench"] + argv))
