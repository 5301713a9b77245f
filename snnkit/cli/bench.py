"""The ``bench`` subcommand: one FrozenNetwork on several backends (:mod:`snnkit.bench`)."""

from __future__ import annotations

from . import arguments as A


def register(commands, common) -> None:
    parser = commands.add_parser(
        "bench", parents=[common],
        help="accuracy, latency, rates, energy estimate and speed of backends on the "
             "same MNIST test images",
        description="Run one FrozenNetwork on several backends with the same MNIST test "
                    "images; write bench.json, bench.csv, accuracy_by_step.csv and PNG "
                    "plots to --out. Finished cases (one per backend, in "
                    "OUT/cases/) are skipped when re-run with the same settings.")
    A.add_network(parser)
    parser.add_argument("--backends", type=A.names, default=("nengo-dl", "loihi-emulator"),
                        help="comma-separated backend names (default "
                             "nengo-dl,loihi-emulator)")
    parser.add_argument("--n-test", type=A.int_at_least(1), default=1000,
                        help=f"MNIST test images, at most {A.MNIST_TEST} (default 1000)")
    A.add_n_steps(parser, "time steps per image")
    parser.add_argument("--max-images-slow", type=A.int_at_least(1), default=50,
                        help="cap for the slow backends (nengo, loihi-emulator, loihi): "
                             "they run the first N of the same images (default 50)")
    parser.add_argument("--max-images", type=A.caps, default=None,
                        help="per-backend caps, BACKEND=N,... (override the above)")
    parser.add_argument("--presentation", choices=("reset", "sequential"),
                        default="reset",
                        help="each image from rest, or one stream (default reset)")
    parser.add_argument("--n-hist", type=A.int_at_least(0), default=50,
                        help="images for the per-neuron rate histograms (default 50; "
                             "0 skips)")
    parser.add_argument("--n-plot", type=A.int_at_least(0), default=3,
                        help="images whose outputs over time are plotted (default 3)")
    parser.add_argument("--no-plots", action="store_true", help="write no PNG files")
    parser.add_argument("--out", default="out/bench",
                        help="output folder (default out/bench)")
    A.add_quiet(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    from ..bench import BenchConfig, check_backends, check_writable_dir, format_table

    network = A.load_network(args.network)
    check_backends(args.backends)
    A.check_count("--n-test", args.n_test, A.MNIST_TEST, "the MNIST test set's size")
    out = check_writable_dir(args.out, "--out")
    from ..data import load_mnist
    from ..bench import run_bench

    _, (x, y) = load_mnist(0, args.n_test)
    config = BenchConfig(backends=args.backends, n_steps=args.n_steps,
                         presentation=args.presentation,
                         max_images_slow=args.max_images_slow,
                         max_images=args.max_images or {},
                         n_hist=args.n_hist, n_plot=args.n_plot, plots=not args.no_plots,
                         progress=not args.quiet)
    report = run_bench(network, x, y, out, config, network_path=args.network,
                       data_id=f"mnist-test[:{args.n_test}]")
    print(format_table(report))
    files = report["files"]
    print(f"\nwrote {files['json']}, {files['csv']}, {files['accuracy_by_step_csv']}")
    for path in files.get("plots", []):
        print(f"wrote {path}")
    return 0
