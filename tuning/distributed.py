"""keras-tuner's own distributed mode: one chief process holds the Oracle and serves
it over gRPC; any number of workers ask it for trials, run them, and report back.

A process's role comes from three environment variables (keras-tuner's):
``KERASTUNER_TUNER_ID`` (``"chief"`` for the chief, a unique name per worker, e.g.
``"worker1"``), ``KERASTUNER_ORACLE_IP`` and ``KERASTUNER_ORACLE_PORT`` (where the
chief listens / where workers find it). :func:`role_env` builds them.

keras-tuner 1.4 has no public API for its distributed mode beyond these variables:
the chief's gRPC server, its servicer and the client's timeout live in
``keras_tuner.src.distribute`` and ``keras_tuner.src.protos``. This module is the one
place that reaches into them, each use commented with what it needs and why.

Two things here differ from ``keras_tuner.src.distribute.oracle_chief.start_server``,
with the same servicer and protocol: the chief stops polling within a fraction of a
second once every worker is done (keras-tuner sleeps 20 s between checks) and shuts
its server down; and a worker checks at start that the chief answers, within a
bounded time, instead of waiting up to an hour in its first call.
"""

from __future__ import annotations

import os
import time
from concurrent import futures

from snnkit.validation import check_int

from .errors import ChiefUnreachableError, SearchConfigError

ENV_ID = "KERASTUNER_TUNER_ID"
ENV_IP = "KERASTUNER_ORACLE_IP"
ENV_PORT = "KERASTUNER_ORACLE_PORT"


def role_env(role: str, address: str = "127.0.0.1", port: int = 8000,
             worker_id: str | int | None = None) -> dict:
    """The environment variables for ``role`` ``"chief"`` or ``"worker"``."""
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
        raise SearchConfigError(f"{ENV_PORT}: expected a port number, got {port!r}") from None
    _check_port(port_number)
    return ip, port_number


def wait_for_chief(timeout_s: float) -> None:
    """Raise :class:`ChiefUnreachableError` unless the chief's gRPC server answers
    within ``timeout_s`` seconds."""
    import grpc

    ip, port = chief_address()
    channel = grpc.insecure_channel(f"{ip}:{port}")
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout_s)
    except grpc.FutureTimeoutError:
        raise ChiefUnreachableError(
            f"worker {os.environ.get(ENV_ID)!r}: no chief oracle answered at {ip}:{port} "
            f"(address {ip!r}, port {port}, from {ENV_IP}/{ENV_PORT}) within "
            f"{timeout_s:g} s; start the chief first, check the address and that the "
            "port is open, or raise chief_timeout_s") from None
    finally:
        channel.close()


def _servicer(oracle):
    """keras-tuner's servicer, also remembering which workers were told the search is
    over (so the chief can wait for late ones)."""
    from keras_tuner.engine.trial import Trial, TrialStatus
    # internal: keras-tuner exports no servicer; this one speaks its workers' protocol
    from keras_tuner.src.distribute import oracle_chief

    class Servicer(oracle_chief.OracleServicer):
        def __init__(self, oracle):
            super().__init__(oracle)
            self.stopped_workers = set()

        def CreateTrial(self, request, context):  # noqa: N802 (gRPC's name)
            response = super().CreateTrial(request, context)
            if Trial.from_proto(response.trial).status == TrialStatus.STOPPED:
                self.stopped_workers.add(request.tuner_id)
            return response

    return Servicer(oracle)


def bound_client_wait(timeout_s: float) -> None:
    """Make every call of this worker to the chief give up after ``timeout_s``
    seconds instead of keras-tuner's one hour (``oracle_client.TIMEOUT``, read at each
    call): a worker whose chief has gone then ends with an error instead of hanging.
    The chief's answers take milliseconds; the wait only matters when it is gone."""
    # internal: the timeout is a module constant of keras-tuner's gRPC client (no
    # argument or public setting reaches it), read at every call
    from keras_tuner.src.distribute import oracle_client

    oracle_client.TIMEOUT = float(timeout_s)


def serve_oracle(oracle, poll_s: float = 0.2, expected_workers: int | None = None,
                 late_worker_timeout_s: float = 120.0, linger_s: float = 5.0) -> None:
    """Serve ``oracle`` to the workers until the search is over: every trial handed
    out, every worker told to stop, no trial still running.

    With ``expected_workers``, the chief keeps answering after that until so many
    distinct workers have been told the search is over (at most
    ``late_worker_timeout_s`` seconds more): a worker that starts after the others
    finished every trial then ends cleanly instead of finding no chief.

    The server then answers for ``linger_s`` more seconds before it stops: a worker
    that was just told to stop still makes a call or two on its way out, and
    keras-tuner's client waits for an answer for hours (``wait_for_ready``)."""
    import grpc
    # internal: keras-tuner's gRPC service definition and its chief's exit test have
    # no public home; start_server (which uses them) cannot stop early or shut down
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief

    ip, port = chief_address()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    servicer = _servicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    try:
        bound = server.add_insecure_port(f"{ip}:{port}")
    except RuntimeError as e:
        bound, error = 0, e
    else:
        error = None
    if not bound:
        raise ChiefUnreachableError(
            f"chief: cannot listen on {ip}:{port} (address in use or not on this "
            f"machine){': ' + str(error) if error else ''}")
    server.start()
    over_since = None
    try:
        while True:
            if servicer.stop_triggered and oracle_chief.exit_chief(oracle):
                over_since = over_since or time.monotonic()
                if (expected_workers is None
                        or len(servicer.stopped_workers) >= expected_workers
                        or time.monotonic() - over_since > late_worker_timeout_s):
                    break
            time.sleep(poll_s)
        time.sleep(linger_s)
    finally:
        server.stop(grace=2).wait(5)


def _check_port(port) -> None:
    check_int("port", port, low=1, high=65535, error=SearchConfigError)
