"""Structured linear maps and their exact composition, for collapsing nengo-dl's
passthrough nodes (Add, Concatenate, linear Conv/Dense, BatchNormalization, pooling)
into direct connections nengo-loihi can build (:mod:`.passes`).

A map is a chain of ops applied left to right to a flat (channels-last) vector:

- ``Ident(n)``
- ``Dense(M)``            y = M @ x              (nengo ``Dense`` with a 2-D init)
- ``Diag(v)``             y = v * x              (nengo ``Dense`` with a 1-D init, scalar)
- ``Conv(transform)``     a 2-D, channels-last, groups=1 ``nengo.Convolution``
- ``Scatter(idx, n)``     y = zeros(n); y[idx] = x (a connection's ``post_slice``)
- ``Gather(idx, n)``      y = x[idx]             (a connection's ``pre_slice``)

:func:`simplify` reduces a chain with *exact* rules only (no rounding beyond float64
arithmetic on the weights):

=======================  ====================================================
pair (first, then)       result
=======================  ====================================================
Ident, X / X, Ident      X
Scatter, Gather          one Scatter/Gather/Ident when the indices allow it
Scatter, Conv            Conv with the kernel's input channels sliced, when the
                         scattered indices are a block of whole channels
                         (Concatenate along channels -> next convolution)
Scatter, Dense           Dense with the selected columns
Dense/Diag, Dense/Diag   their product
Diag, Conv               Conv with input channels scaled, if Diag is constant over
                         positions (BatchNormalization before a convolution)
Conv, Diag               Conv with output channels scaled, same condition
Conv, Dense              Dense (the convolution's matrix times the Dense)
Conv, Scatter            Conv with zero output channels around, when the scattered
                         indices are a block of whole channels (a branch of a
                         Concatenate read by a neuron layer directly)
Conv, Conv               one Conv when exact: the first is 1x1 stride 1, or the
                         second is 1x1 stride 1, or both have 'valid' padding
=======================  ====================================================

Anything else falls back to one dense matrix (:func:`to_matrix`), refused above a
size bound (:data:`MAX_DENSE` entries) with a
:class:`~snnkit.exceptions.LoihiMappingError`. :func:`apply` evaluates any chain
numerically (float64) for constants (biases) and for checking the rules.
"""

from __future__ import annotations

import dataclasses

import nengo
import numpy as np
from nengo.builder.transforms import conv2d

from snnkit.exceptions import LoihiMappingError

MAX_DENSE = 2 ** 22  # entries of a fallback dense matrix (32 MB as float64)


# --- ops --------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, eq=False)
class Ident:
    """The identity on ``n`` entries."""

    n: int

    n_in = property(lambda self: self.n)
    n_out = property(lambda self: self.n)

    def apply(self, x):
        return x


@dataclasses.dataclass(frozen=True, eq=False)
class Dense:
    """``y = M @ x``."""

    M: np.ndarray

    n_in = property(lambda self: self.M.shape[1])
    n_out = property(lambda self: self.M.shape[0])

    def apply(self, x):
        return self.M @ x


@dataclasses.dataclass(frozen=True, eq=False)
class Diag:
    """``y = v * x``, entry by entry."""

    v: np.ndarray  # (n,)

    n_in = property(lambda self: len(self.v))
    n_out = property(lambda self: len(self.v))

    def apply(self, x):
        return self.v.reshape((-1,) + (1,) * (x.ndim - 1)) * x


@dataclasses.dataclass(frozen=True, eq=False)
class Scatter:
    """``y = zeros(n); y[idx] = x`` (a connection's post slice)."""

    idx: np.ndarray
    n: int

    n_in = property(lambda self: len(self.idx))
    n_out = property(lambda self: self.n)

    def apply(self, x):
        y = np.zeros((self.n,) + x.shape[1:])
        np.add.at(y, self.idx, x)
        return y


@dataclasses.dataclass(frozen=True, eq=False)
class Gather:
    """``y = x[idx]`` (a connection's pre slice; ``n`` is the input's size)."""

    idx: np.ndarray
    n: int

    n_in = property(lambda self: self.n)
    n_out = property(lambda self: len(self.idx))

    def apply(self, x):
        return x[self.idx]


