"""keras-tuner's own distributed mode: one chief process holds the Oracle and serves
it over gRPC; any number of workers ask it for trials, run them, and report back.

A process's role comes from three environment variables (keras-tuner's):
``KERASTUNER_TUNER_ID`` (``"chief"`` for the chief, a unique name per worker, e.g.
``"worker1"``), ``KERASTUNER_ORACLE_IP`` and ``KERASTUNER_ORACLE_PORT`` (where the
chief listens / where workers find it). :func:`role_env` builds them.

Only keras-tuner's public API is used (plus the ``grpc`` library's own):

- **Chief.** keras-tuner's chief is ``BaseTuner.search`` in the chief process
  (:func:`serve_search`): it serves the oracle until every worker it has heard from
  has been told the search is over and no trial runs, checking 1 s after the first
  such answer and then every 20 s (keras-tuner's pace: a chief ends up to ~20 s
  after its last worker). Before that, snnkit checks the address can be listened on
  (else :class:`ChiefUnreachableError`). With ``expected_workers``, the oracle
  (:class:`ServedOracle`) keeps one placeholder in its ``tuner_ids`` (the tuners
  keras-tuner's chief still waits for) until that many workers have been told to
  stop, or ``late_worker_timeout_s`` after the last trial, so a worker that starts
  late is told the search is over instead of finding no chief.
- **Worker.** keras-tuner's gRPC client waits up to an hour for each answer. A
  worker first checks that the chief answers (:func:`wait_for_chief`), then makes
  every call through :class:`BoundedOracleClient`, which gives up with
  :class:`ChiefUnreachableError` once the chief has not been reachable for
  ``chief_timeout_s``, or after ``call_timeout_s`` without an answer.
"""

from __future__ import annotations

import os
import socket
import threading
import time

from keras_tuner import synchronized
from keras_tuner.engine.trial import TrialStatus

from snnkit.utils.validation import check_int

from .errors import ChiefUnreachableError, SearchConfigError

ENV_ID = "KERASTUNER_TUNER_ID"
ENV_IP = "KERASTUNER_ORACLE_IP"
ENV_PORT = "KERASTUNER_ORACLE_PORT"
# in the chief oracle's tuner_ids while it waits for expected workers; no worker's id
HOLD_ID = "snnkit: waiting for expected workers"


def role_env(role: str, address: str = "127.0.0.1", port: int = 8000,
             worker_id: str | int | None = None) -> dict:
    """The environment variables for ``role`` ``"chief"`` or ``"worker"``.

    Parameters
    ----------
    role : {"chief", "worker"}
    address, port : str, int
        Where the chief listens / where workers find it.
    worker_id : str, int or None
        A worker's id is ``worker<worker_id>`` (default: its process id).

    Returns
    -------
    dict
        ``{variable: value}``.

    Raises
    ------
    SearchConfigError
        For another role, a bad port, or a ``worker_id`` that contains ``"chief"``.
    """
    if role not in ("chief", "worker"):
        raise SearchConfigError(f"role: expected 'chief' or 'worker', got {role!r}")
    _check_port(port)
    if role == "chief":
        tuner_id = "chief"
    else:
        tuner_id = f"worker{worker_id if worker_id is not None else os.getpid()}"
        if "chief" in tuner_id:
            raise SearchConfigError(
                f"worker_id: must not contain 'chief' (keras-tuner would take the worker "
                f"for the chief), got {worker_id!r}")
    return {ENV_ID: tuner_id, ENV_IP: str(address), ENV_PORT: str(int(port))}


def is_distributed() -> bool:
    return ENV_IP in os.environ


def is_chief() -> bool:
    return is_distributed() and "chief" in os.environ.get(ENV_ID, "")


def is_worker() -> bool:
    return is_distributed() and not is_chief()


def chief_address() -> tuple[str, int]:
    """``(ip, port)`` from the environment, checked."""
    ip = os.environ.get(ENV_IP, "")
    port = os.environ.get(ENV_PORT)
    if port is None:
        raise SearchConfigError(f"{ENV_PORT}: not set, but {ENV_IP}={ip!r} is; "
                                "set both (and KERASTUNER_TUNER_ID)")
    if ENV_ID not in os.environ:
        raise SearchConfigError(f"{ENV_ID}: not set, but {ENV_IP} is; use 'chief' for "
                                "the chief and a unique name per worker")
    try:
        port_number = int(port)
    except ValueError:
        raise SearchConfigError(
            f"{ENV_PORT}: expected a port number, got {port!r}") from None
    _check_port(port_number)
    return ip, port_number


