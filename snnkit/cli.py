"""The ``snnkit`` command line (also ``python -m snnkit``).

Subcommands: ``demo``, ``train``, ``convert``, ``calibrate``, ``inspect``, ``tune``
(delegates to :mod:`snnkit.tuning`), ``bench``, ``export``, ``backends``.
Only the standard library is imported until a subcommand runs, so ``--help``,
``--version`` and usage errors answer at once.
Every failure ends with one line on stderr and a non-zero exit code (2 for bad
arguments, 1 for anything else); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

from .keras_files import KERAS_SUFFIXES

MNIST_TEST = 10_000
MNIST_TRAIN = 60_000


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line that says where to find help."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


# --- argument types: each names what it expected and what it got -----------------
def _int_at_least(low: int):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an int >= {low}, got {text!r}")
        if value < low:
            raise argparse.ArgumentTypeError(f"expected an int >= {low}, got {value}")
        return value
    return parse


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def _synapse(text):
    if text == "keep":  # calibrate's default: the network's own synapse
        return text
    if text.lower() in ("none", "0"):
        return None
    try:
        return _positive_float(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected a time constant in seconds > 0 or 'none', got {text!r}")


def _scale(text):
    """``100`` (every layer) or ``conv0=50,conv1=80``."""
    if "=" not in text:
        return _positive_float(text)
    scales = {}
    for item in text.split(","):
        name, _, value = item.partition("=")
        if not name.strip():
            raise argparse.ArgumentTypeError(
                f"expected LAYER=SCALE pairs separated by commas, got {text!r}")
        scales[name.strip()] = _positive_float(value)
    return scales


def _rate_target(text):
    """``200`` (Hz) or ``100:300`` (a range in Hz)."""
    low, sep, high = text.partition(":")
    if not sep:
        return _positive_float(text)
    lo, hi = _positive_float(low), _positive_float(high)
    if lo > hi:
        raise argparse.ArgumentTypeError(
            f"expected LOW:HIGH with LOW <= HIGH, got {text!r}")
    return (lo, hi)


def _names(text):
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated names, got {text!r}")
    return names


def _caps(text):
    """``loihi-emulator=20,nengo=10``."""
    caps = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise argparse.ArgumentTypeError(
                f"expected BACKEND=N pairs separated by commas, got {text!r}")
        caps[name.strip()] = _int_at_least(1)(value)
    return caps


# --- shared checks -------------------------------------------------------------
def _error(message):
    from .exceptions import ValidationError

    return ValidationError(message)


def _input_file(path, argument: str, suffixes=None) -> Path:
    path = Path(path)
    if not path.exists():
        raise _error(f"{argument}: no such file: {str(path)!r}")
    if not path.is_file():
        raise _error(f"{argument}: expected a file, got a folder: {str(path)!r}")
    if suffixes and path.suffix.lower() not in suffixes:
        raise _error(f"{argument}: expected a {' or '.join(suffixes)} file, "
                     f"got {str(path)!r}")
    try:
        with open(path, "rb") as f:
            f.read(1)
    except OSError as e:
        raise _error(f"{argument}: cannot read {str(path)!r} ({e.strerror or e})") from e
    return path


def _output_file(path, argument: str = "--out") -> Path:
    """Fail before hours of work, not after: the output's folder must be writable."""
    from .bench import check_writable_dir

    path = Path(path)
    if path.is_dir():
        raise _error(f"{argument}: expected a file path, got a folder: {str(path)!r}")
    check_writable_dir(path.parent if str(path.parent) else Path("."), argument)
    return path


def _load_network(path, argument: str = "network"):
    from .frozen import FrozenNetwork

    return FrozenNetwork.load(_input_file(path, argument))


def _check_count(argument: str, value: int, limit: int, what: str) -> None:
    if value > limit:
        raise _error(f"{argument}: expected at most {limit} ({what}), got {value}")


