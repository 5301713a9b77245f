"""Batched integer simulation of nengo-loihi's discretized chip blocks.

Reproduces ``nengo_loihi.emulator.EmulatorInterface`` (nengo-loihi 1.1.0) step
for step, for a batch of independent samples at once:

* synaptic input: every spike that compartment (or host input) ``i`` emitted at
  step ``t-1`` adds the integer weights of its axons to the target
  compartments at step ``t``. nengo-loihi loops over single spikes; here the
  same integer weights are assembled once into a matrix ``M`` (sources x
  compartments) from the blocks' own ``Axon``/``Synapse`` objects, and the input
  is ``spikes @ M``. Convolutional blocks share weights across positions, so
  ``M`` is refactored exactly into a gather of source patches times a small
  kernel matrix (im2col). All products are integers summed in float32 when the
  largest possible column sum is below 2**24, else in float64 (below 2**53), so
  the result is exact whatever the summation order (:mod:`.synapses`).
* compartment dynamics: the integer decay, overflow and threshold arithmetic of
  ``CompartmentState.update``, vectorized over (batch, compartments). State is
  held in float64 holding integers (all below 2**25, so every sum is exact), which
  makes the decay ``sign(x) * ((|x| * r) >> 12)`` a single exact
  ``trunc(x * (r / 4096))``: ``r / 4096`` is a 12-bit binary fraction, so the
  product needs at most 35 bits. Overflow wrapping is done in int64 when a
  cheap range check says it is needed.

Units: time in steps of ``dt``; currents, voltages and weights are the chip's
integer units.
"""

from collections import OrderedDict

import numpy as np
from nengo_loihi.builder.discretize import Q_BITS, U_BITS
from nengo_loihi.inputs import SpikeInput

from snnkit.backends.loihi_fast.synapses import (
    FLOAT32_EXACT,
    FLOAT64_EXACT,
    Im2colGroup,
    im2col,
    weight_matrices,
)
from snnkit.exceptions import UnsupportedFeatureError


def _validate_blocks(model):
    for block in model.blocks:
        comp = block.compartment
        where = f"block {block}"
        if comp.vth.dtype != np.int32:
            raise UnsupportedFeatureError(
                "non-discretized blocks (target='simreal')", where, "target='sim'"
            )
        if np.any(comp.enable_noise):
            raise UnsupportedFeatureError(
                "compartment noise", where, "noise-free compartments"
            )
        if comp.scale_u or comp.scale_v:
            raise UnsupportedFeatureError(
                "undiscretized U/V scaling", where, "discretized compartments"
            )
        for syn in block.synapses:
            if syn.learning:
                raise UnsupportedFeatureError(
                    "learning rules (on-chip synapse learning, e.g. PES)",
                    f"synapse {syn} of {where}",
                    "fixed weights",
                )
    for inp in model.inputs:
        if not isinstance(inp, SpikeInput):
            raise UnsupportedFeatureError(
                f"chip input {type(inp).__name__}", f"input {inp}", "SpikeInput"
            )
        if inp.spikes or inp.permanent:
            raise UnsupportedFeatureError(
                "pre-loaded chip input spikes (e.g. DVS files)",
                f"input {inp.label}",
                "spikes sent from host neurons",
            )