@dataclasses.dataclass(frozen=True, eq=False)
class Conv:
    """Kernel (kh, kw, cin, cout) float64, input (H, W, cin), strides, padding."""

    kernel: np.ndarray
    input_shape: tuple
    strides: tuple
    padding: str

    @classmethod
    def from_nengo(cls, t):
        if t.dimensions != 2 or not t.channels_last or t.groups != 1:
            raise LoihiMappingError(f"{t}: only 2-D channels-last groups=1 convolutions")
        return cls(np.asarray(t.init, np.float64), tuple(t.input_shape.shape),
                   tuple(t.strides), t.padding)

    @property
    def output_shape(self):
        H, W, _ = self.input_shape
        kh, kw = self.kernel.shape[:2]
        sh, sw = self.strides
        if self.padding == "valid":
            return ((H - kh) // sh + 1, (W - kw) // sw + 1, self.kernel.shape[3])
        return (-(-H // sh), -(-W // sw), self.kernel.shape[3])

    n_in = property(lambda self: int(np.prod(self.input_shape)))
    n_out = property(lambda self: int(np.prod(self.output_shape)))

    def apply(self, x):
        cols = x.reshape(self.n_in, -1).T.reshape((-1,) + self.input_shape)
        y = conv2d(cols, self.kernel, pad=self.padding.upper(), stride=self.strides)
        y = y.reshape(len(cols), -1).T
        return y.reshape((self.n_out,) + x.shape[1:])

    def to_nengo(self):
        return nengo.Convolution(
            n_filters=self.kernel.shape[3], input_shape=self.input_shape,
            kernel_size=self.kernel.shape[:2], strides=self.strides,
            padding=self.padding, channels_last=True, init=self.kernel)


# --- rules --------------------------------------------------------------------------
def _per_channel(v, shape):
    """The per-channel values of ``v`` (flat, channels last over ``shape``) if it is
    constant over positions, else None."""
    c = shape[-1]
    if len(v) != int(np.prod(shape)):
        return None
    rows = v.reshape(-1, c)
    return rows[0].copy() if np.all(rows == rows[0]) else None


def _channel_block(idx, shape):
    """(c0, c1) if ``idx`` are exactly channels c0..c1-1 at every position of
    ``shape`` (channels last), in order, else None."""
    H, W, C = shape
    idx = np.asarray(idx)
    k = len(idx) // (H * W)
    if k * H * W != len(idx) or k == 0:
        return None
    c0 = int(idx[0])
    if c0 >= C:
        return None
    expect = np.arange(H * W * C).reshape(H, W, C)[:, :, c0:c0 + k].ravel()
    whole = len(expect) == len(idx) and np.array_equal(expect, idx)
    return (c0, c0 + k) if whole else None


def _conv_conv(a, b):
    ka, kb = a.kernel, b.kernel
    if ka.shape[:2] == (1, 1) and a.strides == (1, 1):
        k = np.einsum("cm,hwmf->hwcf", ka[0, 0], kb)
        return Conv(k, a.input_shape, b.strides, b.padding)
    if kb.shape[:2] == (1, 1) and b.strides == (1, 1):
        k = np.einsum("hwcm,mf->hwcf", ka, kb[0, 0])
        return Conv(k, a.input_shape, a.strides, a.padding)
    if a.padding == "valid" and b.padding == "valid":
        (kh1, kw1, cin, _), (kh2, kw2, _, cout) = ka.shape, kb.shape
        s1h, s1w = a.strides
        K = np.zeros((kh1 + (kh2 - 1) * s1h, kw1 + (kw2 - 1) * s1w, cin, cout))
        for j in range(kh2):
            for m in range(kw2):
                K[j * s1h:j * s1h + kh1, m * s1w:m * s1w + kw1] += np.einsum(
                    "hwcm,mf->hwcf", ka, kb[j, m])
        return Conv(K, a.input_shape, (s1h * b.strides[0], s1w * b.strides[1]), "valid")
    return None


def compose_pair(a, b):
    """One op equal to ``b(a(x))``, or None."""
    if isinstance(a, Ident):
        return b
    if isinstance(b, Ident):
        return a
    if isinstance(a, Scatter) and isinstance(b, Gather):
        inv = -np.ones(a.n, dtype=np.int64)
        inv[a.idx] = np.arange(len(a.idx))
        pos = inv[b.idx]
        if np.any(pos < 0):
            return None  # reads entries nobody writes: zeros (rare); dense fallback
        if np.array_equal(pos, np.arange(len(a.idx))):
            return Ident(len(a.idx))
        return Gather(pos, len(a.idx))
    if isinstance(a, Scatter) and isinstance(b, Scatter):
        return Scatter(b.idx[a.idx], b.n)
    if isinstance(a, Scatter) and isinstance(b, Conv):
        block = _channel_block(a.idx, b.input_shape)
        if block is None:
            return None
        c0, c1 = block
        H, W, _ = b.input_shape
        return Conv(b.kernel[:, :, c0:c1, :], (H, W, c1 - c0), b.strides, b.padding)
    if isinstance(a, Conv) and isinstance(b, Scatter):
        H, W, C = a.output_shape
        if b.n % (H * W):
            return None
        total = b.n // (H * W)
        block = _channel_block(b.idx, (H, W, total))
        if block is None or block[1] - block[0] != C:
            return None
        k = np.zeros(a.kernel.shape[:3] + (total,))
        k[..., block[0]:block[1]] = a.kernel
        return Conv(k, a.input_shape, a.strides, a.padding)
    if isinstance(a, Scatter) and isinstance(b, Dense):
        return Dense(b.M[:, a.idx])
    if isinstance(a, (Dense, Diag)) and isinstance(b, (Dense, Diag)):
        if isinstance(a, Diag) and isinstance(b, Diag):
            return Diag(a.v * b.v)
        if isinstance(a, Diag):
            return Dense(b.M * a.v[None, :])
        if isinstance(b, Diag):
            return Dense(b.v[:, None] * a.M)
        return Dense(b.M @ a.M)
    if isinstance(a, Diag) and isinstance(b, Conv):
        per = _per_channel(a.v, b.input_shape)
        if per is None:
            return None
        return Conv(b.kernel * per[None, None, :, None], b.input_shape, b.strides,
                    b.padding)
    if isinstance(a, Conv) and isinstance(b, Diag):
        per = _per_channel(b.v, a.output_shape)
        if per is None:
            return None
        return Conv(a.kernel * per, a.input_shape, a.strides, a.padding)
    if isinstance(a, Conv) and isinstance(b, Dense):
        return Dense(b.M @ to_matrix([a]))
    if isinstance(a, Conv) and isinstance(b, Conv):
        return _conv_conv(a, b)
    return None


def simplify(chain):
    """``chain`` (a list of ops) reduced with the exact pairwise rules, left to
    right, as far as they go."""
    chain = [op for op in chain if not isinstance(op, Ident)] or chain[:1]
    changed = True
    while changed and len(chain) > 1:
        changed = False
        for i in range(len(chain) - 1):
            c = compose_pair(chain[i], chain[i + 1])
            if c is not None:
                chain = chain[:i] + [c] + chain[i + 2:]
                changed = True
                break
    return chain


def apply(chain, x):
    """``chain`` applied to ``x`` (entries on the first axis), in float64."""
    for op in chain:
        x = op.apply(x)
    return x


def to_matrix(chain):
    """The dense matrix of ``chain``; refused above :data:`MAX_DENSE` entries."""
    n_in = chain[0].n_in
    n_out = chain[-1].n_out
    if n_in * n_out > MAX_DENSE:
        raise LoihiMappingError(
            f"writing {' then '.join(type(op).__name__ for op in chain)} as one "
            f"connection needs a dense {n_out}x{n_in} matrix (more than {MAX_DENSE} "
            "entries)")
    return apply(chain, np.eye(n_in))


# --- nengo transforms <-> ops -------------------------------------------------------
def ops_of_connection(conn):
    """The chain of ``conn`` from its (sliced) pre output to its post object's whole
    input vector: transform, then the post slice as a Scatter."""
    t = conn.transform
    kind = type(t).__name__
    if kind == "NoTransform":
        ops = [Ident(conn.size_mid)]
    elif kind == "Dense":
        init = np.asarray(t.init, np.float64)
        if init.ndim == 0:
            ops = [Diag(np.full(conn.size_mid, float(init)))]
        elif init.ndim == 1:
            ops = [Diag(init)]
        else:
            ops = [Dense(init)]
    elif kind == "Convolution":
        ops = [Conv.from_nengo(t)]
    elif kind == "Sparse":
        ops = [Dense(np.asarray(t.init.toarray() if hasattr(t.init, "toarray")
                                else t.sample(), np.float64))]
    else:
        raise LoihiMappingError(f"{conn}: transform {kind}")
    if not is_full(conn.post_slice):
        idx = np.arange(conn.post_obj.size_in)[conn.post_slice]
        ops.append(Scatter(idx, conn.post_obj.size_in))
    return ops


def is_full(sl):
    """Whether a connection slice takes the whole object."""
    return isinstance(sl, slice) and sl == slice(None)


def gather_of_slice(obj_size, pre_slice):
    """The ops of reading ``pre_slice`` of an object of ``obj_size`` entries."""
    if is_full(pre_slice):
        return []
    return [Gather(np.arange(obj_size)[pre_slice], obj_size)]


def to_transform(op):
    """A nengo transform for one op (Ident -> None meaning NoTransform)."""
    if isinstance(op, Ident):
        return None
    if isinstance(op, Dense):
        return nengo.Dense(op.M.shape, init=op.M)
    if isinstance(op, Diag):
        return nengo.Dense(op.v.shape, init=op.v)
    if isinstance(op, Conv):
        return op.to_nengo()
    raise LoihiMappingError(f"no nengo transform for {type(op).__name__}")