def load_keras_model(path, argument: str = "model", *, for_training: bool = True):
    """A saved Keras model, loaded by :func:`snnkit.keras_files.load_keras_model`
    (no stored code runs) and checked to convert natively (to be trained, or only
    frozen: :func:`snnkit.fit_inputs.check_convertible`)."""
    from .keras_files import load_keras_model as load
    from .trainer import check_convertible

    model = load(_input_file(path, argument, KERAS_SUFFIXES), argument)
    check_convertible(model, for_training=for_training)
    return model


def _load_model(spec: str, seed: int):
    if spec == "seed":
        from .models import seed_convnet

        return seed_convnet(seed=seed)
    return load_keras_model(spec, "--model")


# --- subcommands ---------------------------------------------------------------
def _demo(args) -> int:
    from .demo import DemoConfig, run_demo

    _check_count("--n-test", args.n_test, MNIST_TEST, "the MNIST test set's size")
    _check_count("--n-emulator", args.n_emulator, MNIST_TEST, "the MNIST test set's size")
    _check_count("--n-fast", args.n_fast, MNIST_TEST, "the MNIST test set's size")
    more, loihi = (0, 0) if args.seed_only else (args.extra_relu_epochs, args.loihi_epochs)
    run_demo(DemoConfig(epochs=args.epochs, extra_relu_epochs=more, loihi_epochs=loihi,
                        target_rate_hz=args.target_rate,
                        fine_tune_rate_hz=args.fine_tune_rate,
                        n_test=args.n_test, n_emulator=args.n_emulator,
                        n_fast=args.n_fast, out_dir=args.out, progress=not args.quiet,
                        latency=args.latency,
                        latency_relu_epochs=args.latency_relu_epochs,
                        latency_time_epochs=args.latency_time_epochs))
    return 0


def _train(args) -> int:
    _check_count("--n-train", args.n_train, MNIST_TRAIN, "the MNIST training set's size")
    _check_count("--n-test", args.n_test, MNIST_TEST, "the MNIST test set's size")
    out = _output_file(args.out)
    checkpoints = _train_checkpoint_dir(args, out)
    from .neurons import neuron_spec

    neuron_spec(args.neuron_type)  # a bad name fails before the data is loaded
    model = _load_model(args.model, args.seed)
    from .callbacks import ModelCheckpoint
    from .data import load_mnist
    from .trainer import Trainer

    (x_train, y_train), (x_test, y_test) = load_mnist(args.n_train, args.n_test)
    saver = ModelCheckpoint(checkpoints, save_best=False)
    trainer = Trainer(max_epochs=args.epochs, minibatch_size=args.minibatch_size,
                      learning_rate=args.learning_rate, neuron_type=args.neuron_type,
                      scale_firing_rates=args.scale, synapse=args.synapse,
                      rate_target_hz=args.rate_target, seed=args.seed,
                      callbacks=[saver], enable_progress_bar=not args.quiet)
    last = saver.last_path
    if last.is_file():
        print(f"resuming from {last}", file=sys.stderr)
    history = trainer.fit(model, (x_train, y_train),
                          ckpt_path=last if last.is_file() else None)
    metadata = {"procedure": "snnkit train", "model": args.model,
                "epochs": len(history), "n_train": len(x_train),
                "train_history": history, "rate_target_hz": args.rate_target}
    network = trainer.freeze(model, metadata=metadata)
    if args.n_test:
        result = trainer.evaluate(network, x_test, y_test, n_steps=args.n_steps)
        metadata["test_accuracy"] = result.accuracy(y_test)
        metadata["test_n_images"] = len(x_test)
        metadata["test_rates_hz"] = result.layer_rates_hz
        network = network.replace(metadata=metadata)
        print(f"test accuracy ({network.neuron.name}, nengo-dl, {args.n_steps} steps, "
              f"{len(x_test)} images): {100 * metadata['test_accuracy']:.2f}%")
    print(f"train accuracy (last epoch): {100 * history[-1]['accuracy']:.2f}%")
    print(f"FrozenNetwork saved to {network.save(out)}")
    # the training is finished: its checkpoint has nothing left to resume
    last.unlink()
    with contextlib.suppress(OSError):
        checkpoints.rmdir()  # only if empty
    return 0