def wait_for_chief(timeout_s: float, doing: str | None = None) -> None:
    """Wait until the chief's gRPC server answers (at once when it is up).

    Parameters
    ----------
    timeout_s : float
        Seconds to wait at most.
    doing : str or None
        The call the worker waits for an answer to, named in the message.

    Raises
    ------
    ChiefUnreachableError
        Unless the chief's gRPC server answers within ``timeout_s`` seconds.
    """
    import grpc

    ip, port = chief_address()
    channel = grpc.insecure_channel(f"{ip}:{port}")
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout_s)
    except grpc.FutureTimeoutError:
        during = f" (waiting for its answer to {doing})" if doing else ""
        raise ChiefUnreachableError(
            f"worker {os.environ.get(ENV_ID)!r}: no chief oracle answered at {ip}:{port} "
            f"(address {ip!r}, port {port}, from {ENV_IP}/{ENV_PORT}) within "
            f"{timeout_s:g} s{during}; start the chief first (a chief that ended "
            "resumes its search when restarted), check the address and that the "
            "port is open, or raise chief_timeout_s") from None
    finally:
        channel.close()


def check_can_listen() -> None:
    """Check that the chief's address and port (from the environment) can be listened on.

    Raises
    ------
    ChiefUnreachableError
        If they cannot: in use, or not an address of this machine.
    """
    ip, port = chief_address()
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            ip or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
            probe.listen(1)
    except OSError as e:
        raise ChiefUnreachableError(
            f"chief: cannot listen on {ip}:{port} (address {ip!r}, port {port}, from "
            f"{ENV_IP}/{ENV_PORT}): {e}; give a free port and an address of this "
            "machine (0.0.0.0 for every interface)") from None


