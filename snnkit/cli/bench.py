"""The ``bench`` subcommand: one FrozenNetwork on several backends
(:mod:`snnkit.bench`)."""

from __future__ import annotations

from snnkit.cli import arguments as A
from snnkit.cli.output import emit, progress


def run(args) -> int:
    from snnkit.bench import BenchConfig, check_backends, check_writable_dir, format_table

    network = A.load_network(args.network)
    check_backends(args.backends)
    images = A.Images(args.data, ("test",))
    x, y, data_id = images.take("test", "--n-test", args.n_test, default=1000,
                                network=network)
    out = check_writable_dir(args.out_dir, "--out-dir")
    from snnkit.bench import run_bench

    config = BenchConfig(backends=args.backends, n_steps=args.n_steps,
                         presentation=args.presentation,
                         max_images_slow=args.max_images_slow,
                         max_images=args.max_images or {},
                         n_hist=args.n_hist, n_plot=args.n_plot, plots=not args.no_plots,
                         profile_plot=args.profile_plot, progress=progress(args))
    report = run_bench(network, x, y, out, config, network_path=args.network,
                       data_id=data_id)
    print(format_table(report))
    files = report["files"]
    print(f"\nwrote {files['json']}, {files['csv']}, {files['accuracy_by_step_csv']}")
    for path in files.get("plots", []):
        print(f"wrote {path}")
    emit(args, dict(report, command="bench"))
    return 0
