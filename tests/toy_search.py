"""A search whose trials cost nothing, for tests of the search machinery itself (state
files, kills, locks): one hyperparameter ``x`` in [0, 1], and ``accuracy = x``;
trial ``"1"`` fails (a failed trial is a result, and as final as a completed one). It
runs the real :class:`~snnkit.tuning.tuner.SnnSearch` code path (oracle, state
files, lock, trial loop); only the evaluation is trivial.

Also a script: ``python toy_search.py DIRECTORY MAX_TRIALS ORACLE KILL_AT`` runs the
search and SIGKILLs itself just before the rename of its ``KILL_AT``-th state write
(0: never), leaving the temporary file behind as a real kill would."""

from __future__ import annotations

import os
import signal
import sys

from keras_tuner import HyperParameters
from keras_tuner.errors import FailedTrialError

from snnkit.tuning.tuner import SnnSearch


class ToySearch(SnnSearch):
    default_project_name = "toy"

    def __init__(self, directory, *, max_trials=3, oracle="random", **options):
        hp = HyperParameters()
        hp.Float("x", 0.0, 1.0)
        self.evaluated = []  # trial ids run by this object, in order
        self.gate = None  # a threading.Event to wait on in each trial, if set
        options.setdefault("hyperband_max_budget", 3)
        super().__init__(hyperparameters=hp, reported=("accuracy",), objective="accuracy",
                         oracle=oracle, max_trials=max_trials, directory=directory,
                         **options)

    def evaluate_trial(self, trial) -> dict:
        self.evaluated.append(trial.trial_id)
        if self.gate is not None:
            self.gate.wait(60)
        if trial.trial_id == "1":
            raise FailedTrialError("trial 1 always fails")
        return {"accuracy": float(trial.hyperparameters.values["x"])}


def kill_at_write(k: int) -> None:
    """Make the ``k``-th atomic write of the search state SIGKILL this process once
    its temporary file is written, before the rename."""
    import contextlib

    import snnkit.tuning.state as state

    real = state.atomic_write
    count = [0]

    @contextlib.contextmanager
    def dying(path, mode="wb"):
        count[0] += 1
        if count[0] != k:
            with real(path, mode) as f:
                yield f
            return
        with real(path, mode) as f:
            yield f
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    state.atomic_write = dying


if __name__ == "__main__":
    directory, max_trials, oracle, kill_at = sys.argv[1:5]
    if int(kill_at):
        kill_at_write(int(kill_at))
    ToySearch(directory, max_trials=int(max_trials), oracle=oracle).search()
