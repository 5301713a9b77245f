"""Figures measured on a network, kept in its metadata with the state they describe.

A figure such as a test accuracy describes one network: these weights, this neuron
type, these scales, this synapse and readout. Calibration, fine-tuning or a new neuron
type make another network that keeps the same metadata, so a figure stored as a bare
number would then be shown as the new network's. :func:`record_measurement` stores
it with the state of the network it was measured on (``metadata["measured"]``);
:func:`measurements` compares that state with the network's own, so a reader (the
summary, ``snnkit inspect``) says which figures describe this network and, for the
others, what has changed since.

The metadata is free JSON: an entry that is not a well-formed measurement is ignored
here, never trusted.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np

from snnkit.exceptions import ValidationError

MEASURED_KEY = "measured"

# state field -> how a change is described
_FIELDS = {
    "weights_sha256": "weights",
    "neuron": "neuron type",
    "scale_firing_rates": "scales",
    "synapse_s": "synapse",
    "dt_s": "dt",
    "readout": "readout",
    "off_chip": "off-chip layers",
}
# what every figure depends on (an entry without them is not a measurement)
_ALWAYS = ("weights_sha256", "neuron")


def network_state(network) -> dict:
    """What a figure measured on ``network`` depends on.

    Parameters
    ----------
    network : FrozenNetwork

    Returns
    -------
    dict
        JSON-ready: a SHA-256 of the weights, the neuron type and its parameters, the
        per-layer scales, synapse, dt, readout and off-chip layers (block shapes
        only place the same computation on cores, so they are left out).
    """
    digest = hashlib.sha256()
    for layer in sorted(network.weights):
        for array in network.weights[layer]:
            array = np.ascontiguousarray(array)
            digest.update(f"{layer}:{array.dtype.str}:{array.shape}".encode())
            digest.update(array.tobytes())
    return {
        "weights_sha256": digest.hexdigest(),
        "neuron": network.neuron.to_dict(),
        "scale_firing_rates": {k: float(v)
                               for k, v in sorted(network.scale_firing_rates.items())},
        "synapse_s": network.synapse,
        "dt_s": network.dt,
        "readout": network.readout,
        "off_chip": sorted(network.off_chip),
    }


def record_measurement(network, name: str, value, conditions: dict, *,
                       independent_of: tuple = ()):
    """``network`` with a figure measured on it, stamped with its state.

    Parameters
    ----------
    network : FrozenNetwork
        The network the figure was measured on (as it is now).
    name : str
        The figure's name (e.g. ``"test_accuracy"``); one figure per name, the
        latest replacing an earlier one.
    value : JSON value
        The figure.
    conditions : dict
        How it was measured (JSON values): backend, steps, images...
    independent_of : tuple of str
        State fields the figure does not depend on, left out of the comparison:
        ``"readout"`` for firing rates (the host's readout does not change what
        neurons do), ``"off_chip"``, ``"synapse_s"``, ``"dt_s"``,
        ``"scale_firing_rates"``. The weights and the neuron type always count.

    Returns
    -------
    FrozenNetwork
        A copy whose ``metadata["measured"][name]`` holds the value, the conditions
        and the state.

    Raises
    ------
    ValidationError
        If ``independent_of`` names a field that is not in the state, or one every
        figure depends on (the weights, the neuron type).
    """
    unknown = set(independent_of) - (set(_FIELDS) - set(_ALWAYS))
    if unknown:
        raise ValidationError(
            f"independent_of: expected fields among "
            f"{', '.join(k for k in _FIELDS if k not in _ALWAYS)}, got "
            f"{', '.join(sorted(unknown))}")
    state = {k: v for k, v in network_state(network).items() if k not in independent_of}
    metadata = dict(network.metadata)
    measured = metadata.get(MEASURED_KEY)
    measured = dict(measured) if isinstance(measured, dict) else {}
    measured[name] = {"value": value, "conditions": dict(conditions),
                      "network_state": state}
    metadata[MEASURED_KEY] = measured
    return network.replace(metadata=metadata)


@dataclass(frozen=True)
class Measurement:
    """A figure from a network's metadata, and whether it describes the network.

    Attributes
    ----------
    name : str
        Its name.
    value : object
        The figure (a JSON value).
    conditions : dict
        How it was measured.
    describes_network : bool
        Whether it was measured on the network as it is (same weights, neuron type,
        scales, synapse, dt, readout and off-chip layers, less those the figure was
        recorded as independent of).
    changed : tuple of str
        What has changed since it was measured (e.g. ``("neuron type relu ->
        loihi-relu", "scales")``); empty when it describes the network.
    """

    name: str
    value: object
    conditions: dict
    describes_network: bool
    changed: tuple

    def describe(self) -> str:
        """One line: the figure, how it was measured, and what it describes."""
        value = self.value
        if isinstance(value, float) and "accuracy" in self.name and 0 <= value <= 1:
            shown = f"{100 * value:.2f}%"
        elif isinstance(value, dict):
            shown = ", ".join(f"{k} {_short(v)}" for k, v in value.items())
        else:
            shown = _short(value)
        how = ", ".join(f"{k} {v}" for k, v in self.conditions.items())
        where = "measured on this network" if self.describes_network else \
            "NOT this network's: measured before " + "; ".join(self.changed)
        return f"{self.name}: {shown} ({how}) - {where}"


def measurements(network) -> list[Measurement]:
    """The figures in ``network``'s metadata, each marked with what it describes.

    Parameters
    ----------
    network : FrozenNetwork

    Returns
    -------
    list of Measurement
        In the order they were recorded; malformed entries are left out.
    """
    measured = network.metadata.get(MEASURED_KEY)
    if not isinstance(measured, dict):
        return []
    state = json.loads(json.dumps(network_state(network)))  # as it is stored
    out = []
    for name, entry in measured.items():
        if not (isinstance(entry, dict) and "value" in entry
                and isinstance(entry.get("conditions"), dict)
                and isinstance(entry.get("network_state"), dict)
                and all(k in entry["network_state"] for k in _ALWAYS)):
            continue
        stored = entry["network_state"]
        changed = tuple(_change(key, stored[key], state[key]) for key in _FIELDS
                        if key in stored and stored[key] != state[key])
        out.append(Measurement(name=str(name), value=entry["value"],
                               conditions=entry["conditions"],
                               describes_network=not changed, changed=changed))
    return out


def _change(key: str, before, now) -> str:
    what = _FIELDS[key]
    if key == "neuron" and isinstance(before, dict) and before.get("name") != now["name"]:
        return f"{what} {before.get('name')} -> {now['name']}"
    if key in ("synapse_s", "dt_s", "readout"):
        return f"{what} {before} -> {now}"
    return f"{what} changed"


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."
