"""Where a search keeps its records, and who may write them.

**One state file.** keras-tuner keeps a search in ``oracle.json`` (the oracle) plus one
``trial_<id>/trial.json`` per trial, written one after the other: a kill between two
of those writes leaves them disagreeing (a trial recorded COMPLETED that the oracle
still lists as running is run again; a trial recorded RUNNING that the oracle never
heard of is stuck and the search ends one short). Here ``oracle.json`` holds the
oracle's state *and every trial*, written atomically in one step, so a kill at any
instant leaves the search as it was after some whole step.

``trial.json`` files are still written, for people and tools reading the folder, but
*after* ``oracle.json``: keras-tuner's oracle saves a trial through the public
``Trial.save`` whenever the trial changes (just before it saves its own state, and
when a result is reported); the oracle's trials are :class:`AtomicTrial` objects,
whose ``save`` only hands the text to the oracle, which writes it, atomically, once
``oracle.json`` holds the same step. So a trial's result reaches the disk first in
``oracle.json``, and a kill at any instant leaves the trial files at most one step
*behind* the state, never ahead of it: no result is on disk that the state does not
record, so no trial whose result reached the disk is ever run again. A resumed search
rewrites the trial files that are behind. They are never read back when
``oracle.json`` has the trials: ``oracle.json`` is the authority.

On reload, every field of the state is checked first
(:mod:`snnkit.tuning.state_check`: the schema, trial ids, statuses, finite scores,
values inside the search space), then a trial still running when the process died is
run again (keras-tuner's own retry queue), and a trial recorded as finished is never
run again.

Everything here goes through keras-tuner's public API: the ``Oracle`` methods
``get_state``/``set_state``/``save``/``reload`` and ``Trial.save``/``from_state``.

**One writer.** :class:`SearchLock` is an exclusive ``flock`` on
``<project>/search.lock`` (which also holds the owner's pid, for the message): a
second search on the same project is refused while the first runs. The kernel drops
the lock when its process dies, so the lock of a killed search is taken over at once.
"""
from __future__ import annotations

import glob
import json
import logging
import os
import shutil

from keras_tuner.engine.trial import Trial, TrialStatus

from snnkit.utils.files import atomic_write, remove_stale_temp_files

from .errors import SearchLockedError
from .state_check import read_search_state

STATE_FILE = "oracle.json"
TRIAL_FILE = "trial.json"
LOCK_FILE = "search.lock"
_FINAL = (TrialStatus.COMPLETED, TrialStatus.FAILED)  # never run again

log = logging.getLogger(__name__)


class AtomicTrial(Trial):
    """A keras-tuner ``Trial`` whose ``save`` never writes ahead of the search state.

    ``save`` is how keras-tuner writes ``trial.json``. A trial held by a
    :class:`OneFileState` oracle hands its text to the oracle (``snnkit_pending``),
    which writes it after ``oracle.json``; any other one replaces the file
    atomically at once. A reader or a kill never sees a file half-written.
    """

    snnkit_pending = None  # {file name: text} of the oracle holding the trial

    def save(self, fname):
        text = json.dumps(self.get_state())
        if self.snnkit_pending is not None:
            self.snnkit_pending[os.fspath(fname)] = text
        else:
            _write_text(fname, text)
        return text


class AtomicTrials(dict):
    """An oracle's ``trials``, in which a trial put in becomes an :class:`AtomicTrial`.

    ``{trial_id: Trial}``. A trial becomes an ``AtomicTrial`` bound to this
    container's ``pending`` writes before keras-tuner saves it; it stays the same
    object, so keras-tuner's other references to it stay valid.

    Attributes
    ----------
    pending : dict
        ``{trial file: text}`` saved by the trials, not written yet.
    """

    def __init__(self, trials=()):
        super().__init__()
        self.pending = {}
        for trial_id, trial in dict(trials).items():
            self[trial_id] = trial

    def __setitem__(self, trial_id, trial):
        if not isinstance(trial, AtomicTrial):
            trial.__class__ = AtomicTrial
        trial.snnkit_pending = self.pending
        super().__setitem__(trial_id, trial)


class OneFileState:
    """Mixin for a keras-tuner ``Oracle``: the whole search in one atomic file.

    The file is read back only after every field is checked
    (:mod:`snnkit.tuning.state_check`); trial files are written atomically
    (:class:`AtomicTrial`). Set the attributes below before the tuner's constructor
    reloads the oracle.

    Attributes
    ----------
    state_path : str
        The project's ``oracle.json``.
    oracle_kind : {"random", "bayesian", "hyperband"}
        The oracle's kind.
    metric_names : frozenset
        The metrics every finished trial reports.
    """

    state_path: str
    oracle_kind: str
    metric_names: frozenset

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.trials = AtomicTrials()
        self.saved_state_text = None
        self.written_trial_files = {}  # {file: text} as this process last wrote it

    def get_state(self):
        state = super().get_state()
        state["trials"] = {trial_id: trial.get_state()
                           for trial_id, trial in self.trials.items()}
        return state

    def set_state(self, state):
        self.trials = AtomicTrials({trial_id: AtomicTrial.from_state(trial_state)
                                    for trial_id, trial_state in state["trials"].items()})
        super().set_state(state)

    def save(self):
        """Write the state atomically, if it changed since the last write; then the
        trial files saved since, each atomically (never before the state)."""
        text = json.dumps(self.get_state())
        if text != self.saved_state_text:
            _write_text(self.state_path, text)
            self.saved_state_text = text
        pending = self.trials.pending
        while pending:
            fname, trial_text = next(iter(pending.items()))
            if self.written_trial_files.get(fname) != trial_text \
                    and _file_text(fname, len(trial_text)) != trial_text:
                _write_text(fname, trial_text)
            self.written_trial_files[fname] = trial_text
            del pending[fname]

    def reload(self):
        """Read the state file, check it, repair it, then hand it to keras-tuner.

        Every field is checked against this search (its space, metrics and oracle),
        and what a kill can leave is repaired (:func:`repair_state`). A search saved
        in keras-tuner's own layout (trials in their ``trial.json`` files only) has
        those files read and checked the same way.
        """
        self.saved_state_text = None
        space = json.loads(json.dumps(self.hyperparameters.get_config()["space"]))
        state = read_search_state(self.state_path, space_config=space,
                                  metric_names=self.metric_names,
                                  oracle=self.oracle_kind, trial_files=_trial_files)
        self.set_state(repair_state(state))
        # the trial files a kill left behind the state are rewritten by the next save
        project = os.path.dirname(self.state_path)
        for trial_id, trial in self.trials.items():
            trial.save(os.path.join(project, f"trial_{trial_id}", TRIAL_FILE))