def _train_checkpoint_dir(args, out: Path) -> Path:
    """Where ``snnkit train`` keeps ``last.npz`` while it runs (removed at the end),
    checked against ``--resume``; temporary files of killed runs are removed."""
    from ._io import remove_stale_temp_files

    checkpoints = Path(args.checkpoint_dir) if args.checkpoint_dir is not None \
        else out.parent / f"{out.name}.checkpoints"
    if checkpoints.exists() and not checkpoints.is_dir():
        raise _error(f"--checkpoint-dir: expected a folder, got a file: "
                     f"{str(checkpoints)!r}")
    remove_stale_temp_files(checkpoints, names=("last.npz",))
    remove_stale_temp_files(out.parent if str(out.parent) else Path("."), names=(out.name,))
    last = checkpoints / "last.npz"
    if last.is_file() and not args.resume:
        raise _error(
            f"--resume: {str(last)!r} holds the checkpoint of an unfinished training; "
            "pass --resume to continue it, or delete it (or give another "
            "--checkpoint-dir) to start again")
    if args.resume and not last.is_file():
        print(f"--resume: no checkpoint at {str(last)!r} yet; training from the start",
              file=sys.stderr)
    return checkpoints


def _convert(args) -> int:
    out = _output_file(args.out)
    from .frozen import FrozenNetwork

    if args.from_nir is not None:
        return _convert_from_nir(args, out)
    if args.model is None:
        raise _error("model: expected a Keras model file (or --from-nir FILE), got none")
    model = load_keras_model(args.model, "model", for_training=False)
    kwargs = {}
    if args.off_chip is not None:
        kwargs["off_chip"] = args.off_chip
    network = FrozenNetwork.from_keras(
        model, neuron_type=args.neuron_type or "relu", scale_firing_rates=args.scale or {},
        synapse=args.synapse, dt=args.dt or 0.001,
        metadata={"procedure": "snnkit convert", "source": str(args.model)}, **kwargs)
    print(network.summary())
    print(f"FrozenNetwork saved to {network.save(out)}")
    return 0


def _convert_from_nir(args, out) -> int:
    from .nir_import import from_nir

    for flag, value in (("model", args.model), ("--scale", args.scale),
                        ("--synapse", args.synapse), ("--off-chip", args.off_chip)):
        if value is not None:
            raise _error(f"{flag}: not used with --from-nir (the NIR graph sets it), "
                         f"got {value!r}")
    network = from_nir(_input_file(args.from_nir, "--from-nir"),
                       neuron_type=args.neuron_type, dt=args.dt)
    print(network.summary())
    print(f"FrozenNetwork saved to {network.save(out)}")
    return 0


def _export(args) -> int:
    network = _load_network(args.network)
    out = _output_file(args.out, "out")
    from .nir_export import write_nir

    print(f"NIR graph written to {write_nir(network, out)}")
    return 0


