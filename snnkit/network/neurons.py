"""Neuron types by name.

| name           | nengo type                                   | runs on Loihi |
|----------------|----------------------------------------------|---------------|
| ``relu``       | ``nengo.RectifiedLinear`` (rates)            | no            |
| ``spiking-relu`` | ``nengo.SpikingRectifiedLinear``           | no            |
| ``lif``        | ``nengo.LIF``                                | no            |
| ``loihi-relu`` | ``nengo_loihi.neurons.LoihiSpikingRectifiedLinear`` | yes    |
| ``loihi-lif``  | ``nengo_loihi.neurons.LoihiLIF``             | yes           |

A neuron type is stored in a FrozenNetwork as ``{"name": ..., "params": {...}}`` with
its numeric parameters (e.g. LIF ``tau_rc`` in seconds), never as a pickled object.

This module imports neither nengo nor nengo-loihi: a neuron type is named here and
built where a Nengo network is made (:func:`snnkit.convert.to_nengo.nengo_neuron_type`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from snnkit.exceptions import UnknownNameError, ValidationError, shown
from snnkit.utils.validation import check_number

# name -> (module, class) of the nengo type; imported where networks are built
NEURON_CLASSES = {
    "relu": ("nengo.neurons", "RectifiedLinear"),
    "spiking-relu": ("nengo.neurons", "SpikingRectifiedLinear"),
    "lif": ("nengo.neurons", "LIF"),
    "loihi-relu": ("nengo_loihi.neurons", "LoihiSpikingRectifiedLinear"),
    "loihi-lif": ("nengo_loihi.neurons", "LoihiLIF"),
}
NEURON_TYPE_NAMES = tuple(NEURON_CLASSES)
LOIHI_NEURON_TYPES = ("loihi-relu", "loihi-lif")
SPIKING_NEURON_TYPES = ("spiking-relu", "lif", "loihi-relu", "loihi-lif")
_PARAMS = {
    "relu": ("amplitude",),
    "spiking-relu": ("amplitude",),
    "lif": ("tau_rc", "tau_ref", "min_voltage", "amplitude"),
    "loihi-relu": ("amplitude",),
    "loihi-lif": ("tau_rc", "tau_ref", "min_voltage", "amplitude"),
}
MAX_LOIHI_RATE_HZ = 1000.0  # one spike per 1 ms step
# parameter -> (lowest value, whether the lowest value itself is excluded,
# highest value, unit); the ranges nengo's own NumberParams enforce
# (low, low excluded, high, unit); None: unbounded
_RANGES = {
    "amplitude": (0.0, True, None, ""),
    "tau_rc": (0.0, True, None, "seconds"),
    "tau_ref": (0.0, False, None, "seconds"),
    "min_voltage": (None, False, 0.0, ""),
}


def known_neuron_types() -> tuple[str, ...]:
    return NEURON_TYPE_NAMES


@dataclass(frozen=True)
class NeuronSpec:
    """A neuron type by name plus its parameters.

    Attributes
    ----------
    name : str
        The neuron type (one of :data:`NEURON_TYPE_NAMES`).
    params : dict
        ``{parameter: number}``, units as in nengo: seconds.
    """

    name: str
    params: dict = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.params, dict):
            raise ValidationError(f"neuron_type: params: expected a dict of parameter "
                                  f"-> number, got {type(self.params).__name__}")
        if not isinstance(self.name, str) or self.name not in NEURON_CLASSES:
            raise UnknownNameError(
                f"neuron_type: unknown neuron type {shown(self.name)}; "
                f"known types are: {', '.join(NEURON_CLASSES)}"
            )
        unknown = set(self.params) - set(_PARAMS[self.name])
        if unknown:
            raise ValidationError(
                f"neuron_type: {self.name!r} has no parameter(s) "
                f"{sorted(map(str, unknown))}; "
                f"its parameters are: {', '.join(_PARAMS[self.name])}"
            )
        object.__setattr__(self, "params", {
            key: _check_param(key, value) for key, value in self.params.items()})

    @property
    def is_spiking(self) -> bool:
        return self.name in SPIKING_NEURON_TYPES

    @property
    def runs_on_loihi(self) -> bool:
        return self.name in LOIHI_NEURON_TYPES

    def to_dict(self) -> dict:
        return {"name": self.name, "params": dict(self.params)}

    @classmethod
    def from_dict(cls, data: dict) -> "NeuronSpec":
        """The inverse of :meth:`to_dict`.

        Parameters
        ----------
        data : dict
            ``{"name": ..., "params": {...}}``.

        Returns
        -------
        NeuronSpec

        Raises
        ------
        ValidationError
            For anything else.
        """
        if not isinstance(data, dict) or set(data) != {"name", "params"}:
            raise ValidationError(f"neuron: expected a dict {{name, params}}, got "
                                  f"{shown(data)}")
        return cls(data["name"], data["params"])


def _check_param(key: str, value) -> float:
    low, low_open, high, unit = _RANGES[key]
    return check_number(f"neuron_type: params.{key}", value, low=low, high=high,
                        low_open=low_open, unit=unit)


def neuron_spec(value) -> NeuronSpec:
    """The :class:`NeuronSpec` of a neuron type given by name, spec or nengo object.

    Parameters
    ----------
    value : str, NeuronSpec or nengo.neurons.NeuronType
        A name (``"loihi-relu"``), a :class:`NeuronSpec` or a nengo neuron type
        object of one of the known classes.

    Returns
    -------
    NeuronSpec

    Raises
    ------
    UnknownNameError
        An unknown name or neuron type class.
    """
    if isinstance(value, NeuronSpec):
        return value
    if isinstance(value, str):
        return NeuronSpec(value)
    cls = type(value)
    for name, where in NEURON_CLASSES.items():
        # compared by module and class name: nothing needs importing
        if (cls.__module__, cls.__name__) == where:
            params = {p: float(getattr(value, p)) for p in _PARAMS[name]}
            return NeuronSpec(name, params)
    raise UnknownNameError(
        f"neuron_type: expected one of {', '.join(NEURON_CLASSES)} (or a NeuronSpec), "
        f"got {value!r}"
    )
