"""Synaptic input of nengo-loihi's chip blocks for a batch: the integer weights of the
blocks' own ``Axon``/``Synapse`` objects as one matrix per target block, refactored
exactly into gathers of source patches times small kernels (im2col) where the
weights are shared (convolutions).

Every spike that compartment (or host input) ``i`` emitted at step ``t-1`` adds the
integer weights of its axons to the target compartments at step ``t``. nengo-loihi
loops over single spikes; here the same integer weights are assembled once into a
matrix ``M`` (sources x compartments) and the input is ``spikes @ M``. All products
are integers summed in float32 when the largest possible column sum is below 2**24,
else in float64 (below 2**53), so the result is exact whatever the summation order.
"""

import numpy as np
import scipy.sparse

from snnkit.exceptions import UnsupportedFeatureError

FLOAT32_EXACT = 2**24  # integers below this add exactly in float32
FLOAT64_EXACT = 2**53
# a refactored (im2col) kernel may do at most this many times the work of M
_MAX_IM2COL_WASTE = 2.0


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
        if not np.array_equal(gather - gather[0],
                              np.broadcast_to(base[:, None], gather.shape)):
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


class Im2colGroup:
    """Target blocks that read the same source patches (G): one gemm per step."""

    def __init__(self, gather, parts):
        self.gather = gather  # (P, K) source indices
        self.parts = parts  # list of (block index, kernel (K, C), flat idx or None)
        kernel = np.hstack([p[1] for p in parts])
        col_bound = np.abs(kernel).sum(axis=0).max() if kernel.size else 0
        if col_bound >= FLOAT64_EXACT:
            raise UnsupportedFeatureError(
                "synaptic input sums beyond 2**53", "im2col kernel", "smaller weights"
            )
        self.dtype = np.float32 if col_bound < FLOAT32_EXACT else np.float64
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

    def fused_target(self, comp_slices):
        """Where the whole gemm output goes in one transposed copy, if it can.

        Parameters
        ----------
        comp_slices : list of slice
            Each block's compartments.

        Returns
        -------
        tuple of int or None
            ``(start, n_blocks, Cb)`` if the blocks sit back to back in compartment
            order with equal widths and natural (position, channel) layout: then the
            whole gemm output goes to the compartments in one transposed copy; else
            None.
        """
        widths = {c1 - c0 for c0, c1 in zip(self.offsets[:-1], self.offsets[1:])}
        if len(widths) != 1 or any(flat is not None for _, _, flat in self.parts):
            return None
        sls = [comp_slices[bi] for bi, _, _ in self.parts]
        if any(a.stop != b.start for a, b in zip(sls[:-1], sls[1:])):
            return None
        return sls[0].start, len(sls), widths.pop()

    def apply(self, spikes, q, comp_slices):
        """Write this group's input from ``spikes`` (batch, n_src) into ``q``."""
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


def weight_matrices(blocks, inputs, input_slices, block_slices, n_src):
    """Integer matrix (n_src, n_block) for each target block (None if no input).

    Parameters
    ----------
    blocks : list of LoihiBlock
        The target blocks.
    inputs : list of SpikeInput
        The chip inputs.
    input_slices : dict of SpikeInput to slice
        Each input's rows of the source vector.
    block_slices : list of slice
        Each block's rows of the source vector.
    n_src : int
        Sources in all: inputs, then compartments.

    Returns
    -------
    list of scipy.sparse.csc_matrix or None
    """
    triplets = [([], [], []) for _ in blocks]
    syn_block = {}
    for bi, b in enumerate(blocks):
        for syn in b.synapses:
            syn_block[syn] = bi
    sources = [(inp, input_slices[inp]) for inp in inputs] + list(
        zip(blocks, block_slices)
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
            shape=(n_src, blocks[bi].n_neurons),
        ).tocsc()
        m.sort_indices()
        matrices.append(m)
    return matrices


def im2col(m):
    """Exact refactorization of ``m`` as patches @ kernel, or None.

    Parameters
    ----------
    m : scipy.sparse.csc_matrix
        A block's weight matrix of :func:`weight_matrices`.

    Returns
    -------
    tuple or None
        ``(gather, kernel, flat)``: the source indices ``(P, K)`` of each patch, the
        kernel ``(K, C)`` and the flat index of each target compartment (None when
        it is the natural order); None when ``m`` cannot be refactored, or the
        kernel would do more than ``_MAX_IM2COL_WASTE`` times the work of ``m``.
    """
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