def _calibrate(args) -> int:
    network = _load_network(args.network)
    _check_count("--n-images", args.n_images, MNIST_TRAIN, "the MNIST training set's size")
    out = _output_file(args.out)
    from .data import load_mnist
    from .trainer import Trainer

    (x, _), _ = load_mnist(args.n_images, 0)
    synapse = network.synapse if args.synapse == "keep" else args.synapse
    trainer = Trainer(enable_progress_bar=not args.quiet, synapse=synapse)
    # synapse passed explicitly: given a FrozenNetwork, Trainer.calibrate's default
    # ("trainer") keeps the network's own synapse rather than the Trainer's, and the
    # rates must be measured with the synapse that will run
    cal = trainer.calibrate(network, x, target_rate_hz=args.target_rate,
                            neuron_type=args.neuron_type, n_steps=args.n_steps,
                            tolerance=args.tolerance, max_iterations=args.max_iterations,
                            synapse=synapse, statistic=args.statistic)
    metadata = dict(network.metadata)
    metadata["calibration"] = {"target_rate_hz": cal.target_rate_hz,
                               "statistic": cal.statistic, "rates_hz": cal.rates_hz,
                               "plateau_fraction": cal.plateau_fraction,
                               "converged": cal.converged,
                               "iterations": len(cal.history), "n_images": len(x),
                               "n_steps": args.n_steps}
    calibrated = network.replace(neuron=cal.neuron_type, scale_firing_rates=cal.scales,
                                 synapse=synapse, metadata=metadata)
    state = "converged" if cal.converged else "NOT converged (best found is saved)"
    print(f"calibration {state} after {len(cal.history)} iteration(s), "
          f"target {cal.statistic} {cal.target_rate_hz:g} Hz, {cal.neuron_type} neurons:")
    for name in calibrated.neuron_layers:
        print(f"  {name:<12} scale {cal.scales[name]:10.4g}  rate "
              f"{cal.rates_hz.get(name, float('nan')):7.1f} Hz  on the 500 Hz plateau "
              f"{cal.plateau_fraction.get(name, 0.0):6.1%}")
    print(f"FrozenNetwork saved to {calibrated.save(out)}")
    return 0 if cal.converged or not args.strict else 1


def _inspect(args) -> int:
    network = _load_network(args.network)
    report = {"file": str(args.network), "neuron_type": network.neuron.to_dict(),
              "synapse_s": network.synapse, "dt_s": network.dt,
              "input_shape": list(network.input_shape),
              "layers": [{"name": n, "shape": list(network.layer_shape(n)),
                          "neurons": n in network.neuron_layers,
                          "scale": network.scale(n) if n in network.neuron_layers
                          else None,
                          "on_chip": n in network.on_chip_layers,
                          "block_shape": list(network.block_shapes[n])
                          if n in network.block_shapes else None}
                         for n in network.layer_names],
              "metadata_keys": sorted(network.metadata)}
    plan_text, note = None, None
    if args.plan:
        plan_text, note, plan = _core_plan(network)
        report["core_plan"] = plan.to_dict() if plan is not None else None
        report["core_plan_note"] = note
    if args.json:
        print(json.dumps(report, indent=2, default=_json_default))
        return 0
    print(f"{args.network}")
    print(network.summary())
    if network.metadata:
        facts = {k: v for k, v in network.metadata.items()
                 if isinstance(v, (str, int, float, bool)) or v is None}
        if facts:
            print("metadata: " + ", ".join(f"{k}={v}" for k, v in facts.items()))
        cal = network.metadata.get("calibration")
        if isinstance(cal, dict):  # free-form metadata may hold anything here
            print(f"calibration: target {cal.get('target_rate_hz')} Hz, converged "
                  f"{cal.get('converged')}")
    if args.plan:
        print("\nLoihi core plan (fullest core of each layer; % of the per-core limit):")
        if note:
            print(f"note: {note}")
        print(plan_text if plan_text else "(none)")
    return 0


def _json_default(value):
    """numpy scalars and arrays (the core plan's figures) as plain JSON."""
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _core_plan(network):
    """The Loihi core plan, or why there is none."""
    from .backends.loihi_planning import plan_loihi_cores

    if not network.on_chip_layers:
        return None, "no layer is on chip: nothing to map to Loihi cores", None
    note = None
    if not network.neuron.runs_on_loihi:
        note = (f"neuron type {network.neuron.name!r} cannot run on Loihi; planned as "
                "if it were 'loihi-relu' (same weights and scales)")
        network = network.replace(neuron="loihi-relu")
    plan = plan_loihi_cores(network)
    return plan.table(), note, plan


