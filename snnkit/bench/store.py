"""The benchmark's files on disk: where a finished case is kept, what it must match to
be reused (the case key), and the cached per-neuron rates.

A case is ``cases/<backend>.json`` plus ``cases/<backend>.npz`` (per-step outputs),
each written atomically, the JSON last, so a case whose JSON exists is complete. A
stored file that is missing, made with other settings or damaged is not trusted: the
case runs again.
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
from pathlib import Path

import numpy as np

from snnkit.exceptions import ValidationError
from snnkit.network.frozen import FrozenNetwork
from snnkit.utils.files import atomic_write

# 2: latency fields (first spikes, output onset, TTD p95); 3: build and run timed
# apart (images_per_s without the build), n_outputs
CASE_FORMAT = 3


def check_writable_dir(path, argument: str = "out") -> Path:
    """Create ``path`` if needed and prove that files can be written in it.

    Parameters
    ----------
    path : str or Path
        The folder.
    argument : str, optional
        The argument named in the error.

    Returns
    -------
    Path

    Raises
    ------
    ValidationError
        If no file can be written in it.
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as e:
        raise ValidationError(
            f"{argument}: expected a folder that can be written, got {str(path)!r} "
            f"({e.strerror or e})") from e
    return path


def file_sha256(path) -> str:
    """The SHA-256 of a file's bytes, in hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def network_sha256(network: FrozenNetwork) -> str:
    """Identity of a network's content, for networks that have no file."""
    with tempfile.TemporaryDirectory() as tmp:
        return file_sha256(network.save(Path(tmp) / "network.snn.npz"))


def case_key(network_id: str, backend: str, n_images: int, config,
              data_id: str) -> dict:
    """What a stored case must match to be reused.

    Parameters
    ----------
    network_id : str
        The network file's hash.
    backend : str
        The backend.
    n_images : int
        Images the case runs.
    config : BenchConfig
        The settings (``n_steps``, ``presentation``).
    data_id : str
        Names the data.

    Returns
    -------
    dict
        The key, with the snnkit version that ran it (a new version may compute
        differently, so its cases are run again).
    """
    from snnkit import __version__

    return {"format": CASE_FORMAT, "network_sha256": network_id, "backend": backend,
            "n_images": n_images, "n_steps": config.n_steps,
            "presentation": config.presentation, "data": data_id,
            "snnkit_version": __version__}


def read_case(json_path: Path, npz_path: Path, key: dict):
    """A finished case matching ``key``, or None (missing, other settings, damaged).

    Returns
    -------
    tuple or None
        ``(case, outputs)``: the case dict and its per-step outputs.
    """
    if not json_path.is_file() or not npz_path.is_file():
        return None
    try:
        case = json.loads(json_path.read_text())
        if case.get("key") != key:
            return None
        with np.load(npz_path, allow_pickle=False) as f:
            outputs = f["outputs"]
        if outputs.shape[:2] != (key["n_images"], key["n_steps"]) \
                or not np.all(np.isfinite(outputs)) or not _case_values_ok(case, key):
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None  # a damaged file is run again, not trusted
    return case, outputs


def _case_values_ok(case: dict, key: dict) -> bool:
    """The stored figures are what a run could have produced: accuracies in [0, 1]
    (one per step), every number finite."""
    by_step = case.get("accuracy_by_step")
    if not isinstance(by_step, list) or len(by_step) != key["n_steps"]:
        return False
    accuracies = [case.get("accuracy")] + by_step
    if not all(isinstance(a, (int, float)) and 0 <= a <= 1 for a in accuracies):
        return False

    def finite(value) -> bool:
        if isinstance(value, dict):
            return all(finite(v) for v in value.values())
        if isinstance(value, list):
            return all(finite(v) for v in value)
        if isinstance(value, float):
            return math.isfinite(value)
        return value is None or isinstance(value, (int, str, bool))

    return finite(case)


def write_case(json_path: Path, npz_path: Path, case: dict, outputs: np.ndarray,
               labels) -> None:
    """Store a finished case: outputs first, JSON last.

    The JSON is what marks a case as finished.
    """
    with atomic_write(npz_path) as f:
        np.savez(f, outputs=outputs.astype(np.float32), labels=labels.astype(np.int64))
    with atomic_write(json_path, "w") as f:
        json.dump(case, f, indent=2)


def rates_key(network_id: str, n_images: int, n_steps: int, data_id: str) -> str:
    """What the stored per-neuron rates must match to be reused."""
    return json.dumps({"format": 2, "network_sha256": network_id, "n_images": n_images,
                       "n_steps": n_steps, "data": data_id}, sort_keys=True)


def read_rates(path: Path, key: str):
    """The stored per-neuron rates matching ``key``, or None.

    None when the file is missing, has another key or is damaged.
    """
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            if f["__key__"].tobytes().decode() != key:
                return None
            return {k[len("rates/"):]: f[k] for k in f.files if k.startswith("rates/")}
    except (OSError, ValueError, KeyError, UnicodeDecodeError):
        return None


def write_rates(path: Path, key: str, rates: dict) -> None:
    """Store the per-neuron rates with their ``key``, atomically."""
    with atomic_write(path) as f:
        np.savez(f, __key__=np.frombuffer(key.encode(), np.uint8),
                 **{f"rates/{k}": v for k, v in rates.items()})
