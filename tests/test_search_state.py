"""Search state under kills and concurrent runs (snnkit.tuning.state): a finished
trial is never run again, a search always ends with max_trials finished trials and
none left RUNNING, a second search on the same project is refused, and temporary
files left by kills are removed. The searches are :class:`ToySearch` (trials cost
nothing); one test kills real processes with SIGKILL."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from toy_search import ToySearch

import snnkit.tuning.state as state
from snnkit.tuning import SearchLockedError, SearchStateError
from snnkit.utils.files import remove_stale_temp_files

MAX_TRIALS = 3
STATUSES = ["COMPLETED", "FAILED", "COMPLETED"]  # the toy's trial 1 always fails
FINAL = ("COMPLETED", "FAILED")
TESTS = Path(__file__).parent


class _Killed(BaseException):
    """Stands in for SIGKILL: no ``except Exception`` catches it."""


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@contextlib.contextmanager
def writes_counted(monkeypatch, kill_at=None):
    """Count the atomic writes of the search state; with ``kill_at``, 'kill' the
    process at that write: its temporary file is left behind (named for a process
    that is gone) and nothing more is written."""
    real = state.atomic_write
    count = [0]
    gone = dead_pid()

    @contextlib.contextmanager
    def write(path, mode="wb"):
        count[0] += 1
        if count[0] == kill_at:
            path = Path(path)
            (path.parent / f".{path.name}.{gone}.k1ll3d.tmp").write_text('{"half": ')
            raise _Killed()
        with real(path, mode) as f:
            yield f

    monkeypatch.setattr(state, "atomic_write", write)
    yield count
    monkeypatch.setattr(state, "atomic_write", real)


def records(project: Path) -> dict:
    """``{trial_id: (status, x, accuracy)}`` from the state file (the authority),
    checking every trial file against it."""
    found = {}
    path = project / "oracle.json"
    if path.exists():
        for trial_id, trial in json.loads(path.read_text())["trials"].items():
            found[trial_id] = _summary(trial)
    for trial_file in project.glob("trial_*/trial.json"):
        # a trial's file is written (atomically: it always parses) just after the
        # state: it may be one step behind the state, never ahead of it
        trial = json.loads(trial_file.read_text())
        known = found.get(trial["trial_id"])
        assert known is not None, f"{trial_file}: a trial oracle.json lacks"
        behind = _summary(trial)[0] == "RUNNING" and _summary(trial)[2] is None
        assert _summary(trial) == known or behind, \
            f"{trial_file} records a result oracle.json does not: {trial}"
    return found


def results_on_disk(project: Path) -> set:
    """The trials whose result reached the disk anywhere: finished in oracle.json,
    or with a status or metric beyond RUNNING in their trial file."""
    found = {t for t, (status, _, _) in records(project).items() if status in FINAL}
    for trial_file in project.glob("trial_*/trial.json"):
        status, _, accuracy = _summary(json.loads(trial_file.read_text()))
        if status != "RUNNING" or accuracy is not None:
            found.add(trial_file.parent.name[len("trial_"):])
    return found


def _summary(trial):
    metrics = trial["metrics"]["metrics"]
    accuracy = metrics["accuracy"]["observations"][0]["value"][0] \
        if "accuracy" in metrics else None
    return trial["status"], trial["hyperparameters"]["values"]["x"], accuracy


def check_resumed(project, resumed, before, reference, finished):
    """After a resume: no trial whose result had reached the disk (``finished``) ran
    again, max_trials finished, none RUNNING, the same configurations as an
    uninterrupted run, every trial file agreeing with the state, no leftovers."""
    assert not finished & set(resumed.evaluated), (before, resumed.evaluated)
    after = records(project)
    assert after == reference
    mirrors = {f.parent.name: _summary(json.loads(f.read_text()))
               for f in project.glob("trial_*/trial.json")}
    assert mirrors == {f"trial_{t}": record for t, record in after.items()}
    assert [t["status"] for t in resumed.trials()] == STATUSES
    for trial_id in finished:
        assert after[trial_id] == before[trial_id]
    assert results_on_disk(project) == {t for t, r in after.items() if r[0] in FINAL}
    assert not list(project.rglob("*.tmp"))


@pytest.mark.parametrize("oracle", ["random", "hyperband", "bayesian"])
def test_search_killed_at_every_write_resumes_exactly(oracle, tmp_path, monkeypatch):
    reference_search = ToySearch(tmp_path / "reference", max_trials=MAX_TRIALS,
                                 oracle=oracle)
    with writes_counted(monkeypatch) as count:
        reference_search.search()
    reference = records(tmp_path / "reference" / "toy")
    assert len(reference) == MAX_TRIALS and count[0] >= 2 * MAX_TRIALS
    for k in range(1, count[0] + 1):
        directory = tmp_path / f"kill{k}"
        killed = ToySearch(directory, max_trials=MAX_TRIALS, oracle=oracle)
        with writes_counted(monkeypatch, kill_at=k), pytest.raises(_Killed):
            killed.search()
        project = directory / "toy"
        before, finished = records(project), results_on_disk(project)
        assert list(project.rglob("*.tmp")), "the kill left its temporary file"
        resumed = ToySearch(directory, max_trials=MAX_TRIALS, oracle=oracle).search()
        check_resumed(project, resumed, before, reference, finished)


@pytest.mark.slow
def test_search_killed_by_sigkill_resumes_exactly(tmp_path):
    """The real thing: processes killed with SIGKILL mid-write (a trial is finished
    in the state but its trial file's write is lost; a trial's creation is lost),
    then resumed in this process."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(TESTS), os.environ.get("PYTHONPATH", "")]))
    env.pop("KERASTUNER_ORACLE_IP", None)

    # writes: 1-2 the search's start (state, tuner file); trial 0: 3 state (created),
    # 4 its file, 5 state (ended, with its result), 6 its file, 7 state (no longer
    # ongoing); trial 1: 8 state (created), 9 its file
    kill_points = (6, 8)
    processes = {k: subprocess.Popen(
        [sys.executable, str(TESTS / "toy_search.py"), str(tmp_path / f"kill{k}"),
         str(MAX_TRIALS), "random", str(k)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for k in kill_points}
    ToySearch(tmp_path / "reference", max_trials=MAX_TRIALS).search()
    reference = records(tmp_path / "reference" / "toy")
    for k in kill_points:
        directory = tmp_path / f"kill{k}"
        _, stderr = processes[k].communicate(timeout=300)
        assert processes[k].returncode == -signal.SIGKILL, stderr[-2000:]
        project = directory / "toy"
        before, finished = records(project), results_on_disk(project)
        assert any(status in FINAL for status, _, _ in before.values())
        assert list(project.rglob("*.tmp"))
        resumed = ToySearch(directory, max_trials=MAX_TRIALS).search()
        check_resumed(project, resumed, before, reference, finished)


def test_older_search_with_disagreeing_files_is_repaired(tmp_path):
    """A project written by keras-tuner's own layout (trial files separate from
    oracle.json) and killed between two writes: trial 1 finished in its file but
    still ongoing in oracle.json, trial 2 RUNNING in its file but unknown to the
    oracle. Trial 1 is kept, trial 2 is run again, the search ends complete."""
    reference_search = ToySearch(tmp_path / "reference", max_trials=MAX_TRIALS).search()
    project = tmp_path / "old" / "toy"
    project.parent.mkdir()
    import shutil

    shutil.copytree(tmp_path / "reference" / "toy", project)
    oracle = json.loads((project / "oracle.json").read_text())
    del oracle["trials"]
    oracle["ongoing_trials"] = {"tuner0": "1"}
    oracle["end_order"] = ["0"]
    oracle["start_order"] = ["0", "1"]
    (project / "oracle.json").write_text(json.dumps(oracle))
    trial = json.loads((project / "trial_2" / "trial.json").read_text())
    trial.update(status="RUNNING", score=None, metrics={"metrics": {}})
    (project / "trial_2" / "trial.json").write_text(json.dumps(trial))

    resumed = ToySearch(tmp_path / "old", max_trials=MAX_TRIALS).search()
    assert resumed.evaluated == ["2"]
    assert records(project) == records(tmp_path / "reference" / "toy")
    assert [t["status"] for t in reference_search.trials()] == STATUSES


def test_damaged_state_file_is_named(tmp_path):
    ToySearch(tmp_path, max_trials=1).search()
    (tmp_path / "toy" / "oracle.json").write_text('{"trials": {"0": 5}}')
    with pytest.raises(SearchStateError) as info:
        ToySearch(tmp_path, max_trials=1)
    assert str(tmp_path / "toy" / "oracle.json") in str(info.value)
    assert "overwrite=True" in str(info.value)


# --- one search per project at a time ------------------------------------------------
def test_second_search_on_a_running_project_is_refused(tmp_path):
    first = ToySearch(tmp_path, max_trials=2)
    made_before = ToySearch(tmp_path, max_trials=2)
    first.gate = threading.Event()
    thread = threading.Thread(target=first.search)
    thread.start()
    try:
        while not first.evaluated:
            thread.join(0.05)
        with pytest.raises(SearchLockedError) as info:
            ToySearch(tmp_path, max_trials=2, overwrite=True)
        message = str(info.value)
        assert "a search is already running in" in message
        assert str(tmp_path / "toy") in message and "search.lock" in message
        with pytest.raises(SearchLockedError):
            made_before.search()
    finally:
        first.gate.set()
        thread.join(60)
    assert [t["status"] for t in first.trials()] == STATUSES[:2]
    # once the first has finished, the other object sees its trials: nothing to run
    made_before.search()
    assert made_before.evaluated == [] and len(made_before.trials()) == 2


def test_lock_of_a_killed_process_is_taken_over(tmp_path):
    project = tmp_path / "toy"
    project.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, os, sys, time\n"
         f"fd = os.open({str(project / 'search.lock')!r}, os.O_RDWR | os.O_CREAT)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX)\n"
         "os.write(fd, str(os.getpid()).encode())\n"
         "print('locked', flush=True)\n"
         "time.sleep(120)\n"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(SearchLockedError, match=f"process {holder.pid} holds"):
            ToySearch(tmp_path, max_trials=1)
    finally:
        holder.kill()
        holder.wait()
    # the file still names the dead process; its lock went with it
    assert (project / "search.lock").read_text() == str(holder.pid)
    search = ToySearch(tmp_path, max_trials=1).search()
    assert search.evaluated == ["0"]


def test_overwrite_keeps_the_lock_and_starts_afresh(tmp_path):
    ToySearch(tmp_path, max_trials=2).search()
    again = ToySearch(tmp_path, max_trials=2, overwrite=True).search()
    assert again.evaluated == ["0", "1"]
    assert (tmp_path / "toy" / "search.lock").exists()


# --- keras-tuner's own results API ---------------------------------------------------
def test_keras_tuner_results_api_on_a_resumed_search(tmp_path, capsys):
    ToySearch(tmp_path, max_trials=4).search()
    reopened = ToySearch(tmp_path, max_trials=4)  # a new process would do the same
    best = reopened.get_best_hyperparameters(3)  # trial 1 failed: three completed
    xs = [hp.values["x"] for hp in best]
    completed = [t for t in reopened.trials() if t["status"] == "COMPLETED"]
    assert xs == sorted((t["hyperparameters"]["x"] for t in completed), reverse=True)
    assert best[0].values == reopened.best_trial()["hyperparameters"]
    assert [t.trial_id for t in reopened.oracle.get_best_trials(1)] == \
        [reopened.best_trial()["trial_id"]]
    text = reopened.results_summary(2)
    rows = text.splitlines()[4:]
    assert [row.split()[0] for row in rows] == \
        [t.trial_id for t in reopened.oracle.get_best_trials(2)] + ["1"]
    assert rows[-1].split()[1:4] == ["FAILED:", "FailedTrialError:", "trial"]
    assert "3 completed, 1 failed" in capsys.readouterr().out


# --- temporary files -------------------------------------------------------------
def test_only_temporary_files_of_dead_writers_are_removed(tmp_path):
    gone, alive = dead_pid(), os.getpid()
    stale = tmp_path / f".last.npz.{gone}.abc123.tmp"
    older = tmp_path / ".last.npz.x_y9.tmp"  # older versions put no pid in the name
    live = tmp_path / f".last.npz.{alive}.def456.tmp"
    other = tmp_path / f".notes.txt.{gone}.abc123.tmp"
    for path in (stale, older, live, other):
        path.write_text("partial")
    removed = remove_stale_temp_files(tmp_path, names=("last.npz",))
    assert sorted(removed) == sorted([stale, older])
    assert live.exists() and other.exists()
