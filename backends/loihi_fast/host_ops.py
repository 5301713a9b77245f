"""What the fast emulator's host replay (:mod:`.host`) accepts, and which
operators must run every step.

:func:`validate_host_ops` refuses, with :class:`~snnkit.exceptions.
UnsupportedFeatureError`, any operator the replay could not reproduce bit for bit;
:func:`varying_ops` finds the operators whose result changes over time (the others
run once per batch: they give the same value at every step in the reference).
"""

import nengo
import numpy as np
from nengo.builder.neurons import SimNeurons
from nengo.builder.operator import (
    Copy,
    DotInc,
    ElementwiseInc,
    Reset,
    SparseDotInc,
    TimeUpdate,
)
from nengo.builder.probe import SimProbe
from nengo.builder.processes import SimProcess
from nengo.builder.transforms import ConvInc
from nengo.dists import Choice
from nengo.synapses import LinearFilter
from nengo_loihi.builder.inputs import HostReceiveProcess, HostSendProcess
from nengo_loihi.neurons import LoihiLIF, LoihiSpikingRectifiedLinear

from snnkit.exceptions import UnsupportedFeatureError

# Neuron types whose nengo `step` is purely elementwise, so running it on a
# (batch, n) array gives each sample exactly what a (n,) array would.
ELEMENTWISE_NEURONS = (
    LoihiSpikingRectifiedLinear,
    LoihiLIF,
    nengo.SpikingRectifiedLinear,
    nengo.RectifiedLinear,
    nengo.LIF,
)

# LinearFilter steps that are elementwise in the signal (first-order or none).
ELEMENTWISE_FILTER_STEPS = (LinearFilter.NoX, LinearFilter.OneX)

_INHERENTLY_VARYING = (TimeUpdate, SimNeurons, SimProcess)
_SUPPORTED_OPS = "Reset, Copy, DotInc, ElementwiseInc, ConvInc, SimNeurons, SimProcess"


def signal_base(sig):
    """The signal that ``sig`` is a view of (itself if none)."""
    return sig.base


def unbatched_view(arr, sig):
    """Unbatched view of ``sig`` into a copy ``arr`` of its base."""
    if sig is signal_base(sig):
        return arr
    item = arr.itemsize
    return np.lib.stride_tricks.as_strided(
        arr.reshape(-1)[sig.elemoffset :],
        shape=tuple(sig.shape),
        strides=tuple(s * item for s in sig.elemstrides),
    )


def _check_neuron_state(op, where):
    for name, dist in op.neurons.state.items():
        fixed = not isinstance(dist, nengo.dists.Distribution) or (
            isinstance(dist, Choice) and len(np.unique(dist.options)) == 1
        )
        if not fixed:
            raise UnsupportedFeatureError(
                f"random initial neuron state {name}={dist}",
                where,
                "neuron state distributions with a single value (e.g. Choice([0]))",
            )


def validate_host_ops(ops, label):
    for op in ops:
        where = f"{label} operator {op}"
        if isinstance(op, SparseDotInc):
            raise UnsupportedFeatureError(
                "sparse transforms on the host", where, _SUPPORTED_OPS
            )
        if not isinstance(
            op,
            (Reset, Copy, DotInc, ElementwiseInc, ConvInc, TimeUpdate, SimProbe)
            + (SimNeurons, SimProcess),
        ):
            raise UnsupportedFeatureError(
                f"host operator {type(op).__name__}", where, _SUPPORTED_OPS
            )
        if isinstance(op, SimNeurons):
            if not isinstance(op.neurons, ELEMENTWISE_NEURONS):
                raise UnsupportedFeatureError(
                    f"host neuron type {type(op.neurons).__name__}",
                    where,
                    ", ".join(t.__name__ for t in ELEMENTWISE_NEURONS),
                )
            _check_neuron_state(op, where)
        if isinstance(op, ConvInc):
            conv = op.conv
            if conv.dimensions != 2 or conv.groups != 1:
                raise UnsupportedFeatureError(
                    f"host convolution with dimensions={conv.dimensions}, "
                    f"groups={conv.groups}",
                    where,
                    "2-D convolutions with groups=1",
                )
        if isinstance(op, SimProcess):
            proc = op.process
            if not isinstance(
                proc, (HostSendProcess, HostReceiveProcess, LinearFilter)
            ):
                raise UnsupportedFeatureError(
                    f"host process {type(proc).__name__}",
                    where,
                    "Lowpass/None synapses and nengo-loihi's host<->chip transfer",
                )


def varying_ops(ops):
    """Operators that must run every step (the rest give a constant result).

    An operator varies if it is stateful or a process, reads a varying signal,
    or writes a signal that a varying operator also writes (its Reset/Copy must
    then be repeated every step too).
    """
    varying_ops = set()
    varying_bases = set()
    changed = True
    while changed:
        changed = False
        for op in ops:
            if op in varying_ops:
                continue
            writes = op.sets + op.incs + op.updates
            if (
                isinstance(op, _INHERENTLY_VARYING)
                or any(signal_base(s) in varying_bases for s in op.reads)
                or any(signal_base(s) in varying_bases for s in writes)
            ):
                varying_ops.add(op)
                varying_bases.update(signal_base(s) for s in writes)
                changed = True
    return varying_ops