class ServedOracle:
    """Mixin for the chief's keras-tuner ``Oracle``.

    Remembers which tuners were told the search is over, and can hold keras-tuner's
    chief open for workers that have not come yet.

    Attributes
    ----------
    stopped_tuners : set of str
        The ids of the tuners told the search is over.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.stopped_tuners = set()

    @synchronized
    def create_trial(self, tuner_id):
        trial = super().create_trial(tuner_id)
        if trial.status == TrialStatus.STOPPED:
            self.stopped_tuners.add(tuner_id)
        return trial

    @synchronized
    def hold_for_workers(self) -> None:
        """Keep keras-tuner's chief serving until :meth:`release_hold`.

        keras-tuner's chief waits while ``tuner_ids`` is not empty.
        """
        self.tuner_ids.add(HOLD_ID)

    @synchronized
    def release_hold(self) -> None:
        self.tuner_ids.discard(HOLD_ID)

    @synchronized
    def search_over(self) -> bool:
        """Every trial handed out and finished, every worker heard from told so."""
        return (bool(self.stopped_tuners) and not self.ongoing_trials
                and self.tuner_ids <= {HOLD_ID})


def serve_search(tuner, expected_workers: int | None = None,
                 late_worker_timeout_s: float = 120.0, poll_s: float = 0.2) -> None:
    """Be the chief of ``tuner``'s search.

    keras-tuner's ``BaseTuner.search``, which serves the oracle to the workers until
    the search is over.

    Parameters
    ----------
    tuner : SnnSearch
        Its oracle a :class:`ServedOracle`.
    expected_workers : int or None
        The chief keeps answering after that until so many distinct workers have
        been told the search is over (at most ``late_worker_timeout_s`` seconds
        more): a worker that starts after the others finished every trial then ends
        cleanly instead of finding no chief.
    late_worker_timeout_s : float
        At most this many seconds more (see ``expected_workers``).
    poll_s : float
        Seconds between two checks of the workers that came.

    Raises
    ------
    ChiefUnreachableError
        If the chief's address cannot be listened on (:func:`check_can_listen`).
    """
    from keras_tuner.engine.base_tuner import BaseTuner

    check_can_listen()
    oracle = tuner.oracle
    done = threading.Event()
    watcher = None
    if expected_workers is not None:
        oracle.hold_for_workers()
        watcher = threading.Thread(
            target=release_when_workers_came, daemon=True, name="snnkit-chief-hold",
            args=(oracle, expected_workers, late_worker_timeout_s, poll_s, done))
        watcher.start()
    try:
        BaseTuner.search(tuner)
    finally:
        done.set()
        if watcher is not None:
            watcher.join()
        oracle.release_hold()


def release_when_workers_came(oracle, expected_workers: int,
                               late_worker_timeout_s: float, poll_s: float,
                               done: threading.Event) -> None:
    """Release ``oracle``'s hold once the expected workers came, or after a timeout.

    Checked every ``poll_s`` seconds until ``done``: once the search is over and
    ``expected_workers`` distinct workers were told so, or ``late_worker_timeout_s``
    seconds after it was first seen over, ``oracle``'s hold is released.

    Parameters
    ----------
    oracle : ServedOracle
    expected_workers : int
    late_worker_timeout_s, poll_s : float
        Seconds.
    done : threading.Event
        Set when the search has ended.
    """
    over_since = None
    while not done.wait(poll_s):
        if not oracle.search_over():
            continue
        over_since = over_since or time.monotonic()
        if (len(oracle.stopped_tuners) >= expected_workers
                or time.monotonic() - over_since > late_worker_timeout_s):
            oracle.release_hold()
            return


class BoundedOracleClient:
    """A worker's oracle: keras-tuner's gRPC client, each call bounded.

    A call runs in its own (daemon) thread; while it waits, the chief's address is
    checked every ``poll_s``: if the chief has not been reachable for
    ``chief_timeout_s``, or has not answered within ``call_timeout_s``, or the
    connection broke, the call raises :class:`ChiefUnreachableError` instead of
    waiting (keras-tuner's client waits up to an hour). The chief's answers take
    milliseconds; the bounds only matter when it is gone.

    Parameters
    ----------
    client : keras_tuner.Oracle
        keras-tuner's gRPC client (``tuner.oracle`` in a worker).
    chief_timeout_s, call_timeout_s, poll_s : float
        Seconds.
    """

    def __init__(self, client, chief_timeout_s: float, call_timeout_s: float,
                 poll_s: float = 1.0):
        self.client = client
        self.chief_timeout_s = float(chief_timeout_s)
        self.call_timeout_s = float(call_timeout_s)
        self.poll_s = float(poll_s)

    def __getattr__(self, name):
        # keras-tuner's client forwards a few settings (objective, max_trials, ...)
        if name == "client":
            raise AttributeError(name)
        return getattr(self.client, name)

    def get_space(self):
        return self._call("get_space")

    def update_space(self, hyperparameters):
        return self._call("update_space", hyperparameters)

    def create_trial(self, tuner_id):
        return self._call("create_trial", tuner_id)

    def update_trial(self, trial_id, metrics, step=0):
        return self._call("update_trial", trial_id, metrics, step=step)

    def end_trial(self, trial):
        return self._call("end_trial", trial)

    def get_trial(self, trial_id):
        return self._call("get_trial", trial_id)

    def get_best_trials(self, num_trials=1):
        return self._call("get_best_trials", num_trials)

    def _call(self, name, *args, **kwargs):
        import grpc

        outcome = {}
        answered = threading.Event()

        def run():
            try:
                outcome["value"] = getattr(self.client, name)(*args, **kwargs)
            except BaseException as e:  # handed to the caller's thread
                outcome["error"] = e
            finally:
                answered.set()

        threading.Thread(target=run, daemon=True, name=f"snnkit-oracle-{name}").start()
        give_up = time.monotonic() + self.call_timeout_s
        while not answered.wait(self.poll_s):
            wait_for_chief(self.chief_timeout_s, doing=name)
            if time.monotonic() > give_up:
                raise ChiefUnreachableError(
                    f"worker {os.environ.get(ENV_ID)!r}: the chief oracle at "
                    f"{_where()} did not answer {name} within {self.call_timeout_s:g} s")
        error = outcome.get("error")
        if error is None:
            return outcome["value"]
        if isinstance(error, grpc.RpcError) and error.code() in (
                grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            raise ChiefUnreachableError(
                f"worker {os.environ.get(ENV_ID)!r}: lost the chief oracle at {_where()} "
                f"during {name} ({error.code().name}: {error.details()}); the chief "
                "ended or the network failed: restart the chief (it resumes the "
                "search), then this worker") from error
        raise error


def _where() -> str:
    ip, port = chief_address()
    return f"{ip}:{port}"


def _check_port(port) -> None:
    check_int("port", port, low=1, high=65535, error=SearchConfigError)
