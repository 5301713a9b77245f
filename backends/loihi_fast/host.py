"""Batched re-execution of the host-side nengo models that nengo-loihi builds.

nengo-loihi runs the off-chip part of a network as plain ``nengo.Simulator``
models (``host_pre`` before the chip, ``host`` after it). This module replays
those models' operators for a whole batch of inputs at once. Every operator is
re-executed with the same numpy expression as nengo's own ``make_step``, either
elementwise over a leading batch axis (exact: IEEE elementwise results do not
depend on the array length) or, for reductions (dot products, convolutions),
once per sample with the same shapes as the reference (exact by construction).

Operators whose inputs never change over time are run once per batch instead of
once per step; they give the same value at every step in the reference, because
every signal they write is written only by such operators. Which operators are
accepted, and which vary, is :mod:`.host_ops`.

Time is counted in steps of ``dt`` seconds; step ``k`` (1-based) is at ``k * dt``.
"""

import copy

import nengo
import numpy as np
from nengo.builder.neurons import SimNeurons
from nengo.builder.operator import (
    Copy,
    DotInc,
    ElementwiseInc,
    Reset,
    TimeUpdate,
)
from nengo.builder.probe import SimProbe
from nengo.builder.processes import SimProcess
from nengo.builder.transforms import ConvInc, conv2d
from nengo_loihi.builder.inputs import HostReceiveProcess, HostSendProcess

from snnkit.backends.loihi_fast.host_ops import (
    ELEMENTWISE_FILTER_STEPS,
    signal_base,
    unbatched_view,
    validate_host_ops,
    varying_ops,
)
from snnkit.exceptions import UnsupportedFeatureError


