"""A distributed ScaleSearch: one chief, two workers and a late third as separate processes on
127.0.0.1 (keras-tuner's gRPC oracle), through ``python -m snnkit.tuning``. Each
worker has its own directory, as on separate machines. Every process has a bounded
time to end by itself, and is killed otherwise."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tiny_networks import tiny_network

TIMEOUT_S = 240
SPACE = {"a": [100.0, 200.0], "b": [100.0, 200.0]}  # four configurations


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def config(network_path, directory, summary=None) -> dict:
    return {
        "search": "scale",
        "network": str(network_path),
        "data": {"n_train": 1, "n_val": 20, "val_from": "test"},
        "options": {"scales": SPACE, "backend": "nengo", "n_steps": 10,
                    "objective": "synaptic_ops", "oracle": "random", "max_trials": 4,
                    "seed": 0, "directory": str(directory), "project_name": "dist"},
        **({"summary": str(summary), "export": str(directory / "best.snn.npz")}
           if summary else {}),
    }


def stop_with_stacks(processes) -> None:
    """SIGABRT every process still running (faulthandler prints its threads' stacks to
    its log), then wait for them to go."""
    import signal

    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGABRT)
    for process in processes:
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def logs_text(tmp_path) -> str:
    return "\n".join(f"--- {role}\n" + (tmp_path / f"{role}.log").read_text()[-4000:]
                     for role in ("chief", "worker1", "worker2", "worker3")
                     if (tmp_path / f"{role}.log").exists())


@pytest.mark.slow
def test_chief_and_workers_record_every_trial_once_and_a_late_worker_ends_cleanly(mnist_small, tmp_path):
    (x_train, y_train), _ = mnist_small
    network_path = tiny_network(x_train, y_train).save(tmp_path / "tiny.snn.npz")
    port = free_port()
    configs = {}
    for role in ("chief", "worker1", "worker2", "worker3"):
        directory = tmp_path / role
        directory.mkdir()
        summary = directory / "summary.json" if role == "chief" else None
        configs[role] = tmp_path / f"{role}.json"
        configs[role].write_text(json.dumps(config(network_path, directory, summary)))

    env = dict(os.environ)
    for key in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        env.pop(key, None)
    # a process that hangs is stopped with SIGABRT: its log then shows every thread's
    # stack (faulthandler), so a failure says where it hung
    env["PYTHONFAULTHANDLER"] = "1"
    base = [sys.executable, "-m", "snnkit.tuning"]
    where = ["--address", "127.0.0.1", "--port", str(port)]
    commands = {
        # --workers 3: with trials this short, one worker may run them all before the
        # other has come, and a third starts only after both ended; the chief stays up
        # until all three were told the search is over
        "chief": base + [str(configs["chief"]), "--chief", "--workers", "3"] + where,
        "worker1": base + [str(configs["worker1"]), "--worker", "--worker-id", "1",
                           "--chief-timeout", "120"] + where,
        "worker2": base + [str(configs["worker2"]), "--worker", "--worker-id", "2",
                           "--chief-timeout", "120"] + where,
    }
    logs = {role: open(tmp_path / f"{role}.log", "w") for role in commands}
    processes = {role: subprocess.Popen(cmd, env=env, stdout=logs[role],
                                        stderr=subprocess.STDOUT)
                 for role, cmd in commands.items()}
    try:
        deadline = time.monotonic() + TIMEOUT_S

        def wait(role):
            try:
                processes[role].wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pytest.fail(f"{role} did not end within {TIMEOUT_S} s; log:\n"
                            + (tmp_path / f"{role}.log").read_text()[-3000:])

        wait("worker1")
        wait("worker2")
        assert processes["chief"].poll() is None, \
            "the chief ended before the third worker came: " + logs_text(tmp_path)
        # a worker that starts after the last trial is told the search is over
        logs["worker3"] = open(tmp_path / "worker3.log", "w")
        processes["worker3"] = subprocess.Popen(
            base + [str(configs["worker3"]), "--worker", "--worker-id", "3"] + where,
            env=env, stdout=logs["worker3"], stderr=subprocess.STDOUT)
        wait("worker3")
        wait("chief")
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait(10)
        for log in logs.values():
            log.close()
    for role, process in processes.items():
        assert process.returncode == 0, (role, (tmp_path / f"{role}.log").read_text()[-3000:])

    summary = json.loads((tmp_path / "chief" / "summary.json").read_text())
    trials = summary["trials"]
    assert sorted(t["trial_id"] for t in trials) == ["0", "1", "2", "3"], logs_text(tmp_path)
    assert all(t["status"] == "COMPLETED" for t in trials), [t["reason"] for t in trials]
    configurations = {(t["hyperparameters"]["scale/a"], t["hyperparameters"]["scale/b"])
                      for t in trials}
    assert configurations == {(a, b) for a in SPACE["a"] for b in SPACE["b"]}
    # recorded exactly once: one observation of each metric per trial, in the chief's
    # own trial files
    for t in trials:
        record = json.loads((tmp_path / "chief" / "dist" / f"trial_{t['trial_id']}" /
                             "trial.json").read_text())
        observations = record["metrics"]["metrics"]["score"]["observations"]
        assert len(observations) == 1
    # the chief writes the front of every trial; workers write none
    front = (tmp_path / "chief" / "dist" / "pareto.csv").read_text().splitlines()
    assert len(front) == 1 + 4 and set(front[0].split(",")) == {
        "trial_id", "status", "scale/a", "scale/b", "n_steps", "accuracy", "steps",
        "synaptic_ops", "feasible", "answered", "on_front"}
    assert (tmp_path / "chief" / "dist" / "pareto.png").is_file()
    assert not list((tmp_path / "worker1").rglob("pareto.*"))
    # workers ran them (the chief only serves the oracle); with trials this short one
    # worker may take all four before the other has started
    # (a worker saves its tuner state, worker<id>.json, after the trials it ran)
    ran = [p.name for role in ("worker1", "worker2", "worker3")
           for p in (tmp_path / role / "dist").glob("worker*.json")]
    assert ran and set(ran) <= {"worker1.json", "worker2.json"}, logs_text(tmp_path)
    # the late worker ran no trial: none was left

    # the best configuration is the one the same search finds in one process
    from snnkit.tuning.config import run_search

    local = run_search(config(network_path, tmp_path / "local"), print_summary=False)
    assert local.best_trial()["hyperparameters"] == summary["best"]["hyperparameters"]
    assert summary["best"]["metrics"]["synaptic_ops"] == min(
        t["metrics"]["synaptic_ops"] for t in trials)
    assert Path(tmp_path / "chief" / "best.snn.npz").is_file()


# --- bounded waits, in one process (public gRPC and keras-tuner API only) ----------
def role(monkeypatch, tuner_id, port) -> None:
    monkeypatch.setenv("KERASTUNER_TUNER_ID", tuner_id)
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", str(port))


def test_a_worker_whose_chief_dies_ends_with_an_error(tmp_path, monkeypatch):
    """The chief answers when the worker starts, then is gone: the worker's next call
    (keras-tuner's client would wait an hour) ends with ChiefUnreachableError."""
    from concurrent import futures

    import grpc

    from snnkit.tuning import ChiefUnreachableError
    from toy_search import ToySearch

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    role(monkeypatch, "worker1", port)
    try:
        worker = ToySearch(tmp_path, max_trials=2, chief_timeout_s=1.0)
    finally:
        server.stop(None).wait(5)
    with pytest.raises(ChiefUnreachableError) as info:
        worker.search()
    message = str(info.value)
    assert f"127.0.0.1:{port}" in message and "create_trial" in message
    assert worker.evaluated == []


def test_a_lost_connection_is_a_chief_unreachable_error(monkeypatch):
    import grpc

    from snnkit.tuning import ChiefUnreachableError
    from snnkit.tuning.distributed import BoundedOracleClient

    class Lost(grpc.RpcError):
        def code(self):
            return grpc.StatusCode.UNAVAILABLE

        def details(self):
            return "Socket closed"

    class Refused(grpc.RpcError):
        def code(self):
            return grpc.StatusCode.UNKNOWN

    class Client:
        objective = "score"

        def end_trial(self, trial):
            raise Lost()

        def get_trial(self, trial_id):
            raise Refused()

    role(monkeypatch, "worker1", free_port())
    client = BoundedOracleClient(Client(), chief_timeout_s=1.0, call_timeout_s=5.0)
    assert client.objective == "score"  # keras-tuner's client settings pass through
    with pytest.raises(ChiefUnreachableError, match="lost the chief oracle at 127.0.0.1:.* "
                                                    "during end_trial .UNAVAILABLE"):
        client.end_trial(None)
    with pytest.raises(Refused):  # the chief's own errors are not hidden
        client.get_trial("0")


def test_a_call_the_chief_does_not_answer_in_time_ends_with_an_error(monkeypatch):
    """The chief is reachable but does not answer (a hung chief): the call gives up
    after call_timeout_s."""
    import threading
    from concurrent import futures

    import grpc

    from snnkit.tuning import ChiefUnreachableError
    from snnkit.tuning.distributed import BoundedOracleClient

    release = threading.Event()

    class Hung:
        def create_trial(self, tuner_id):
            release.wait(60)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    role(monkeypatch, "worker1", port)
    client = BoundedOracleClient(Hung(), chief_timeout_s=5.0, call_timeout_s=0.3,
                                 poll_s=0.05)
    try:
        with pytest.raises(ChiefUnreachableError,
                           match="did not answer create_trial within 0.3 s"):
            client.create_trial("worker1")
    finally:
        release.set()
        server.stop(None).wait(5)


def test_chief_that_cannot_listen_names_address_and_port(tmp_path, monkeypatch):
    from snnkit.tuning import ChiefUnreachableError
    from toy_search import ToySearch

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        role(monkeypatch, "chief", port)
        chief = ToySearch(tmp_path, max_trials=1)
        with pytest.raises(ChiefUnreachableError, match=f"chief: cannot listen on "
                                                        f"127.0.0.1:{port}"):
            chief.search()


def test_the_chief_holds_for_expected_workers_until_they_come_or_time_runs_out(tmp_path):
    """keras-tuner's chief serves while its oracle's tuner_ids is not empty: the hold
    stays there until the expected workers were told the search is over, or the late
    worker timeout passes."""
    import threading

    from snnkit.tuning.distributed import HOLD_ID, release_when_workers_came
    from toy_search import ToySearch

    oracle = ToySearch(tmp_path, max_trials=1).search().oracle  # tuner0 was told STOPPED
    assert set(oracle.stopped_tuners) == {"tuner0"} and oracle.search_over()
    for expected, timeout_s in ((1, 1e9), (2, 0.2)):
        oracle.hold_for_workers()
        assert HOLD_ID in oracle.tuner_ids and oracle.search_over()
        release_when_workers_came(oracle, expected, timeout_s, 0.01, threading.Event())
        assert HOLD_ID not in oracle.tuner_ids
    oracle.hold_for_workers()
    done = threading.Event()
    done.set()  # the search ended otherwise: the watcher leaves without releasing
    release_when_workers_came(oracle, 2, 1e9, 0.01, done)
    assert HOLD_ID in oracle.tuner_ids