def repair_state(state: dict) -> dict:
    """Make the trials and the oracle's lists agree, and queue what must run again.

    keras-tuner's ``end_trial`` saves a finished trial while it is still listed as
    ongoing (it drops it just after); a search in keras-tuner's own layout killed
    between its separate files can disagree more. So: a finished trial is kept and no
    longer ongoing; an INVALID one is already queued for its retry; any other ongoing
    trial, and a RUNNING trial that no tuner holds, is queued to run again (as
    keras-tuner's reload queues ongoing trials).

    Parameters
    ----------
    state : dict
        A checked search state.

    Returns
    -------
    dict
        The repaired state (a copy) with no ongoing trial.
    """
    state = dict(state, retry_queue=list(state["retry_queue"]),
                 end_order=list(state["end_order"]))
    trials = state["trials"]
    queued = state["retry_queue"]
    for trial_id in state["ongoing_trials"].values():
        status = trials[trial_id]["status"]
        if status in _FINAL:
            if trial_id not in state["end_order"]:
                state["end_order"].append(trial_id)
        elif status != TrialStatus.INVALID and trial_id not in queued:
            queued.append(trial_id)
    for trial_id, trial in trials.items():
        if trial["status"] == TrialStatus.RUNNING and trial_id not in queued:
            queued.append(trial_id)
    state["ongoing_trials"] = {}
    return state


def _trial_files(project_dir) -> list:
    """keras-tuner's per-trial files in ``project_dir``."""
    return sorted(glob.glob(os.path.join(glob.escape(os.fspath(project_dir)), "trial_*",
                                         TRIAL_FILE)))


def _write_text(path, text: str) -> None:
    os.makedirs(os.path.dirname(os.fspath(path)) or ".", exist_ok=True)
    with atomic_write(path, "w") as f:
        f.write(text)


def _file_text(path, expected_size: int) -> str | None:
    """The text of ``path`` when it is ``expected_size`` bytes long (compared, never
    trusted: the state file is the authority), else None."""
    try:
        if os.path.getsize(path) != expected_size:
            return None
        with open(path, encoding="utf-8") as f:
            return f.read(expected_size + 1)
    except (OSError, UnicodeDecodeError):
        return None


def write_json(path, state) -> None:
    """``state`` as JSON in ``path``, atomically."""
    _write_text(path, json.dumps(state))


def clear_project(project_dir) -> None:
    """Delete everything in ``project_dir`` but its lock file (``overwrite=True``)."""
    if not os.path.isdir(project_dir):
        return
    for name in os.listdir(project_dir):
        if name == LOCK_FILE:
            continue
        path = os.path.join(project_dir, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)


def remove_stale_files(project_dir) -> None:
    """Delete temporary files that killed processes left in the project."""
    for path in remove_stale_temp_files(project_dir, recursive=True):
        log.info("removed %s, left by a process that was killed while writing", path)


class SearchLock:
    """An exclusive, non-blocking lock on a search project (see the module doc).

    Usable as a context manager; :meth:`acquire` raises :class:`SearchLockedError`
    when another live process, or another search object in this one, holds it.

    Parameters
    ----------
    project_dir : str or os.PathLike
        The search's project directory.
    """

    def __init__(self, project_dir):
        self.project_dir = os.fspath(project_dir)
        self.path = os.path.join(self.project_dir, LOCK_FILE)
        self._fd = None

    def acquire(self) -> None:
        if self._fd is not None:
            return
        try:
            import fcntl
        except ImportError:  # pragma: no cover (Windows has no flock)
            log.warning("no fcntl on this system: %s is not locked against a second "
                        "search", self.project_dir)
            return
        os.makedirs(self.project_dir, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode("ascii", "replace").strip()
            os.close(fd)
            who = f"process {holder}" if holder.isdigit() else "another process"
            if holder == str(os.getpid()):
                who = "another search object in this process"
            raise SearchLockedError(
                f"directory: a search is already running in {self.project_dir!r} "
                f"({who} holds {self.path!r}); wait for it to finish, or give another "
                "directory or project_name") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        os.ftruncate(fd, 0)
        os.close(fd)  # closing drops the flock

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()
