"""The ``train`` subcommand: train a Keras model on MNIST or ``--data`` with nengo-dl,
with a checkpoint after every epoch and ``--resume``; write a FrozenNetwork."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from snnkit.cli import arguments as A


def run(args) -> int:
    images = A.Images(args.data)
    x_train, y_train, _ = images.take("train", "--n-train", args.n_train)
    x_test, y_test, _ = images.take("test", "--n-test", args.n_test) if args.n_test \
        else (None, None, None)
    out = A.output_file(args.out)
    checkpoints = _train_checkpoint_dir(args, out)
    from snnkit.network.neurons import neuron_spec

    neuron_spec(args.neuron_type)  # a bad name fails before the data is loaded
    model = A.load_model(args.model, args.seed, args.max_pool)
    from snnkit.training.callbacks import ModelCheckpoint
    from snnkit.training.trainer import Trainer

    saver = ModelCheckpoint(checkpoints, save_best=False)
    trainer = Trainer(max_epochs=args.epochs, minibatch_size=args.minibatch_size,
                      learning_rate=args.learning_rate, neuron_type=args.neuron_type,
                      scale_firing_rates=args.scale, synapse=args.synapse,
                      rate_target_hz=args.rate_target, seed=args.seed,
                      callbacks=[saver], enable_progress_bar=not args.quiet,
                      max_pool=args.max_pool)
    last = saver.last_path
    if last.is_file():
        print(f"resuming from {last}", file=sys.stderr)
    history = trainer.fit(model, (x_train, y_train),
                          ckpt_path=last if last.is_file() else None)
    metadata = {"procedure": "snnkit train", "model": args.model,
                "epochs": len(history), "n_train": len(x_train),
                "train_history": history, "rate_target_hz": args.rate_target}
    if args.model == "seed" and args.data is None:
        # a fresh network: these are all the (MNIST) images it has seen
        from snnkit.data.datasets import DATA_RECORD_KEY, mnist_record

        metadata[DATA_RECORD_KEY] = mnist_record((0, len(x_train)))
    network = trainer.freeze(model, metadata=metadata).replace(readout=args.readout)
    if args.n_test:
        from snnkit.network.measured import record_measurement

        result = trainer.evaluate(network, x_test, y_test, n_steps=args.n_steps)
        # stamped with this network's state: a later calibration or fine-tuning
        # makes another network, which must not show these figures as its own
        conditions = {"backend": "nengo-dl", "n_steps": args.n_steps,
                      "n_images": len(x_test)}
        accuracy = result.accuracy(y_test)
        network = record_measurement(network, "test_accuracy", accuracy, conditions)
        network = record_measurement(network, "test_rates_hz", result.layer_rates_hz,
                                     conditions)
        print(f"test accuracy ({network.neuron.name}, nengo-dl, {args.n_steps} steps, "
              f"{len(x_test)} images): {100 * accuracy:.2f}%")
    print(f"train accuracy (last epoch): {100 * history[-1]['accuracy']:.2f}%")
    print(f"FrozenNetwork saved to {network.save(out)}")
    A.note_readout(network)
    # the training is finished: its checkpoint has nothing left to resume
    last.unlink()
    with contextlib.suppress(OSError):
        checkpoints.rmdir()  # only if empty
    return 0


def _train_checkpoint_dir(args, out: Path) -> Path:
    """Where ``snnkit train`` keeps ``last.npz`` while it runs (removed at the end),
    checked against ``--resume``; temporary files of killed runs are removed."""
    from snnkit.utils.files import remove_stale_temp_files

    checkpoints = Path(args.checkpoint_dir) if args.checkpoint_dir is not None \
        else out.parent / f"{out.name}.checkpoints"
    if checkpoints.exists() and not checkpoints.is_dir():
        raise A.error(f"--checkpoint-dir: expected a folder, got a file: "
                     f"{str(checkpoints)!r}")
    remove_stale_temp_files(checkpoints, names=("last.npz",))
    remove_stale_temp_files(out.parent if str(out.parent) else Path("."),
                            names=(out.name,))
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