def _tune(args) -> int:
    """Delegates to snnkit.tuning's configuration runner (its owner documents the
    JSON format in snnkit/tuning/config.py)."""
    config = _input_file(args.config, "config", (".json",))
    from .tuning.config import run_chief, run_search, run_worker, with_objective
    from .tuning.pareto_files import write_pareto_files

    config = with_objective(str(config), args.objective)
    if args.chief:
        search = run_chief(config, address=args.address or "0.0.0.0", port=args.port,
                           expected_workers=args.workers)
    elif args.worker:
        if not args.address:
            raise _error("--address: a worker needs the chief's address, got none")
        run_worker(config, address=args.address, port=args.port,
                   worker_id=args.worker_id, chief_timeout_s=args.chief_timeout)
        return 0
    else:
        search = run_search(config)
    for path in write_pareto_files(search):
        print(f"wrote {path}")
    return 0


def _bench(args) -> int:
    from .bench import BenchConfig, check_backends, check_writable_dir, format_table

    network = _load_network(args.network)
    check_backends(args.backends)
    _check_count("--n-test", args.n_test, MNIST_TEST, "the MNIST test set's size")
    out = check_writable_dir(args.out, "--out")
    from .data import load_mnist
    from .bench import run_bench

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


def _backends(args) -> int:
    from .backends import backend_entries

    rows = [{"name": e.name, "available": e.is_available,
             "reason": e.unavailable_reason(), "description": e.description,
             "source": e.source} for e in backend_entries()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(row["name"]) for row in rows)
    for row in rows:
        state = "available" if row["available"] else "unavailable"
        print(f"{row['name']:<{width}}  {state:<11}  {row['description']}")
        if row["source"] != "snnkit":
            print(f"{'':<{width}}  {'':<11}  from {row['source']}")
        if not row["available"]:
            print(f"{'':<{width}}  {'':<11}  why: {row['reason']}")
    return 0


