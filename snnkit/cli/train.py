"""The ``train`` subcommand: train a Keras model on MNIST with nengo-dl, with a checkpoint
after every epoch and ``--resume``; write a FrozenNetwork."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from . import arguments as A


def register(commands, common) -> None:
    parser = commands.add_parser(
        "train", parents=[common],
        help="train a Keras model (file or the built-in 'seed') on MNIST with "
             "nengo-dl; write a FrozenNetwork",
        description="Train a Keras model on MNIST as a Nengo network (nengo-dl) and "
                    "save it as a FrozenNetwork file.")
    parser.add_argument("--model", default="seed",
                        help="'seed' (the notebook's convnet) or a saved Keras model "
                             "file (.h5/.keras); default seed")
    A.add_out_file(parser, "FrozenNetwork file to write (e.g. net.snn.npz)")
    parser.add_argument("--epochs", type=A.int_at_least(1), default=2,
                        help="training epochs (default 2)")
    A.add_saved_neurons(parser, "relu", "neuron type while training and in the saved "
                                        "network (default relu: rates)",
                        "synapse of the saved network, s, or 'none' (default none)")
    parser.add_argument("--rate-target", type=A.rate_target, default=None,
                        help="firing-rate regularization: HZ or LOW:HIGH in Hz "
                             "(default none)")
    parser.add_argument("--n-train", type=A.int_at_least(1), default=A.MNIST_TRAIN,
                        help=f"training images (default {A.MNIST_TRAIN})")
    parser.add_argument("--n-test", type=A.int_at_least(0), default=0,
                        help="test images to evaluate on after training (default 0: "
                             "skip)")
    A.add_n_steps(parser, "steps per test image")
    parser.add_argument("--minibatch-size", type=A.int_at_least(1), default=200,
                        help="default 200")
    parser.add_argument("--learning-rate", type=A.positive_float, default=0.001,
                        help="RMSprop learning rate (default 0.001)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--checkpoint-dir", default=None,
                        help="folder for the checkpoint written after every epoch, "
                             "removed when training ends (default: OUT.checkpoints "
                             "next to --out)")
    parser.add_argument("--resume", action="store_true",
                        help="continue a killed or interrupted training from its "
                             "checkpoint (same arguments); gives the weights an "
                             "uninterrupted run would")
    A.add_quiet(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    A.check_count("--n-train", args.n_train, A.MNIST_TRAIN, "the MNIST training set's size")
    A.check_count("--n-test", args.n_test, A.MNIST_TEST, "the MNIST test set's size")
    out = A.output_file(args.out)
    checkpoints = _train_checkpoint_dir(args, out)
    from ..neurons import neuron_spec

    neuron_spec(args.neuron_type)  # a bad name fails before the data is loaded
    model = A.load_model(args.model, args.seed)
    from ..callbacks import ModelCheckpoint
    from ..data import load_mnist
    from ..trainer import Trainer

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
    if args.model == "seed":  # a fresh network: these are all the images it has seen
        from ..data import DATA_RECORD_KEY, mnist_record

        metadata[DATA_RECORD_KEY] = mnist_record((0, len(x_train)))
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
    from .._io import remove_stale_temp_files

    checkpoints = Path(args.checkpoint_dir) if args.checkpoint_dir is not None \
        else out.parent / f"{out.name}.checkpoints"
    if checkpoints.exists() and not checkpoints.is_dir():
        raise A.error(f"--checkpoint-dir: expected a folder, got a file: "
                     f"{str(checkpoints)!r}")
    remove_stale_temp_files(checkpoints, names=("last.npz",))
    remove_stale_temp_files(out.parent if str(out.parent) else Path("."), names=(out.name,))
    last = checkpoints / "last.npz"
    if last.is_file() and not args.resume:
        raise A.error(
            f"--resume: {str(last)!r} holds the checkpoint of an unfinished training; "
            "pass --resume to continue it, or delete it (or give another "
            "--checkpoint-dir) to start again")
    if args.resume and not last.is_file():
        print(f"--resume: no checkpoint at {str(last)!r} yet; training from the start",
              file=sys.stderr)
    return checkpoints
