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
import scipy.sparse
from nengo_loihi.builder.discretize import Q_BITS, U_BITS
from nengo_loihi.inputs import SpikeInput

from snnkit.exceptions import UnsupportedFeatureError

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


def _grid(base):
    """(Py, Px, sy, sx) with base[py * Px + px] == sy * py + sx * px, or None."""
    P = len(base)
    if P == 1:
        return 1, 1, 0, 0
    sx = int(base[1] - base[0])
    px = 1
    while px < P and base[px] == px * sx:
        px += 1
    if P % px:
        return None
    py = P // px
    sy = int(base[px]) if py > 1 else 0
    grid = (sy * np.arange(py)[:, None] + sx * np.arange(px)[None, :]).ravel()
    return (py, px, sy, sx) if np.array_equal(grid, base) else None


def _runs(offsets):
    """Split ``offsets`` into runs of consecutive integers: [(k0, start, length)]."""
    breaks = np.flatnonzero(np.diff(offsets) != 1) + 1
    starts = np.concatenate([[0], breaks])
    ends = np.concatenate([breaks, [len(offsets)]])
    return [(int(a), int(offsets[a]), int(b - a)) for a, b in zip(starts, ends)]


class _StridedPatches:
    """Gather ``spikes[:, G]`` for a convolutional G with strided block copies.

    Valid convolutions read, at every output position, the same kernel offsets
    translated on a 2-D grid: ``G[p, k] = G[0, k] + sy * py + sx * px``. The
    kernel offsets form a few runs of consecutive sources (one per kernel row
    and source block), each copied for all positions at once through a strided
    view, which is much faster than a fancy-index gather.
    """

    def __init__(self, gather):
        base = gather[:, 0] - gather[0, 0]
        if not np.array_equal(gather - gather[0], np.broadcast_to(base[:, None], gather.shape)):
            raise ValueError("not translation-invariant")
        grid = _grid(base)
        if grid is None:
            raise ValueError("positions are not a 2-D grid")
        self.py, self.px, self.sy, self.sx = grid
        self.runs = _runs(gather[0])
        self.K = gather.shape[1]

    def __call__(self, spikes, out):
        """Fill ``out`` (batch, Py, Px, K) from ``spikes`` (batch, n_src)."""
        item = spikes.itemsize
        sb = spikes.strides[0]
        for k0, start, length in self.runs:
            src = np.lib.stride_tricks.as_strided(
                spikes[:, start:],
                shape=(spikes.shape[0], self.py, self.px, length),
                strides=(sb, self.sy * item, self.sx * item, item),
                writeable=False,
            )
            out[..., k0 : k0 + length] = src


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
        # a dense layer reads one contiguous run of sources: slice, don't gather
        g = gather.ravel()
        self.src_range = None
        self.strided = None
        if gather.shape[0] == 1 and np.array_equal(g, np.arange(g[0], g[0] + len(g))):
            self.src_range = slice(int(g[0]), int(g[0]) + len(g))
        else:
            try:
                self.strided = _StridedPatches(gather)
            except ValueError:
                self.strided = None  # irregular: fancy-index gather

    def _fused_target(self, comp_slices):
        """(start, n_blocks, Cb) if the blocks sit back to back in compartment
        order with equal widths and natural (position, channel) layout: then the
        whole gemm output goes to the compartments in one transposed copy."""
        widths = {c1 - c0 for c0, c1 in zip(self.offsets[:-1], self.offsets[1:])}
        if len(widths) != 1 or any(flat is not None for _, _, flat in self.parts):
            return None
        sls = [comp_slices[bi] for bi, _, _ in self.parts]
        if any(a.stop != b.start for a, b in zip(sls[:-1], sls[1:])):
            return None
        return sls[0].start, len(sls), widths.pop()

    def apply(self, spikes, q, comp_slices):
        batch = spikes.shape[0]
        P, K = self.gather.shape
        if self.src_range is not None:
            patches = spikes[:, self.src_range]
        elif self.strided is not None:
            st = self.strided
            patches = np.empty((batch, st.py, st.px, K), dtype=spikes.dtype)
            st(spikes, patches)
            patches = patches.reshape(batch * P, K)
        else:
            patches = np.take(spikes, self.gather.ravel(), axis=1)
            patches = patches.reshape(batch * P, K)
        out = (patches.astype(self.dtype, copy=False) @ self.kernel).reshape(
            batch, P, -1
        )
        if self.fused is not None:
            start, nb, cb = self.fused
            target = q[:, start : start + nb * P * cb]
            target.shape = (batch, nb, P, cb)  # raises rather than copy
            target[...] = out.reshape(batch, P, nb, cb).transpose(0, 2, 1, 3)
            return
        for (bi, _, flat), c0, c1 in zip(self.parts, self.offsets[:-1], self.offsets[1:]):
            target = q[:, comp_slices[bi]]
            if flat is None:
                target.shape = (batch, P, c1 - c0)  # raises rather than copy
                target[...] = out[:, :, c0:c1]
            else:
                target[...] = np.take(out[:, :, c0:c1].reshape(batch, -1), flat, axis=1)


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
        q_bound = 0
        for bi, m in enumerate(matrices):
            if m is None:
                continue
            q_bound = max(q_bound, int(abs(m).sum(axis=0).max()))
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
        for group in self.groups:
            group.fused = group._fused_target(self.comp_slices)
        # if no compartment can receive 2**Q_BITS, q never wraps: skip the check
        self.q_may_wrap = q_bound >= 2**Q_BITS
        self.q_dtype = np.float32 if q_bound < _FLOAT32_EXACT else np.float64

    # --- run -------------------------------------------------------------------
    def synaptic_input(self, spikes):
        """Integer input (batch, n_comp) from last step's ``spikes``.

        float32 when no compartment can receive 2**24 or more (exact), else float64.
        """
        q = np.zeros((spikes.shape[0], self.n_comp), dtype=self.q_dtype)
        for group in self.groups:
            group.apply(spikes, q, self.comp_slices)
        for bi, m in self.sparse_parts:
            q[:, self.comp_slices[bi]] = (m.T @ spikes.T.astype(np.float64)).T
        return q

    def new_state(self, batch):
        """Compartment state at rest: zeros (as ``CompartmentState.__init__``)."""
        shape = (batch, self.n_comp)
        return {
            "current": np.zeros(shape),
            "voltage": np.zeros(shape),
            "ref_count": np.zeros(shape),
        }

    def update(self, state, q):
        """One ``CompartmentState.update`` (in place).

        Returns the spiked mask (batch, n_comp) and whether anything wrapped.
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
