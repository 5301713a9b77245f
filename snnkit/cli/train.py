"""The ``train`` subcommand: train a Keras model on MNIST or ``--data`` and write a
FrozenNetwork.

Without ``--recipe``: one :meth:`snnkit.Trainer.fit`, with a checkpoint after every
epoch and ``--resume``. ``--recipe loihi`` calls :func:`snnkit.train_for_loihi` and
``--recipe latency`` :func:`snnkit.train_for_latency`, each option passed on as the
recipe's argument of the same meaning (:func:`recipe_arguments`), so the network is the
one the Python call gives with the same seed. An option a recipe has no use for is
refused, naming it, rather than ignored.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from snnkit.cli import arguments as A
from snnkit.cli.output import emit, note, progress

# each recipe's defaults where they differ from the plain fit's
DEFAULTS = {
    "none": {"epochs": 2, "neuron_type": "relu", "synapse": None, "readout": ("last",)},
    "loihi": {"epochs": 6, "fine_tune_epochs": 4, "neuron_type": "loihi-relu",
              "synapse": 0.005, "readout": ("last",), "target_rate": 250.0,
              "statistic": "mean"},
    "latency": {"epochs": 40, "fine_tune_epochs": 2, "readout": ("mean",)},
}
COMMON_DEFAULTS = {"optimizer": "rmsprop", "learning_rate": 1e-3,
                   "fine_tune_learning_rate": 1e-4, "minibatch_size": 200}
# options (dest: flag) a recipe has no use for: refused when given
NOT_USED = {
    "none": {"fine_tune_epochs": "--fine-tune-epochs",
             "fine_tune_learning_rate": "--fine-tune-learning-rate",
             "target_rate": "--target-rate", "statistic": "--statistic"},
    "loihi": {"scale": "--scale", "resume": "--resume",
              "checkpoint_dir": "--checkpoint-dir"},
    "latency": {"scale": "--scale", "resume": "--resume",
                "checkpoint_dir": "--checkpoint-dir", "optimizer": "--optimizer",
                "neuron_type": "--neuron-type", "target_rate": "--target-rate",
                "statistic": "--statistic", "rate_reg": "--rate-reg",
                "minibatch_size": "--minibatch-size"},
}
WHY_NOT = {"none": "it is a recipe's (--recipe loihi or latency)",
           "loihi": "the loihi recipe calibrates its scales and trains in stages, "
                    "without per-epoch checkpoints",
           "latency": "the latency recipe fixes it (Adam with cosine decay, Loihi "
                      "ReLU neurons at percentile scales, no synapse, minibatches of "
                      "200, no rate regularization, no checkpoints)"}


def run(args) -> int:
    settings = resolve(args)
    images = A.Images(args.data, ("train", "test") if args.n_test else ("train",))
    x_all, y_all, _ = images.take("train", "--n-train", args.n_train)
    train, val = split_validation(args, settings, x_all, y_all)
    x_test, y_test, _ = images.take("test", "--n-test", args.n_test) if args.n_test \
        else (None, None, None)
    out = A.output_file(args.out, inputs=[
        ("--data", args.data), ("--model", None if args.model == "seed" else args.model)])
    if args.log_dir is not None:
        from snnkit.bench import check_writable_dir

        check_writable_dir(args.log_dir, "--log-dir")
    from snnkit.network.neurons import neuron_spec

    if settings.get("neuron_type"):
        neuron_spec(settings["neuron_type"])  # a bad name fails before any work
    if args.n_test:
        _check_backend(args.backend)
    if args.recipe == "none":
        checkpoints = _train_checkpoint_dir(args, out)
    model = A.load_model(args.model, args.seed, args.max_pool)
    if args.n_test:  # the test images are checked now, not after the training
        A.check_model_data(model, x_test, y_test,
                           "--data test" if args.data else "MNIST test")

    if args.recipe == "none":
        network, facts = _fit(args, settings, model, train, val, checkpoints)
    elif args.recipe == "loihi":
        network, facts = _loihi(args, settings, model, train, val)
    else:
        network, facts = _latency(args, settings, model, train, val)

    metadata = dict(network.metadata, procedure="snnkit train", model=args.model,
                    n_train=len(train[0]), n_val=0 if val is None else len(val[0]),
                    rate_reg_hz=settings.get("rate_reg"))
    metadata.update(facts.pop("metadata", {}))
    if args.model == "seed" and args.data is None:
        # a fresh network: these are all the (MNIST) images it has seen (the held-out
        # ones chose between networks, so they count as seen)
        from snnkit.data.datasets import DATA_RECORD_KEY, mnist_record

        metadata[DATA_RECORD_KEY] = mnist_record((0, len(x_all)))
    network = network.replace(metadata=metadata)
    test = None
    if args.n_test:
        from snnkit.network.measured import record_measurement

        test = _test(args, network, x_test, y_test)
        # stamped with this network's state: a later calibration or fine-tuning
        # makes another network, which must not show these figures as its own
        conditions = {"backend": test["backend"], "n_steps": test["n_steps"],
                      "n_images": test["n_images"]}
        network = record_measurement(network, "test_accuracy", test["accuracy"],
                                     conditions)
        network = record_measurement(network, "test_rates_hz", test["rates_hz"],
                                     conditions, independent_of=("readout",))
    for stage, epochs in facts["history"].items():
        if epochs:
            last = flat_log(epochs[-1])
            text = ", ".join(f"{k} {100 * last[k]:.2f}%" for k in ("accuracy",
                             "val_accuracy") if last.get(k) is not None)
            print(f"{stage} ({len(epochs)} epochs), last epoch: {text}")
    if test is not None:
        print(f"test accuracy ({network.neuron.name}, {test['backend']}, "
              f"{args.n_steps} steps, {test['n_images']} images): "
              f"{100 * test['accuracy']:.2f}%")
    path = network.save(out)
    print(f"FrozenNetwork saved to {path}")
    A.note_readout(network)
    if args.recipe == "none":
        # the training is finished: its checkpoint has nothing left to resume
        (checkpoints / "last.npz").unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            checkpoints.rmdir()  # only if empty
    from snnkit.cli.convert import network_facts

    emit(args, {"command": "train", "recipe": args.recipe, "network": path,
                "model": args.model, "n_train": len(train[0]),
                "n_val": 0 if val is None else len(val[0]), **facts, "test": test,
                "log_dir": args.log_dir, **network_facts(network)})
    return 0


def resolve(args) -> dict:
    """The settings of this run: each option as given, or the recipe's default.

    Raises
    ------
    ValidationError
        For an option the recipe has no use for, naming it and why.
    """
    recipe = args.recipe
    for dest, flag in NOT_USED[recipe].items():
        value = getattr(args, dest)
        if value not in (None, False):
            raise A.error(f"{flag}: not used with --recipe {recipe} "
                          f"({WHY_NOT[recipe]}), got {value!r}")
    if recipe == "latency":
        if args.synapse != "auto":
            raise A.error(f"--synapse: not used with --recipe latency (its network has "
                          f"no synapse by design), got {args.synapse!r}")
        if args.max_pool != "refuse":
            raise A.error("--max-pool: not used with --recipe latency (the recipe "
                          "takes no max pooling), got 'average'")
    settings = dict(COMMON_DEFAULTS, **DEFAULTS[recipe])
    for dest in ("epochs", "fine_tune_epochs", "optimizer", "learning_rate",
                 "fine_tune_learning_rate", "neuron_type", "readout", "target_rate",
                 "statistic", "minibatch_size", "rate_reg", "scale"):
        value = getattr(args, dest)
        if value is not None:
            settings[dest] = value
    if args.synapse != "auto":
        settings["synapse"] = args.synapse
    if recipe == "none" and settings["epochs"] < 1:
        raise A.error(f"--epochs: expected an int >= 1 without --recipe (0 is for a "
                      f"recipe starting from the model's weights), got "
                      f"{settings['epochs']}")
    readouts = settings["readout"]
    if recipe == "latency" and readouts != ("mean",):
        raise A.error(f"--readout: the latency recipe reads the output as its running "
                      f"mean ('mean'), got {','.join(readouts)!r}")
    if len(readouts) > 1 and (recipe != "loihi" or args.val_split is None):
        raise A.error(f"--readout: several readouts ({','.join(readouts)}) are "
                      "candidates to choose from: they need --recipe loihi and "
                      "--val-split (the held-out images they are chosen on)")
    return settings


def split_validation(args, settings: dict, x, y):
    """``(train, val)``: the last ``--val-split`` of the images held out (``val``
    None without it)."""
    if args.val_split is None:
        return (x, y), None
    n_val = int(round(args.val_split * len(x)))
    if not 1 <= n_val < len(x):
        raise A.error(f"--val-split: {args.val_split:g} of {len(x)} training images "
                      f"holds out {n_val}; expected at least 1 and fewer than all")
    batch = settings["minibatch_size"]
    if args.recipe == "none" and n_val < batch:
        raise A.error(f"--val-split: holds out {n_val} images, fewer than one "
                      f"minibatch (--minibatch-size {batch}): nengo-dl validates whole "
                      "minibatches; hold out more or take smaller minibatches")
    n_train = len(x) - n_val
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])


# --- the three ways to train --------------------------------------------------------
def _fit(args, settings, model, train, val, checkpoints):
    from snnkit.training.callbacks import ModelCheckpoint
    from snnkit.training.trainer import Trainer

    saver = ModelCheckpoint(checkpoints, save_best=False)
    trainer = Trainer(max_epochs=settings["epochs"],
                      minibatch_size=settings["minibatch_size"],
                      optimizer=settings["optimizer"],
                      learning_rate=settings["learning_rate"],
                      neuron_type=settings["neuron_type"],
                      scale_firing_rates=settings.get("scale"),
                      synapse=settings["synapse"], rate_reg_hz=settings.get("rate_reg"),
                      seed=args.seed,
                      callbacks=[saver] + stage_callbacks(args, val)("fit"),
                      enable_progress_bar=progress(args), max_pool=args.max_pool)
    last = saver.last_path
    if last.is_file():
        note(args, f"resuming from {last}")
    history = epochs_of(trainer.fit(model, train, val,
                                    ckpt_path=last if last.is_file() else None))
    network = trainer.freeze(model).replace(readout=settings["readout"][0])
    return network, {"history": {"fit": history},
                     "metadata": {"epochs": len(history), "train_history": history}}


def _loihi(args, settings, model, train, val):
    from snnkit.training.recipes import train_for_loihi

    trained = train_for_loihi(model, train, **recipe_arguments(args, settings, val))
    history = {"relu": epochs_of(trained.relu_history),
               "fine-tune": epochs_of(trained.loihi_history)}
    cal = trained.calibration
    facts = {"history": history, "selected": trained.selected,
             "calibration": {"target_rate_hz": cal.target_rate_hz,
                             "statistic": cal.statistic, "rates_hz": cal.rates_hz,
                             "converged": cal.converged,
                             "plateau_fraction": cal.plateau_fraction},
             "selection_accuracy": trained.network.metadata.get("selection_accuracy")}
    if val is not None:
        print(f"kept the {trained.selected} network, readout "
              f"{trained.network.readout!r} (chosen on {len(val[0])} held-out images)")
    state = "converged" if cal.converged else "NOT converged"
    print(f"calibration {state}: {cal.statistic} rate per layer, target "
          f"{cal.target_rate_hz:g} Hz: " + ", ".join(
              f"{n} {r:.0f} Hz" for n, r in cal.rates_hz.items()))
    return trained.network, facts


def _latency(args, settings, model, train, val):
    from snnkit.training.recipes import train_for_latency

    kwargs = recipe_arguments(args, settings, val)
    loggers = _latency_loggers(args)
    if loggers is not None:
        kwargs["relu_callbacks"] = list(kwargs.get("relu_callbacks", ())) + \
            [loggers.keras_callback("relu")]
    trained = train_for_latency(model, train, **kwargs)
    history = {"relu": epochs_of(trained.relu_history),
               "time-steps": epochs_of(trained.time_history)}
    if loggers is not None:  # its training through time takes no callbacks
        loggers.write("time-steps", history["time-steps"])
        loggers.close()
    return trained.network, {"history": history,
                             "initial_scales": trained.initial_scales}


def fit_validation(args, settings: dict, val):
    """The held-out images the loihi recipe's fits validate on: ``val``, or None when
    they are fewer than one minibatch (nengo-dl validates whole minibatches; they
    then only choose between networks, as ``benchmarks/bench_conversion.py`` uses
    them)."""
    if val is None or len(val[0]) >= settings["minibatch_size"]:
        return val
    note(args, f"note: the {len(val[0])} held-out images are fewer than one minibatch "
         f"({settings['minibatch_size']}): they choose between the networks, but the "
         "fits report no val_loss" + (" (--patience watches loss)"
                                      if args.patience is not None else ""))
    return None


def recipe_arguments(args, settings: dict, val) -> dict:
    """The keyword arguments of ``--recipe``'s function for these options.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options.
    settings : dict
        :func:`resolve`'s settings.
    val : tuple or None
        The held-out ``(x, y)``.

    Returns
    -------
    dict
        For :func:`snnkit.train_for_loihi` or :func:`snnkit.train_for_latency`
        (without the model and the training data).
    """
    if args.recipe == "loihi":
        fit_val = fit_validation(args, settings, val)
        return dict(relu_epochs=settings["epochs"],
                    loihi_epochs=settings["fine_tune_epochs"],
                    target_rate_hz=settings["target_rate"],
                    synapse=settings["synapse"], n_steps=args.n_steps,
                    fine_tune_learning_rate=settings["fine_tune_learning_rate"],
                    rate_reg_hz=settings.get("rate_reg"),
                    neuron_type=settings["neuron_type"], seed=args.seed,
                    callbacks=stage_callbacks(args, fit_val),
                    enable_progress_bar=progress(args), val_data=fit_val,
                    statistic=settings["statistic"],
                    minibatch_size=settings["minibatch_size"],
                    readout=settings["readout"], select_on=val,
                    max_pool=args.max_pool, optimizer=settings["optimizer"],
                    learning_rate=settings["learning_rate"])
    kwargs = dict(relu_epochs=settings["epochs"],
                  time_epochs=settings["fine_tune_epochs"],
                  learning_rate=settings["fine_tune_learning_rate"],
                  relu_learning_rate=settings["learning_rate"], seed=args.seed,
                  progress=progress(args), val_data=val)
    if args.patience is not None:
        from snnkit.utils.stack import import_tensorflow

        tf = import_tensorflow()
        # its ReLU stage is a Keras fit without validation: the training loss
        kwargs["relu_callbacks"] = [tf.keras.callbacks.EarlyStopping(
            monitor="loss", patience=args.patience)]
    return kwargs


def stage_callbacks(args, val):
    """``callbacks(stage)``: each stage's own early stopping and loggers (a recipe's
    stages each start afresh and log to ``--log-dir/<stage>/``)."""
    def callbacks(stage: str) -> list:
        from snnkit.training.callbacks import CSVLogger, EarlyStopping, TensorBoardLogger

        made = []
        if args.patience is not None:
            made.append(EarlyStopping("val_loss" if val is not None else "loss",
                                      patience=args.patience))
        if args.log_dir is not None:
            folder = Path(args.log_dir) / stage
            made += [CSVLogger(folder / "metrics.csv"), TensorBoardLogger(folder)]
        return made
    return callbacks


def _check_backend(name: str) -> None:
    from snnkit.bench import check_backends
    from snnkit.exceptions import SnnkitError

    try:
        check_backends((name,))
    except SnnkitError as e:  # its message names "backends"
        raise type(e)("--backend" + str(e).removeprefix("backends")) from None


def _test(args, network, x, y) -> dict:
    from snnkit.backends import get_backend

    result = get_backend(args.backend).run(network, x, n_steps=args.n_steps,
                                           progress=progress(args))
    return {"accuracy": result.accuracy(y), "n_images": len(x), "backend": args.backend,
            "n_steps": args.n_steps, "rates_hz": result.layer_rates_hz}


def epochs_of(history) -> list[dict]:
    """Per-epoch logs as a list of dicts, from a list of dicts or a Keras-style
    ``History`` (``.history``: ``{metric: [value per epoch]}``)."""
    logs = getattr(history, "history", None)
    if isinstance(logs, dict):
        n = max((len(v) for v in logs.values()), default=0)
        return [{"epoch": i, **{k: v[i] for k, v in logs.items() if i < len(v)}}
                for i in range(n)]
    return [dict(epoch) for epoch in history]


class _Loggers:
    """``--log-dir`` for the latency recipe: snnkit's CSV and TensorBoard loggers fed
    from its Keras ReLU fit (live) and from its training-through-time history."""

    def __init__(self, root: Path):
        self.root = root
        self.stages = {}

    def write(self, stage: str, history: list) -> None:
        """Log ``history`` (every epoch so far) as ``stage``'s; epochs logged before
        are not logged again."""
        from types import SimpleNamespace

        from snnkit.training.callbacks import CSVLogger, TensorBoardLogger

        rows = [flat_log(row) for row in history]
        owner = SimpleNamespace(history=rows, default_root_dir=self.root / stage)
        if stage not in self.stages:
            folder = self.root / stage
            self.stages[stage] = [CSVLogger(folder / "metrics.csv"),
                                  TensorBoardLogger(folder), 0]
            for logger in self.stages[stage][:2]:
                logger.on_fit_start(owner)
        csv_logger, board, done = self.stages[stage]
        for row in rows[done:]:
            board.on_epoch_end(owner, row["epoch"], row)
            csv_logger.on_epoch_end(owner, row["epoch"], row)
        self.stages[stage][2] = len(rows)

    def close(self) -> None:
        """Close the TensorBoard files."""
        for _, board, _ in self.stages.values():
            board.on_fit_end(None)

    def keras_callback(self, stage: str):
        """A Keras callback that logs each epoch as ``stage``'s."""
        from snnkit.utils.stack import import_tensorflow

        tf = import_tensorflow()
        loggers = self

        class Live(tf.keras.callbacks.Callback):
            rows: list = []

            def on_epoch_end(self, epoch, logs=None):
                self.rows = self.rows + [
                    {"epoch": epoch, **{k: float(v) for k, v in (logs or {}).items()}}]
                loggers.write(stage, self.rows)

        return Live()


def flat_log(row: dict) -> dict:
    """One epoch's log with numbers only: a per-step list gives its last step's value
    (``accuracy_by_step`` -> ``accuracy``), a dict one entry per key
    (``scales`` -> ``scales/<layer>``)."""
    flat = {}
    for key, value in row.items():
        if isinstance(value, (list, tuple)):
            if value:
                flat[key.removesuffix("_by_step")] = float(value[-1])
        elif isinstance(value, dict):
            flat.update({f"{key}/{k}": float(v) for k, v in value.items()})
        else:
            flat[key] = value
    return flat


def _latency_loggers(args):
    return None if args.log_dir is None else _Loggers(Path(args.log_dir))


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
        note(args, f"--resume: no checkpoint at {str(last)!r} yet; training from the "
             "start")
    return checkpoints