class ChipEngine:
    """All discretized blocks of a nengo-loihi ``Model``, simulated in batch.

    Parameters
    ----------
    model : nengo_loihi.builder.Model
        A model built and discretized by ``nengo_loihi.Simulator(target="sim")``.
    """

    def __init__(self, model):
        _validate_blocks(model)
        self.blocks = list(model.blocks)
        self.inputs = list(model.inputs)
        self.block_index = {b: i for i, b in enumerate(self.blocks)}
        # source vector: [input spikes..., compartment spikes...]
        self.input_slices = OrderedDict()
        start = 0
        for inp in self.inputs:
            self.input_slices[inp] = slice(start, start + inp.n_neurons)
            start += inp.n_neurons
        self.n_input_src = start
        self.block_slices = []
        for b in self.blocks:
            self.block_slices.append(slice(start, start + b.n_neurons))
            start += b.n_neurons
        self.n_src = start
        self.n_comp = start - self.n_input_src
        self.comp_slices = [
            slice(s.start - self.n_input_src, s.stop - self.n_input_src)
            for s in self.block_slices
        ]
        self._init_params()
        matrices = weight_matrices(self.blocks, self.inputs, self.input_slices,
                                   self.block_slices, self.n_src)
        self._init_kernels(matrices)

    # --- build -----------------------------------------------------------------
    def _init_params(self):
        n = self.n_comp
        self.decay_u = np.zeros(n, dtype=np.int64)
        self.decay_v = np.zeros(n, dtype=np.int64)
        self.vth = np.zeros(n, dtype=np.int64)
        self.bias = np.zeros(n, dtype=np.int64)
        self.ref = np.zeros(n, dtype=np.int64)
        self.vmin = np.zeros(n, dtype=np.int64)
        self.vmax = np.zeros(n, dtype=np.int64)
        for b, sl in zip(self.blocks, self.comp_slices):
            c = b.compartment
            self.decay_u[sl] = c.decay_u
            self.decay_v[sl] = c.decay_v
            self.vth[sl] = c.vth
            self.bias[sl] = c.bias
            self.ref[sl] = c.refract_delay
            # the emulator stores these in int32 arrays
            self.vmin[sl] = np.int32(c.vmin)
            self.vmax[sl] = np.int32(c.vmax)
        # decay_int(x, d, offset) = sign(x) * ((|x| * (4096 - offset - d)) >> 12)
        #                         = trunc(x * ((4096 - offset - d) / 4096))
        self.c_u = (4096 - 1 - self.decay_u) / 4096.0
        self.c_v = (4096 - self.decay_v) / 4096.0
        self.any_bias = bool(np.any(self.bias))
        self.v_no_decay = bool(np.all(self.c_v == 1.0))
        # refract_delay <= 1: ref_count is back to 0 before every update
        self.uses_refractory = bool(np.any(self.ref > 1))
        self.f_bias = self.bias.astype(np.float64)
        self.f_vth = self.vth.astype(np.float64)
        self.f_vmin = self.vmin.astype(np.float64)
        self.f_vmax = self.vmax.astype(np.float64)
        self.f_ref = self.ref.astype(np.float64)
        self.clip_low = bool(np.any(self.vmin > -(2**62)))

    def _init_kernels(self, matrices):
        groups = OrderedDict()
        self.sparse_parts = []
        q_bound = 0
        for bi, m in enumerate(matrices):
            if m is None:
                continue
            q_bound = max(q_bound, int(abs(m).sum(axis=0).max()))
            fact = im2col(m)
            if fact is None:
                bound = np.abs(m).sum(axis=0).max()
                if bound >= FLOAT64_EXACT:
                    raise UnsupportedFeatureError(
                        "synaptic input sums beyond 2**53",
                        f"block {self.blocks[bi]}",
                        "smaller weights",
                    )
                self.sparse_parts.append((bi, m.astype(np.float64).tocsr()))
                continue
            gather, kernel, flat = fact
            key = (gather.shape, gather.tobytes())
            groups.setdefault(key, (gather, []))[1].append((bi, kernel, flat))
        self.groups = [Im2colGroup(g, parts) for g, parts in groups.values()]
        for group in self.groups:
            group.fused = group.fused_target(self.comp_slices)
        # if no compartment can receive 2**Q_BITS, q never wraps: skip the check
        self.q_may_wrap = q_bound >= 2**Q_BITS
        self.q_dtype = np.float32 if q_bound < FLOAT32_EXACT else np.float64

    # --- run -------------------------------------------------------------------
    def synaptic_input(self, spikes):
        """Integer input (batch, n_comp) from last step's ``spikes``.

        Parameters
        ----------
        spikes : ndarray
            Last step's spikes ``(batch, n_src)``: inputs first, then compartments.

        Returns
        -------
        ndarray
            ``(batch, n_comp)``; float32 when no compartment can receive 2**24 or more
            (exact), else float64.
        """
        q = np.zeros((spikes.shape[0], self.n_comp), dtype=self.q_dtype)
        for group in self.groups:
            group.apply(spikes, q, self.comp_slices)
        for bi, m in self.sparse_parts:
            q[:, self.comp_slices[bi]] = (m.T @ spikes.T.astype(np.float64)).T
        return q

    def new_state(self, batch):
        """Compartment state at rest: zeros (as ``CompartmentState.__init__``).

        Parameters
        ----------
        batch : int
            Samples simulated together.

        Returns
        -------
        dict of str to ndarray
            ``"current"``, ``"voltage"`` and ``"ref_count"``, each ``(batch, n_comp)``.
        """
        shape = (batch, self.n_comp)
        return {
            "current": np.zeros(shape),
            "voltage": np.zeros(shape),
            "ref_count": np.zeros(shape),
        }

    def update(self, state, q):
        """One ``CompartmentState.update`` (in place).

        Parameters
        ----------
        state : dict of str to ndarray
            The state of :meth:`new_state`, updated in place.
        q : ndarray
            This step's synaptic input (:meth:`synaptic_input`).

        Returns
        -------
        spiked : ndarray of bool
            The spiked mask (batch, n_comp).
        overflowed : bool
            Whether anything wrapped.
        """
        overflow = self.q_may_wrap and _wrap_signed(q, Q_BITS)
        u = state["current"]
        u *= self.c_u
        np.trunc(u, out=u)
        u += q
        overflow |= _wrap_signed(u, U_BITS)
        if self.any_bias:
            u2 = u + self.f_bias
            overflow |= _wrap_signed(u2, U_BITS)
        else:
            u2 = u  # wrapping u again would be a no-op
        v = state["voltage"]
        if not self.v_no_decay:
            v *= self.c_v
            np.trunc(v, out=v)
        v += u2
        if self.clip_low:
            np.maximum(v, self.f_vmin, out=v)
        np.minimum(v, self.f_vmax, out=v)
        if self.uses_refractory:
            ref_count = state["ref_count"]
            v[ref_count > 0] = 0
        spiked = v > self.f_vth
        v[spiked] = 0
        if self.uses_refractory:
            np.copyto(ref_count, self.f_ref, where=spiked)
            ref_count -= 1
            np.maximum(ref_count, 0, out=ref_count)
        return spiked, bool(overflow)


def _wrap_signed(x, bits):
    """In-place two's complement wrap to ``bits`` + sign (``overflow_signed``).

    ``x`` is float64 holding integers; returns whether anything wrapped.
    """
    smask = 1 << bits
    if x.size == 0 or (x.min() >= -smask and x.max() < smask):
        return False  # nothing to wrap: skip the integer passes
    xi = x.astype(np.int64)
    z = xi & smask
    xi &= smask - 1
    xi -= z
    x[...] = xi
    return True
