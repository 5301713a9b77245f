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
  the result is exact whatever the summation order.
* compartment dynamics: the integer decay, overflow and threshold arithmetic of
  ``CompartmentState.update``, vectorized over (batch, compartments) in int64.

Units: time in steps of ``dt``; currents, voltages and weights are the chip's
integer units.
"""

from collections import OrderedDict

import numpy as np
import scipy.sparse
from nengo_loihi.builder.discretize import Q_BITS, U_BITS
from nengo_loihi.inputs import SpikeInput

from .loihi_fast_errors import UnsupportedFeatureError

_FLOAT32_EXACT = 2**24  # integers below this add exactly in float32
_FLOAT64_EXACT = 2**53
# a refactored (im2col) kernel may do at most this many times the work of M
_MAX_IM2COL_WASTE = 2.0


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


def _dedup_keep_last(idx, w):
    """Emulate ``q[idx] += w`` with repeated ``idx``: the last write wins."""
    if len(np.unique(idx)) == len(idx):
        return idx, w
    rev = idx[::-1]
    _, first_in_rev = np.unique(rev, return_index=True)
    keep = len(idx) - 1 - first_in_rev
    return idx[keep], w[keep]


def _axon_triplets(axon, n_src, src_offset):
    """(source row, target compartment, weight) for every spike path of ``axon``."""
    syn = axon.target
    comp = np.arange(n_src)
    axon_ids = np.asarray(axon.map_axon(comp))
    atoms = (
        np.asarray(axon.compartment_atoms)
        if axon.compartment_atoms is not None
        else np.zeros(n_src, dtype=int)
    )
    rows, cols, data = [], [], []
    for i in range(n_src):
        a = int(axon_ids[i])
        if a < 0:
            continue
        base = syn.axon_compartment_base(a)
        if base is None:
            continue
        w, idx = syn.axon_weights_indices(a, atom=int(atoms[i]))
        idx, w = _dedup_keep_last(base + np.asarray(idx, dtype=np.int64), w)
        rows.append(np.full(len(idx), src_offset + i, dtype=np.int64))
        cols.append(idx)
        data.append(np.asarray(w, dtype=np.int64))
    return rows, cols, data


def _unique_rows_in_order(a):
    """Unique rows of ``a`` in order of first appearance, and each row's index."""
    _, first, inverse = np.unique(a, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return a[np.sort(first)], rank[inverse.ravel()]


class _Im2colGroup:
    """Target blocks that read the same source patches (G): one gemm per step."""

    def __init__(self, gather, parts):
        self.gather = gather  # (P, K) source indices
        self.parts = parts  # list of (block index, kernel (K, C), flat idx or None)
        kernel = np.hstack([p[1] for p in parts])
        col_bound = np.abs(kernel).sum(axis=0).max() if kernel.size else 0
        if col_bound >= _FLOAT64_EXACT:
            raise UnsupportedFeatureError(
                "synaptic input sums beyond 2**53", "im2col kernel", "smaller weights"
            )
        self.dtype = np.float32 if col_bound < _FLOAT32_EXACT else np.float64
        self.kernel = kernel.astype(self.dtype)
        self.offsets = np.cumsum([0] + [p[1].shape[1] for p in parts])

    def apply(self, spikes, q, block_slices):
        batch = spikes.shape[0]
        P, K = self.gather.shape
        patches = np.take(spikes, self.gather.ravel(), axis=1)
        patches = patches.reshape(batch * P, K).astype(self.dtype, copy=False)
        out = (patches @ self.kernel).reshape(batch, P, -1)
        for (bi, kern, flat), c0, c1 in zip(
            self.parts, self.offsets[:-1], self.offsets[1:]
        ):
            ob = out[:, :, c0:c1].reshape(batch, -1)
            if flat is not None:
                ob = np.take(ob, flat, axis=1)
            q[:, block_slices[bi]] += ob


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
        matrices = self._weight_matrices()
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
        # decay_int(x, d, offset): sign(x) * ((|x| * (4096 - offset - d)) >> 12)
        self.r_u = 4096 - 1 - self.decay_u
        self.r_v = 4096 - self.decay_v
        self.any_bias = bool(np.any(self.bias))
        self.v_no_decay = bool(np.all(self.r_v == 4096))

    def _weight_matrices(self):
        """Integer matrix (n_src, n_block) for each target block (None if no input)."""
        triplets = [([], [], []) for _ in self.blocks]
        syn_block = {}
        for bi, b in enumerate(self.blocks):
            for syn in b.synapses:
                syn_block[syn] = bi
        sources = [(inp, self.input_slices[inp]) for inp in self.inputs] + list(
            zip(self.blocks, self.block_slices)
        )
        for src, sl in sources:
            for axon in src.axons:
                bi = syn_block[axon.target]
                r, c, d = _axon_triplets(axon, sl.stop - sl.start, sl.start)
                triplets[bi][0].extend(r)
                triplets[bi][1].extend(c)
                triplets[bi][2].extend(d)
        matrices = []
        for bi, (r, c, d) in enumerate(triplets):
            if not r:
                matrices.append(None)
                continue
            m = scipy.sparse.coo_matrix(
                (np.concatenate(d), (np.concatenate(r), np.concatenate(c))),
                shape=(self.n_src, self.blocks[bi].n_neurons),
            ).tocsc()
            m.sort_indices()
            matrices.append(m)
        return matrices

    @staticmethod
    def _im2col(m):
        """Exact refactorization of ``m`` as patches @ kernel, or None."""
        lengths = np.diff(m.indptr)
        if len(lengths) == 0 or np.any(lengths != lengths[0]) or lengths[0] == 0:
            return None
        n_dst, K = len(lengths), int(lengths[0])
        rows = m.indices.reshape(n_dst, K)
        weights = m.data.reshape(n_dst, K)
        gather, pos = _unique_rows_in_order(rows)
        kernel_t, cls = _unique_rows_in_order(weights)
        P, C = len(gather), len(kernel_t)
        if P * K * C > _MAX_IM2COL_WASTE * m.nnz:
            return None
        flat = pos * C + cls
        if np.array_equal(flat, np.arange(n_dst)):
            flat = None
        return gather, kernel_t.T.copy(), flat

    def _init_kernels(self, matrices):
        groups = OrderedDict()
        self.sparse_parts = []
        for bi, m in enumerate(matrices):
            if m is None:
                continue
            fact = self._im2col(m)
            if fact is None:
                bound = np.abs(m).sum(axis=0).max()
                if bound >= _FLOAT64_EXACT:
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
        self.groups = [_Im2colGroup(g, parts) for g, parts in groups.values()]

    # --- run -------------------------------------------------------------------
    def synaptic_input(self, spikes):
        """Integer input (batch, n_comp) caused by last step's ``spikes`` (float32)."""
        q = np.zeros((spikes.shape[0], self.n_comp), dtype=np.float64)
        for group in self.groups:
            group.apply(spikes, q, self.comp_slices)
        for bi, m in self.sparse_parts:
            q[:, self.comp_slices[bi]] += (m.T @ spikes.T.astype(np.float64)).T
        return q.astype(np.int64)

    def new_state(self, batch):
        """Compartment state at rest: zeros (as ``CompartmentState.__init__``)."""
        shape = (batch, self.n_comp)
        return {
            "current": np.zeros(shape, dtype=np.int64),
            "voltage": np.zeros(shape, dtype=np.int64),
            "ref_count": np.zeros(shape, dtype=np.int64),
        }

    def update(self, state, q):
        """One ``CompartmentState.update``; returns the spiked mask (batch, n_comp)."""
        overflow = _wrap_signed(q, Q_BITS)
        u = state["current"]
        u = _decay(u, self.r_u) + q
        overflow |= _wrap_signed(u, U_BITS)
        state["current"] = u
        if self.any_bias:
            u2 = u + self.bias
            overflow |= _wrap_signed(u2, U_BITS)
        else:
            u2 = u  # wrapping u again is a no-op
        v = state["voltage"]
        v = (v if self.v_no_decay else _decay(v, self.r_v)) + u2
        np.clip(v, self.vmin, self.vmax, out=v)
        ref_count = state["ref_count"]
        v[ref_count > 0] = 0
        spiked = v > self.vth
        v[spiked] = 0
        state["voltage"] = v
        np.copyto(ref_count, self.ref, where=spiked)
        ref_count -= 1
        np.maximum(ref_count, 0, out=ref_count)
        return spiked, overflow


def _decay(x, r):
    """``sign(x) * ((|x| * r) >> 12)`` (nengo-loihi's ``decay_int``)."""
    # for x < 0 this is ceil(x * r / 4096) = floor((x * r + 4095) / 4096)
    prod = x * r
    prod += (x >> 63) & 4095
    prod >>= 12
    return prod


def _wrap_signed(x, bits):
    """In-place two's complement wrap to ``bits`` + sign (``overflow_signed``)."""
    smask = 1 << bits
    lo, hi = x.min(initial=0), x.max(initial=0)
    if lo >= -smask and hi < smask:
        return False  # nothing to wrap: skip the masking passes
    z = x & smask
    x &= smask - 1
    x -= z
    return True