class BatchedHostModel:
    """Replays one built host ``nengo.Simulator`` for a batch of samples.

    Parameters
    ----------
    sim : nengo.Simulator
        A host simulator built by ``nengo_loihi.Simulator`` and never run
        (its signals hold the initial values).
    label : str
        Name used in error messages ("host_pre" or "host").
    """

    def __init__(self, sim, label):
        self.label = label
        self.dt = float(sim.dt)
        self.ops = list(sim._step_order)
        validate_host_ops(self.ops, label)
        self.varying = varying_ops(self.ops)
        written = set()
        for op in self.ops:
            written.update(signal_base(s) for s in op.sets + op.incs + op.updates)
        self._written_bases = written
        self._filters = {}
        # snapshot initial values: the simulator's signals vanish when it closes
        self._initial = {}
        for op in self.ops:
            for sig in op.all_signals:
                base = signal_base(sig)
                if base not in self._initial:
                    self._initial[base] = np.array(sim.signals[base])

    # --- signals -------------------------------------------------------------
    def _alloc(self, batch, batch_inputs):
        arrays = {}
        for base in self._written_bases:
            init = self._initial[base]
            arrays[base] = np.broadcast_to(init, (batch,) + init.shape).copy()
        for sig, values in batch_inputs.items():
            base = signal_base(sig)
            if base in self._written_bases:
                raise UnsupportedFeatureError(
                    "an input node whose output is computed on the host",
                    f"{self.label} signal {sig}",
                    "input nodes with a constant array output",
                )
            init = self._initial[base]
            values = np.asarray(values, dtype=init.dtype).reshape(
                (batch,) + init.shape
            )
            arrays[base] = np.ascontiguousarray(values)
        return arrays

    def _get(self, sig):
        """(batched, array): batched arrays have a leading batch axis."""
        base = signal_base(sig)
        arr = self._arrays.get(base, None)
        if arr is None:
            return False, unbatched_view(self._initial[base], sig)
        if sig is base:
            return True, arr
        batch = arr.shape[0]
        flat = arr.reshape(batch, -1)
        item = arr.itemsize
        view = np.lib.stride_tricks.as_strided(
            flat[:, sig.elemoffset :],
            shape=(batch,) + tuple(sig.shape),
            strides=(flat.strides[0],) + tuple(s * item for s in sig.elemstrides),
        )
        return True, view

    # --- operators -------------------------------------------------------------
    def _run_copy(self, op):
        _, src = self._get(op.src)
        batched_dst, dst = self._get(op.dst)
        src_slice = op.src_slice if op.src_slice is not None else Ellipsis
        dst_slice = op.dst_slice if op.dst_slice is not None else Ellipsis
        repeats = False
        if nengo.utils.numpy.is_array_like(dst_slice):
            dst_slice = np.array(dst_slice)
            if dst_slice.dtype.kind != "b":
                dst_slice[dst_slice < 0] += dst.shape[-1 if batched_dst else 0]
                repeats = len(np.unique(dst_slice)) < len(dst_slice)
        batched_src, _ = self._get(op.src)
        s_idx = src_slice if not batched_src or src_slice is Ellipsis else (
            slice(None),
            src_slice,
        )
        d_idx = dst_slice if dst_slice is Ellipsis else (slice(None), dst_slice)
        value = src[s_idx]
        if op.inc and repeats:
            np.add.at(dst, d_idx, value)
        elif op.inc:
            dst[d_idx] += value
        else:
            dst[d_idx] = value

    def _run_dotinc(self, op):
        batched_a, A = self._get(op.A)
        batched_x, X = self._get(op.X)
        _, Y = self._get(op.Y)
        if batched_a:
            raise UnsupportedFeatureError(
                "time-varying transforms (learning) on the host",
                f"{self.label} operator {op}",
                "fixed transforms",
            )
        sample_shape = Y.shape[1:]

        def dot(x):
            r = A.dot(x)
            return r.reshape(sample_shape) if op.reshape else r

        if not batched_x:
            Y[...] += dot(X)
        else:
            # one call per sample, same shapes as nengo: exact by construction
            for b in range(Y.shape[0]):
                Y[b] += dot(X[b])

    def _run_elementwiseinc(self, op):
        batched_a, A = self._get(op.A)
        batched_x, X = self._get(op.X)
        _, Y = self._get(op.Y)
        if not (batched_a or batched_x):
            Y[...] += A * X
            return
        ndim = max(len(op.A.shape), len(op.X.shape))

        def lift(batched, arr, shape):
            if not batched:
                return arr
            pad = (1,) * (ndim - len(shape))
            return arr.reshape((arr.shape[0],) + pad + tuple(shape))

        prod = lift(batched_a, A, op.A.shape) * lift(batched_x, X, op.X.shape)
        Y[...] += prod.reshape(Y.shape)

    def _conv_one(self, op, W, x, y):
        conv = op.conv
        x = x.reshape(conv.input_shape.shape)
        y = y.reshape(conv.output_shape.shape)
        if not conv.channels_last:
            x = np.moveaxis(x, 0, -1)
            y = np.moveaxis(y, 0, -1)
        y[...] += conv2d(
            x[None, ...], W, pad=conv.padding.upper(), stride=conv.strides
        )[0]

    def _run_convinc(self, op):
        _, W = self._get(op.W)
        batched_x, X = self._get(op.X)
        _, Y = self._get(op.Y)
        if not batched_x:
            once = np.zeros(Y.shape[1:], dtype=Y.dtype)
            self._conv_one(op, W, X, once)
            Y[...] += once
        else:
            for b in range(Y.shape[0]):
                self._conv_one(op, W, X[b], Y[b])

    def _run_neurons(self, op):
        _, J = self._get(op.J)
        _, output = self._get(op.output)
        state = {name: self._get(sig)[1] for name, sig in op.state.items()}
        state.update(op.state_extra)
        op.neurons.step(self.dt, J, output, **state)

    def _filter_step(self, op):
        step = self._filters.get(op, None)
        if step is None:
            _, inp = self._get(op.input)
            _, out = self._get(op.output)
            # LinearFilter keeps its state as (n_state,) + signal shape: put the
            # batch axis after n_state (a view, so updates land in our arrays)
            state = {
                name: np.moveaxis(self._get(sig)[1], 0, 1)
                for name, sig in op.state.items()
            }
            step = op.process.make_step(
                inp.shape, out.shape, self.dt, rng=None, state=state
            )
            if not isinstance(step, ELEMENTWISE_FILTER_STEPS):
                raise UnsupportedFeatureError(
                    f"host synapse {op.process} (step {type(step).__name__})",
                    f"{self.label} operator {op}",
                    "Lowpass or None synapses (first-order filters)",
                )
            self._filters[op] = step
        return step

    def _run_process(self, op, k, t):
        proc = op.process
        _, out = self._get(op.output)
        if isinstance(proc, HostSendProcess):
            _, inp = self._get(op.input)
            self.sent[id(proc)][:, k - 1] = inp != 0
        elif isinstance(proc, HostReceiveProcess):
            out[...] = self.receive[id(proc)](k, t)
        else:
            _, inp = self._get(op.input)
            value = self._filter_step(op)(t, np.copy(inp))
            if op.mode == "inc":
                out[...] += value
            else:
                out[...] = value

    def _run_op(self, op, k, t):
        if isinstance(op, (TimeUpdate, SimProbe)):
            return  # time is passed explicitly; probes are read after the step
        if isinstance(op, Reset):
            self._get(op.dst)[1][...] = op.value
        elif isinstance(op, Copy):
            self._run_copy(op)
        elif isinstance(op, DotInc):
            self._run_dotinc(op)
        elif isinstance(op, ElementwiseInc):
            self._run_elementwiseinc(op)
        elif isinstance(op, ConvInc):
            self._run_convinc(op)
        elif isinstance(op, SimNeurons):
            self._run_neurons(op)
        else:
            self._run_process(op, k, t)

    # --- public -----------------------------------------------------------------
    def senders(self):
        """HostSendProcess instances in this model (one per host->chip link)."""
        return [
            op.process
            for op in self.ops
            if isinstance(op, SimProcess) and isinstance(op.process, HostSendProcess)
        ]

    def run(self, n_steps, batch, **kwargs):
        """Run ``n_steps`` steps for ``batch`` samples (thread-safe).

        See :meth:`_run` for the keyword arguments and return values.
        """
        # per-run arrays live on a shallow copy, so threads can share the model
        return copy.copy(self)._run(n_steps, batch, **kwargs)

    def _run(
        self, n_steps, batch, batch_inputs=None, receive=None, record=None, spikes=None
    ):
        """Run ``n_steps`` steps for ``batch`` samples.

        Parameters
        ----------
        n_steps : int
            Number of ``dt`` steps.
        batch : int
            Number of samples.
        batch_inputs : {Signal: ndarray (batch, ...)}
            Per-sample values of constant (never written) signals, e.g. an
            input node's output.
        receive : {id(HostReceiveProcess): callable(k, t) -> ndarray (batch, d)}
            Values delivered by chip->host receivers at step ``k`` (time ``t`` s).
        record : {key: Signal}
            Signals to record after every step (like a nengo probe).
        spikes : {key: Signal}
            Signals recorded as ``signal != 0`` (bool) after every step.

        Returns
        -------
        sent : {id(HostSendProcess): bool ndarray (batch, n_steps, d)}
            Nonzero entries of each host->chip sender's input, per step.
        recorded : {key: ndarray (batch, n_steps, ...)}
            Entries of ``record`` (signal dtype) and ``spikes`` (bool).
        """
        self._arrays = self._alloc(batch, batch_inputs or {})
        self.receive = receive or {}
        self.sent = {}
        for op in self.ops:
            if isinstance(op, SimProcess) and isinstance(op.process, HostSendProcess):
                self.sent[id(op.process)] = np.zeros(
                    (batch, n_steps) + tuple(op.input.shape), dtype=bool
                )
        self._filters = {}
        record = record or {}
        spikes = spikes or {}
        recorded = {
            key: np.zeros((batch, n_steps) + tuple(sig.shape), dtype=sig.dtype)
            for key, sig in record.items()
        }
        recorded.update(
            {
                key: np.zeros((batch, n_steps) + tuple(sig.shape), dtype=bool)
                for key, sig in spikes.items()
            }
        )
        for op in self.ops:
            if op not in self.varying:
                self._run_op(op, 0, 0.0)
        varying = [op for op in self.ops if op in self.varying]
        for k in range(1, n_steps + 1):
            t = float(np.int64(k) * self.dt)  # nengo: time = step * dt
            for op in varying:
                self._run_op(op, k, t)
            for key, sig in record.items():
                recorded[key][:, k - 1] = self._get(sig)[1]
            for key, sig in spikes.items():
                np.not_equal(self._get(sig)[1], 0, out=recorded[key][:, k - 1])
        sent = self.sent
        self._arrays, self.sent, self.receive = None, None, None
        return sent, recorded