# --- parser ----------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .neurons import NEURON_TYPE_NAMES as neuron_types

    parser = _Parser(
        prog="snnkit", description="Keras models to spiking networks on Loihi.")
    parser.add_argument("--version", action="version", version=f"snnkit {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show full tracebacks on errors")
    # also accepted after the subcommand; SUPPRESS keeps it from resetting the above
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show full tracebacks on errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = commands.add_parser(
        "demo", parents=[common],
        help="the seed workflow on MNIST: train, calibrate, evaluate, freeze")
    demo.add_argument("--epochs", type=_int_at_least(1), default=2,
                      help="ReLU training epochs of the seed's procedure (default 2)")
    demo.add_argument("--target-rate", type=_positive_float, default=200.0,
                      help="the seed's calibration target, mean rate of active neurons "
                           "in Hz (default 200)")
    demo.add_argument("--extra-relu-epochs", type=_int_at_least(0), default=4,
                      help="best procedure: more ReLU epochs (default 4)")
    demo.add_argument("--loihi-epochs", type=_int_at_least(0), default=4,
                      help="best procedure: fine-tuning epochs with Loihi neurons at "
                           "calibrated scales (default 4)")
    demo.add_argument("--fine-tune-rate", type=_positive_float, default=250.0,
                      help="best procedure: calibration target in Hz (default 250)")
    demo.add_argument("--seed-only", action="store_true",
                      help="stop where the seed notebook stops (no best-procedure "
                           "stages)")
    demo.add_argument("--n-test", type=_int_at_least(1), default=1000,
                      help="test images for NengoDL evaluation (default 1000)")
    demo.add_argument("--n-emulator", type=_int_at_least(1), default=50,
                      help="test images for the Loihi emulator (default 50)")
    demo.add_argument("--n-fast", type=_int_at_least(0), default=10_000,
                      help="test images for loihi-emulator-fast (default 10000, all)")
    demo.add_argument("--latency", action="store_true",
                      help="also train the latency-first network (recipes."
                           "train_for_latency; 6-15 more minutes) and compare "
                           "accuracy at 5-30 steps and first-spike steps")
    demo.add_argument("--latency-relu-epochs", type=_int_at_least(1), default=40,
                      help="latency-first: ReLU epochs on shifted images (default 40)")
    demo.add_argument("--latency-time-epochs", type=_int_at_least(1), default=2,
                      help="latency-first: epochs of training through time (default 2)")
    demo.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    demo.add_argument("--quiet", action="store_true", help="no progress output")
    demo.set_defaults(func=_demo)

    train = commands.add_parser(
        "train", parents=[common],
        help="train a Keras model (file or the built-in 'seed') on MNIST with "
             "nengo-dl; write a FrozenNetwork",
        description="Train a Keras model on MNIST as a Nengo network (nengo-dl) and "
                    "save it as a FrozenNetwork file.")
    train.add_argument("--model", default="seed",
                       help="'seed' (the notebook's convnet) or a saved Keras model "
                            "file (.h5/.keras); default seed")
    train.add_argument("--out", required=True, help="FrozenNetwork file to write "
                       "(e.g. net.snn.npz)")
    train.add_argument("--epochs", type=_int_at_least(1), default=2,
                       help="training epochs (default 2)")
    train.add_argument("--neuron-type", default="relu", choices=neuron_types,
                       help="neuron type while training and in the saved network "
                            "(default relu: rates)")
    train.add_argument("--scale", type=_scale, default=None,
                       help="scale_firing_rates: a number or LAYER=SCALE,... "
                            "(default 1)")
    train.add_argument("--synapse", type=_synapse, default=None,
                       help="synapse of the saved network, s, or 'none' (default none)")
    train.add_argument("--rate-target", type=_rate_target, default=None,
                       help="firing-rate regularization: HZ or LOW:HIGH in Hz "
                            "(default none)")
    train.add_argument("--n-train", type=_int_at_least(1), default=MNIST_TRAIN,
                       help=f"training images (default {MNIST_TRAIN})")
    train.add_argument("--n-test", type=_int_at_least(0), default=0,
                       help="test images to evaluate on after training (default 0: "
                            "skip)")
    train.add_argument("--n-steps", type=_int_at_least(1), default=30,
                       help="steps per test image (default 30)")
    train.add_argument("--minibatch-size", type=_int_at_least(1), default=200,
                       help="default 200")
    train.add_argument("--learning-rate", type=_positive_float, default=0.001,
                       help="RMSprop learning rate (default 0.001)")
    train.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    train.add_argument("--checkpoint-dir", default=None,
                       help="folder for the checkpoint written after every epoch, "
                            "removed when training ends (default: OUT.checkpoints "
                            "next to --out)")
    train.add_argument("--resume", action="store_true",
                       help="continue a killed or interrupted training from its "
                            "checkpoint (same arguments); gives the weights an "
                            "uninterrupted run would")
    train.add_argument("--quiet", action="store_true", help="no progress output")
    train.set_defaults(func=_train)

    convert = commands.add_parser(
        "convert", parents=[common],
        help="a saved Keras model (.h5/.keras) to a FrozenNetwork file",
        description="Freeze a saved Keras model into a FrozenNetwork. The file is "
                    "checked against snnkit's layer allowlist before Keras reads it, "
                    "so a Lambda or custom layer is refused and no stored code runs.")
    convert.add_argument("model", nargs="?", default=None,
                         help="Keras model file (.h5 or .keras); omitted with --from-nir")
    convert.add_argument("--from-nir", metavar="FILE", default=None,
                         help="read a NIR graph file (.nir) instead of a Keras model")
    convert.add_argument("--out", required=True, help="FrozenNetwork file to write")
    convert.add_argument("--neuron-type", default=None, choices=neuron_types,
                         help="neuron type of the ReLU layers (default relu; with "
                              "--from-nir: the graph's)")
    convert.add_argument("--scale", type=_scale, default=None,
                         help="scale_firing_rates: a number or LAYER=SCALE,...")
    convert.add_argument("--synapse", type=_synapse, default=None,
                         help="lowpass synapse on neuron outputs, s, or 'none' "
                              "(default none)")
    convert.add_argument("--dt", type=_positive_float, default=None,
                         help="simulation step, s (default 0.001; with --from-nir: the "
                              "graph's snnkit metadata, else 0.001)")
    convert.add_argument("--off-chip", type=_names, default=None,
                         help="comma-separated layers that run on the host (default: "
                              "the first neuron layer and layers without neurons)")
    convert.set_defaults(func=_convert)

    calibrate = commands.add_parser(
        "calibrate", parents=[common],
        help="per-layer firing-rate scales measured with the neurons that will run",
        description="Calibrate per-layer scale_firing_rates of a FrozenNetwork so every "
                    "layer's mean active rate meets a target, measured with the neuron "
                    "type that will run (on MNIST training images).")
    calibrate.add_argument("network", help="FrozenNetwork file to read")
    calibrate.add_argument("--out", required=True, help="FrozenNetwork file to write")
    calibrate.add_argument("--target-rate", type=_positive_float, default=200.0,
                           help="target mean rate of active neurons, Hz (default 200)")
    calibrate.add_argument("--neuron-type", default="loihi-relu", choices=neuron_types,
                           help="neuron type to calibrate with and save (default "
                                "loihi-relu)")
    calibrate.add_argument("--synapse", type=_synapse, default="keep",
                           help="synapse to calibrate with and save, s, or 'none' "
                                "(default: the network's)")
    calibrate.add_argument("--n-images", type=_int_at_least(1), default=200,
                           help="training images to measure rates on (default 200)")
    calibrate.add_argument("--n-steps", type=_int_at_least(1), default=30,
                           help="steps per image (default 30)")
    calibrate.add_argument("--tolerance", type=_positive_float, default=0.1,
                           help="accepted relative rate error (default 0.1)")
    calibrate.add_argument("--max-iterations", type=_int_at_least(1), default=8,
                           help="default 8")
    calibrate.add_argument("--statistic", default="mean",
                           help="rate statistic brought to the target: 'mean' (active "
                                "neurons' mean rate, default) or a percentile like p99")
    calibrate.add_argument("--strict", action="store_true",
                           help="exit 1 if the calibration does not converge")
    calibrate.add_argument("--quiet", action="store_true", help="no progress output")
    calibrate.set_defaults(func=_calibrate)

    inspect = commands.add_parser(
        "inspect", parents=[common],
        help="summary of a FrozenNetwork: layers, neurons, scales, on/off chip, "
             "Loihi core plan",
        description="Print a FrozenNetwork's layers, neuron type, scales, on/off-chip "
                    "placement and its Loihi core plan and per-core utilization.")
    inspect.add_argument("network", help="FrozenNetwork file")
    inspect.add_argument("--json", action="store_true", help="print JSON instead")
    inspect.add_argument("--no-plan", dest="plan", action="store_false",
                         help="skip the Loihi core plan (it builds the network)")
    inspect.set_defaults(func=_inspect)

    tune = commands.add_parser(
        "tune", parents=[common],
        help="keras-tuner search over per-layer scales or rate targets (JSON config)",
        description="Run a search described by a JSON configuration (search 'scale' "
                    "or 'rate', network or model, data, options, export, summary; see "
                    "snnkit.tuning.config), locally or as the chief or a worker of a "
                    "distributed search.")
    tune.add_argument("config", help="JSON configuration file")
    tune.add_argument("--objective", default=None,
                      help="replace options.objective: a metric (accuracy, "
                           "synaptic_ops, ...), accuracy_at_steps/N, "
                           "steps_to_accuracy/X (X in %%), pareto or pareto/X; "
                           "pareto.csv and pareto.png go to the search directory")
    role = tune.add_mutually_exclusive_group()
    role.add_argument("--chief", action="store_true",
                      help="serve the oracle on --address:--port until all workers end")
    role.add_argument("--worker", action="store_true",
                      help="run trials for the chief at --address:--port")
    tune.add_argument("--address", default=None,
                      help="chief: address to listen on (default 0.0.0.0); worker: the "
                           "chief's address (required)")
    tune.add_argument("--port", type=_int_at_least(1), default=8000,
                      help="the chief's port (default 8000)")
    tune.add_argument("--workers", type=_int_at_least(1), default=None,
                      help="chief: wait until this many workers have checked in "
                           "before ending (a late worker then ends cleanly); default: "
                           "end when the last trial is done")
    tune.add_argument("--worker-id", default=None,
                      help="unique worker name (default: the process id)")
    tune.add_argument("--chief-timeout", type=_positive_float, default=120.0,
                      help="worker: seconds to wait for the chief to answer (default 120)")
    tune.set_defaults(func=_tune)

    bench = commands.add_parser(
        "bench", parents=[common],
        help="accuracy, latency, rates, energy estimate and speed of backends on the "
             "same MNIST test images",
        description="Run one FrozenNetwork on several backends with the same MNIST test "
                    "images; write bench.json, bench.csv, accuracy_by_step.csv and PNG "
                    "plots to --out. Finished cases (one per backend, in "
                    "OUT/cases/) are skipped when re-run with the same settings.")
    bench.add_argument("network", help="FrozenNetwork file")
    bench.add_argument("--backends", type=_names, default=("nengo-dl", "loihi-emulator"),
                       help="comma-separated backend names (default "
                            "nengo-dl,loihi-emulator)")
    bench.add_argument("--n-test", type=_int_at_least(1), default=1000,
                       help=f"MNIST test images, at most {MNIST_TEST} (default 1000)")
    bench.add_argument("--n-steps", type=_int_at_least(1), default=30,
                       help="time steps per image (default 30)")
    bench.add_argument("--max-images-slow", type=_int_at_least(1), default=50,
                       help="cap for the slow backends (nengo, loihi-emulator, loihi): "
                            "they run the first N of the same images (default 50)")
    bench.add_argument("--max-images", type=_caps, default=None,
                       help="per-backend caps, BACKEND=N,... (override the above)")
    bench.add_argument("--presentation", choices=("reset", "sequential"), default="reset",
                       help="each image from rest, or one stream (default reset)")
    bench.add_argument("--n-hist", type=_int_at_least(0), default=50,
                       help="images for the per-neuron rate histograms (default 50; "
                            "0 skips)")
    bench.add_argument("--n-plot", type=_int_at_least(0), default=3,
                       help="images whose outputs over time are plotted (default 3)")
    bench.add_argument("--no-plots", action="store_true", help="write no PNG files")
    bench.add_argument("--out", default="out/bench", help="output folder (default "
                       "out/bench)")
    bench.add_argument("--quiet", action="store_true", help="no progress output")
    bench.set_defaults(func=_bench)
    export = commands.add_parser(
        "export", parents=[common],
        help="write a FrozenNetwork as a NIR graph (for Lava/Loihi 2 and other NIR "
             "readers)",
        description="Write a FrozenNetwork in another format, atomically. nir: the "
                    "Neuromorphic Intermediate Representation (HDF5), read by Lava, "
                    "snnTorch, Norse, sinabs, Rockpool, Spyx, SpiNNaker2; see the "
                    "README's 'Leaving and entering snnkit'.")
    export.add_argument("network", help="FrozenNetwork file")
    export.add_argument("--format", required=True, choices=("nir",),
                        help="output format")
    export.add_argument("out", help="file to write (e.g. net.nir)")
    export.set_defaults(func=_export)

    backends = commands.add_parser(
        "backends", parents=[common],
        help="the registered backends: available here or why not, and what each is",
        description="List every registered backend (built-in or from a plugin's "
                    "entry point) with its availability on this machine, the reason "
                    "when it is unavailable, and its description.")
    backends.add_argument("--json", action="store_true", help="print JSON instead")
    backends.set_defaults(func=_backends)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"snnkit {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # one line for users; the traceback with --debug
        if args.debug:
            raise
        from .exceptions import SnnkitError

        kind = "error" if isinstance(e, (SnnkitError, OSError)) else type(e).__name__
        message = " ".join(str(e).split())  # one line, even for multi-line messages
        print(f"snnkit {args.command}: {kind}: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
