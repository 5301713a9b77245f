"""The graph side of NIR import: check a NIR graph's node values, check it is a
feed-forward chain and walk it node by node (shapes, neuron parameters, gains folded
into weights) into Keras layer specifications. Used by :mod:`snnkit.nir.file` and
:mod:`snnkit.nir.importer`.

Every value a node holds is checked before anything computes with it
(:func:`check_node_values`): window sizes, strides, dilations and groups are
integers (2.7 is refused, never truncated to 2) in 1..``MAX_WINDOW``, padding in
0..``MAX_WINDOW``, tensor sizes in 1..``MAX_DIMENSION`` with at most
``MAX_DIMENSION`` entries, weights and neuron parameters finite, time constants in
(0, ``MAX_TIME_CONSTANT_S``]; :func:`check_dt` bounds the time step.
"""

from __future__ import annotations

import logging
import math
import re
from typing import TYPE_CHECKING, Mapping

import numpy as np

from snnkit.exceptions import NIRError, shown
from snnkit.keras.config import MAX_LAYERS
from snnkit.keras.fields import MAX_DIMENSION, MAX_RANK, MAX_WINDOW

if TYPE_CHECKING:
    from snnkit.network.types import Scales

logger = logging.getLogger(__name__)

WEIGHTED = ("Conv2d", "Affine", "Linear")
NEURONS = ("IF", "LIF", "CubaLIF")
MAX_TIME_CONSTANT_S = 1e4     # a neuron's or synapse's time constant, seconds
MIN_DT_S, MAX_DT_S = 1e-6, 1.0  # the simulation step, seconds
_FLOAT32_MAX = float(np.finfo(np.float32).max)

# the fields of each node type, as a file holds them (Input's and Output's shape is
# "shape", Flatten's "input_type"); the first set is required, the second optional
NODE_FIELDS = {
    "Input": ({"shape"}, set()),
    "Output": ({"shape"}, set()),
    "Conv2d": ({"weight", "stride", "padding", "dilation", "groups", "bias"},
               {"input_shape"}),
    "Affine": ({"weight", "bias"}, set()),
    "Linear": ({"weight"}, set()),
    "Flatten": ({"start_dim", "end_dim"}, {"input_type"}),
    "AvgPool2d": ({"kernel_size", "stride", "padding"}, set()),
    "SumPool2d": ({"kernel_size", "stride", "padding"}, set()),
    "IF": ({"r", "v_threshold"}, {"v_reset"}),
    "LIF": ({"tau", "r", "v_leak", "v_threshold"}, {"v_reset"}),
    "CubaLIF": ({"tau_mem", "tau_syn", "r", "v_leak", "v_threshold", "w_in"},
                {"v_reset"}),
    "LI": ({"tau", "r", "v_leak"}, set()),
}
_WINDOWS = {"stride", "kernel_size", "dilation"}
_TIME_CONSTANTS = {"tau", "tau_mem", "tau_syn"}
_PARAMETERS = {"r", "v_threshold", "v_reset", "v_leak", "w_in", "bias"}
_WEIGHT_RANK = {"Conv2d": 4, "Affine": 2, "Linear": 2}


def check_node_values(where: str, name: str, kind: str, values: Mapping) -> None:
    """Check the values of one node before anything computes with them.

    Parameters
    ----------
    where : str
        Names the graph (its file) in messages.
    name : str
        The node's name.
    kind : str
        Its NIR type (one of :data:`NODE_FIELDS`).
    values : Mapping
        ``{field: value}`` as a file holds them (see :data:`NODE_FIELDS`); fields
        not named there are not looked at.

    Raises
    ------
    NIRError
        Naming the file, the node and the field: a missing field, a value of the
        wrong kind, a non-integral or out-of-range size, a non-finite number.
    """
    required, optional = NODE_FIELDS[kind]

    def refuse(field, expected, value):
        raise NIRError(f"{where}: node {shown(name)} ({kind}): {field}: expected "
                       f"{expected}, got {_described(value)}")

    missing = sorted(required - set(values))
    if missing:
        raise NIRError(f"{where}: node {shown(name)} ({kind}): missing field(s) "
                       f"{', '.join(missing)}")
    for field in sorted((required | optional) & set(values)):
        value = values[field]
        if field == "input_shape" and value is None:
            continue
        if field == "padding" and isinstance(value, (str, bytes)):
            if kind != "Conv2d" or _text(value) not in ("same", "valid"):
                refuse(field, "'same', 'valid' (Conv2d) or ints in "
                       f"0..{MAX_WINDOW}", value)
            continue
        array = _numbers(value)
        if array is None:
            refuse(field, "numbers", value)
        if field == "weight":
            rank = _WEIGHT_RANK[kind]
            if array.ndim != rank or not all(1 <= d <= MAX_DIMENSION
                                             for d in array.shape):
                refuse(field, f"a {rank}-d array of sizes in 1..{MAX_DIMENSION}", value)
            if not np.isfinite(array).all():
                refuse(field, "finite numbers", value)
        elif field in _PARAMETERS:
            if array.ndim > MAX_RANK or not np.isfinite(array).all():
                refuse(field, f"finite numbers (at most {MAX_RANK}-d)", value)
        elif field in _TIME_CONSTANTS:
            if array.ndim > MAX_RANK or not np.isfinite(array).all() \
                    or array.size == 0 or array.min() <= 0 \
                    or array.max() > MAX_TIME_CONSTANT_S:
                refuse(field, f"time constants in (0, {MAX_TIME_CONSTANT_S:g}] s",
                       value)
        elif field in _WINDOWS or field == "padding":
            low = 0 if field == "padding" else 1
            _integers(array, 2, low, MAX_WINDOW, field, value, refuse)
        elif field == "groups":
            _integers(array, 1, 1, MAX_DIMENSION, field, value, refuse, scalar=True)
        elif field == "input_shape":
            _integers(array, 2, 1, MAX_DIMENSION, field, value, refuse, exact=True)
        elif field in ("shape", "input_type"):
            sizes = _integers(array, MAX_RANK, 1, MAX_DIMENSION, field, value, refuse,
                              exact=True)
            if math.prod(sizes) > MAX_DIMENSION:
                refuse(field, f"at most {MAX_DIMENSION} entries in all", value)
        elif field in ("start_dim", "end_dim"):
            _integers(array, 1, -MAX_RANK, MAX_RANK, field, value, refuse, scalar=True)


def node_values(node) -> dict:
    """A ``nir`` node's values as a file holds them (see :data:`NODE_FIELDS`)."""
    kind = type(node).__name__
    values = {k: v for k, v in vars(node).items()
              if k not in ("input_type", "output_type", "metadata")}
    if kind == "Input":
        values["shape"] = (node.input_type or {}).get("input")
    elif kind == "Output":
        values["shape"] = (node.output_type or {}).get("output")
    elif kind == "Flatten":
        declared = (node.input_type or {}).get("input")
        if declared is not None:
            values["input_type"] = declared
    return values


def check_dt(dt, field: str, where: str) -> float:
    """``dt`` as a time step in seconds in ``[MIN_DT_S, MAX_DT_S]``.

    Parameters
    ----------
    dt : object
        The value.
    field : str
        Names it in the message.
    where : str
        Names the graph (its file).

    Returns
    -------
    float

    Raises
    ------
    NIRError
        For anything else (``1e300`` would make every later step NaN).
    """
    if not _is_number(dt) or not MIN_DT_S <= dt <= MAX_DT_S:
        raise NIRError(f"{where}: {field}: expected a time step in seconds in "
                       f"{MIN_DT_S:g}..{MAX_DT_S:g}, got {shown(dt)}")
    return float(dt)


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) \
        and not isinstance(value, (bool, np.bool_)) and math.isfinite(value)


def _numbers(value):
    """``value`` as an array of numbers (ints, floats; not bools), or None."""
    if isinstance(value, (bool, np.bool_, str, bytes)) or value is None:
        return None
    if isinstance(value, (list, tuple)) and len(value) > MAX_DIMENSION:
        return None
    try:
        array = np.asarray(value)
    except (ValueError, TypeError, OverflowError):
        return None
    if array.dtype.kind not in "iuf" or array.dtype.itemsize > 8:
        return None
    return array


def _integers(array, most, low, high, field, value, refuse, *, scalar=False,
              exact=False) -> tuple:
    """``array``'s values as ints: integral, in ``low..high``, one (``scalar``) or
    1..``most`` of them (``exact``: 1-d)."""
    ok_shape = array.ndim == 0 if scalar else (
        array.ndim == 1 and 1 <= array.size <= most if exact
        else array.ndim <= 1 and 1 <= array.size <= most)
    expected = ("an integer" if scalar else f"{'a list of ' if exact else ''}1..{most} "
                "integers") + f" in {low}..{high}"
    if not ok_shape or not np.isfinite(array).all():
        refuse(field, expected, value)
    flat = array.ravel()
    if (flat != np.round(flat)).any() or flat.min() < low or flat.max() > high:
        refuse(field, expected, value)
    return tuple(int(v) for v in flat)


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _described(value) -> str:
    """A refused value, shortly: arrays by dtype and shape when large."""
    if isinstance(value, np.ndarray) and value.size > 8:
        return f"an array of dtype {value.dtype} and shape {value.shape}"
    if isinstance(value, np.ndarray):
        return shown(value.tolist())
    return shown(value)


def check_chain(graph, where: str) -> list[str]:
    """The nodes of a NIR graph that is a chain, from the one Input to the one Output.

    Parameters
    ----------
    graph : nir.NIRGraph
        The graph: only its edges and its nodes' kinds are read here.
    where : str
        Names the graph in messages.

    Returns
    -------
    list of str
        Node names from the one Input to the one Output.

    Raises
    ------
    NIRError
        For cycles, branches, unknown edge ends and nodes off the chain, naming the
        node.
    """
    names = list(graph.nodes)
    successors = {n: [] for n in names}
    predecessors = {n: [] for n in names}
    for edge in graph.edges:
        pre, post = edge
        for end in (pre, post):
            if end not in graph.nodes:
                raise NIRError(f"{where}: edge {pre!r} -> {post!r} names node {end!r}, "
                               f"which is not in the graph")
        successors[pre].append(post)
        predecessors[post].append(pre)
    _check_acyclic(graph, where, successors, predecessors)
    kinds = {n: type(graph.nodes[n]).__name__ for n in names}
    inputs = [n for n in names if kinds[n] == "Input"]
    outputs = [n for n in names if kinds[n] == "Output"]
    if len(inputs) != 1 or len(outputs) != 1:
        raise NIRError(f"{where}: expected one Input and one Output node, got inputs "
                       f"{inputs} and outputs {outputs}")
    chain, node = [], inputs[0]
    while True:
        chain.append(node)
        ins, outs = predecessors[node], successors[node]
        if len(ins) != (0 if node == inputs[0] else 1):
            raise NIRError(f"{where}: node {node!r} ({kinds[node]}) has {len(ins)} "
                           f"inputs ({', '.join(ins) or 'none'}); snnkit reads a chain "
                           "of nodes")
        if node == outputs[0]:
            if outs:
                raise NIRError(f"{where}: the Output node {node!r} feeds {outs}")
            break
        if len(outs) != 1:
            raise NIRError(f"{where}: node {node!r} ({kinds[node]}) feeds {len(outs)} "
                           f"nodes ({', '.join(outs) or 'none'}); snnkit reads a chain "
                           "of nodes from the Input to the Output")
        node = outs[0]
    stray = [n for n in names if n not in chain]
    if stray:
        raise NIRError(f"{where}: node {stray[0]!r} ({kinds[stray[0]]}) is not on the "
                       "path from the Input to the Output")
    return chain


def _check_acyclic(graph, where, successors, predecessors):
    indegree = {n: len(p) for n, p in predecessors.items()}
    ready = [n for n, d in indegree.items() if d == 0]
    seen = 0
    while ready:
        node = ready.pop()
        seen += 1
        for post in successors[node]:
            indegree[post] -= 1
            if indegree[post] == 0:
                ready.append(post)
    cyclic = [n for n, d in indegree.items() if d > 0]
    if cyclic:
        node = cyclic[0]
        raise NIRError(f"{where}: the graph has recurrence (a cycle through nodes "
                       f"{', '.join(cyclic)}); node {node!r} "
                       f"({type(graph.nodes[node]).__name__}) is on it; snnkit runs "
                       "feed-forward graphs")


def _ints(value, n=2) -> tuple:
    """``value`` (one int, or ``n``) as ``n`` ints; a non-integral value is refused
    (ValueError), never truncated."""
    array = np.atleast_1d(np.asarray(value, dtype=np.float64)).ravel()
    if not np.isfinite(array).all() or (array != np.round(array)).any():
        raise ValueError(f"expected integers, got {shown(array.tolist())}")
    array = array.astype(np.int64)
    return tuple(int(v) for v in (np.repeat(array, n) if array.size == 1 else array))


def _text_padding(padding):
    """'same'/'valid' (a str, or bytes as read from a file), else None."""
    if isinstance(padding, bytes):
        padding = padding.decode("utf-8", "replace")
    if isinstance(padding, np.ndarray) and padding.dtype.kind in "SUO":
        padding = str(padding.item())
    return padding if isinstance(padding, str) else None


class GraphWalk:
    """Walks a checked chain into Keras layer specs.

    It collects Keras layer specs (dicts) with the weights in NIR layout (float64) and
    every gain folded in.

    Parameters
    ----------
    graph : nir.NIRGraph
        The graph (its chain checked by :func:`check_chain`).
    where : str
        Names the graph in messages.
    amplitude : float
        The neuron type's ``amplitude`` (from snnkit's metadata).
    scales : Scales or None
        ``{layer: scale}``, from snnkit's metadata: undoes the scale folding of
        :func:`snnkit.nir.export.to_nir`; None reads the graph alone (scales 1).
    standalone : iterable of str
        Neuron nodes that were a layer of their own in Keras (``ReLU``,
        ``Activation``), not fused into the weights before them (from snnkit's
        metadata).
    no_bias : iterable of str
        ``Conv2d`` nodes whose Keras layer had no bias (from snnkit's metadata).
    """

    def __init__(self, graph, where: str, *, amplitude: float = 1.0,
                 scales: Scales | None = None, standalone=(), no_bias=()):
        if not _is_number(amplitude) or amplitude <= 0:
            raise NIRError(f"{where}: snnkit metadata: neuron.params.amplitude: "
                           f"expected a finite number > 0, got {shown(amplitude)}")
        for layer, scale in (scales or {}).items():
            if not _is_number(scale) or scale <= 0:
                raise NIRError(f"{where}: snnkit metadata: scale_firing_rates"
                               f"[{shown(layer)}]: expected a finite number > 0, got "
                               f"{shown(scale)}")
        self.graph, self.where = graph, where
        self.amplitude, self.scales = amplitude, scales
        self.standalone, self.no_bias = set(standalone), set(no_bias)
        self.specs, self.neurons, self.names = [], {}, set()
        self.biases_kept = []  # (node, largest |bias|): nonzero where metadata says none
        self.segment, self.start_gain = [], 1.0
        self.filters = [[]]  # synapse nodes per segment: (node, tau)
        self.flatten_chw = None
        self.shape = None
        self.input_name = self.keras_input_shape = None

    # --- helpers -----------------------------------------------------------------
    def _error(self, name, message):
        kind = type(self.graph.nodes[name]).__name__
        return NIRError(f"{self.where}: node {shown(name)} ({kind}): {message}")

    def _check_size(self, name):
        """The tensor after node ``name`` is at most ``MAX_DIMENSION`` entries."""
        if math.prod(self.shape) > MAX_DIMENSION:
            raise self._error(name, f"gives a tensor of shape {self.shape}, more than "
                                    f"{MAX_DIMENSION} entries")
        if len(self.specs) > MAX_LAYERS:
            raise self._error(name, f"makes more than {MAX_LAYERS} layers")

    def _mismatch(self, name, expected):
        return self._error(name, f"expects input shape {tuple(expected)}, but the node "
                                 f"before it gives {self.shape}")

    def _keras_name(self, name) -> str:
        clean = re.sub(r"[^A-Za-z0-9_.\-]", "_", str(name))
        clean = clean if re.match(r"^[A-Za-z0-9.]", clean) else "n" + clean
        unique, i = clean, 1
        while unique in self.names:
            unique, i = f"{clean}_{i}", i + 1
        self.names.add(unique)
        return unique

    def _uniform(self, name, node, param) -> float:
        values = np.asarray(getattr(node, param), np.float64)
        if values.size != 1 and values.shape != self.shape:
            raise self._mismatch(name, values.shape)
        unique = np.unique(values)
        if unique.size != 1 or not np.isfinite(unique[0]):
            raise self._error(name, f"{param} must be one finite value for all neurons "
                                    f"(snnkit gives a layer's neurons the same "
                                    f"parameters), got {unique.min()}..{unique.max()}")
        return float(unique[0])

    def _gain(self, g):
        """Multiply the signal here by ``g``: into the last weights (and bias) of this
        segment, or the input of the next weights if none yet."""
        if self.segment:
            last = self.segment[-1]
            last["weight"] = last["weight"] * g
            if last["bias"] is not None:
                last["bias"] = last["bias"] * g
        else:
            self.start_gain *= g

    def _add_weighted(self, spec):
        if self.start_gain != 1.0:
            spec["weight"] = spec["weight"] * self.start_gain
            self.start_gain = 1.0
        self.specs.append(spec)
        self.segment.append(spec)

    def layer_names(self) -> list:
        return [self.input_name] + [s["name"] for s in self.specs]

    # --- the walk ----------------------------------------------------------------
    def run(self, chain):
        for name in chain:
            node = self.graph.nodes[name]
            try:
                getattr(self, "_" + type(node).__name__.lower())(name, node)
                if self.shape is not None:
                    self._check_size(name)
            except NIRError:
                raise
            except (ValueError, TypeError, IndexError, AttributeError, KeyError,
                    ZeroDivisionError, OverflowError) as e:
                raise self._error(name, f"malformed ({type(e).__name__}: "
                                        f"{shown(str(e), 200)})") from e
        for spec in self.specs:  # gains folded in: still float32 numbers?
            for key in ("weight", "bias"):
                value = spec.get(key)
                if value is not None and not (np.abs(value) <= _FLOAT32_MAX).all():
                    raise self._error(spec["node"], (
                        f"its {key} times the gains folded into it (r / v_threshold, "
                        "w_in, window sizes) is not a finite float32 number"))

    def _input(self, name, node):
        self.shape = _ints(node.input_type["input"], 1)
        if len(self.shape) not in (1, 3):
            raise self._error(name, f"shape {self.shape}: snnkit reads vectors (N,) and "
                                    "images (C, H, W)")
        self.input_name = self._keras_name(name)
        c = self.shape
        self.keras_input_shape = (c[1], c[2], c[0]) if len(c) == 3 else c

    def _output(self, name, node):
        declared = node.output_type.get("output")
        if declared is not None and _ints(declared, 1) != self.shape:
            raise self._mismatch(name, _ints(declared, 1))
        if self.flatten_chw is not None:
            raise self._error(name, "reads a Flatten of a (C, H, W) tensor with no "
                                    "Affine/Linear after it; Keras flattens "
                                    "channels-last, so the outputs would be reordered")
        if self.start_gain != 1.0:
            raise self._error(name, "no weights after the last neuron layer to fold its "
                                    "scale into")

    def _conv2d(self, name, node):
        weight = np.asarray(node.weight, np.float64)
        if len(self.shape) != 3 or weight.ndim != 4 or weight.shape[1] != self.shape[0]:
            raise self._mismatch(name, (weight.shape[1] if weight.ndim == 4 else "?",
                                        "H", "W"))
        if node.input_shape is not None and _ints(node.input_shape) != self.shape[1:]:
            raise self._mismatch(name, (self.shape[0], *_ints(node.input_shape)))
        if int(node.groups) != 1:
            raise self._error(name, f"groups={node.groups}; snnkit handles groups=1")
        stride, dilation = _ints(node.stride), _ints(node.dilation)
        kernel = weight.shape[2:]
        named = _text_padding(node.padding)
        if named is not None:
            if named not in ("same", "valid") or (named == "same" and stride != (1, 1)):
                raise self._error(name, f"padding {named!r} with stride {stride}; snnkit "
                                        "reads 'valid', or 'same' with stride 1")
            pads = (0, 0) if named == "valid" else tuple(
                (k - 1) * d // 2 for k, d in zip(kernel, dilation))
            same = named == "same"
        else:
            pads = _ints(node.padding)
            same = stride == (1, 1) and all((k - 1) * d == 2 * p for k, d, p in
                                            zip(kernel, dilation, pads))
        out = tuple(self.shape[1:]) if named == "same" else tuple(
            (n + 2 * p - d * (k - 1) - 1) // s + 1
            for n, p, d, k, s in zip(self.shape[1:], pads, dilation, kernel, stride))
        if min(out) < 1:
            raise self._error(name, f"kernel {kernel} does not fit input {self.shape}")
        bias = np.broadcast_to(np.asarray(node.bias, np.float64), (weight.shape[0],))
        # the graph is the truth: a bias the metadata calls absent is kept if it is not 0
        keep_bias = bias.any() or (name not in self.no_bias and self.scales is not None)
        if name in self.no_bias and bias.any():
            self.biases_kept.append((name, float(np.abs(bias).max())))
        self._add_weighted({
            "kind": "conv", "name": self._keras_name(name), "node": name,
            "weight": weight,
            "bias": bias.copy() if keep_bias else None, "stride": stride,
            "dilation": dilation, "padding": "same" if same else pads, "relu": False,
            "pad_name": (None if same or pads == (0, 0)
                         else self._keras_name(f"{name}.pad"))})
        self.shape = (weight.shape[0], *out)

    def _affine(self, name, node, bias=True):
        weight = np.asarray(node.weight, np.float64)
        if weight.ndim != 2 or len(self.shape) != 1 or weight.shape[1] != self.shape[0]:
            raise self._mismatch(name, weight.shape[1:] if weight.ndim == 2 else "?")
        b = np.broadcast_to(np.asarray(node.bias, np.float64), weight.shape[:1]).copy() \
            if bias else None
        self._add_weighted({"kind": "dense", "name": self._keras_name(name),
                            "node": name, "weight": weight, "bias": b, "relu": False,
                            "flatten_chw": self.flatten_chw})
        self.flatten_chw = None
        self.shape = (weight.shape[0],)

    def _linear(self, name, node):
        self._affine(name, node, bias=False)

    def _flatten(self, name, node):
        declared = node.input_type.get("input")
        if declared is not None and _ints(declared, 1) != self.shape:
            raise self._mismatch(name, _ints(declared, 1))
        ndim = len(self.shape)
        start, end = int(node.start_dim) % ndim, int(node.end_dim) % ndim
        if ndim == 1:
            return
        if (start, end) != (0, ndim - 1):
            raise self._error(name, "flattens dimensions "
                                    f"{node.start_dim}..{node.end_dim} of {self.shape}; "
                                    "snnkit flattens the whole tensor "
                                    "(start_dim=0, end_dim=-1)")
        self.specs.append({"kind": "flatten", "name": self._keras_name(name)})
        self.flatten_chw = self.shape
        self.shape = (int(np.prod(self.shape)),)

    def _avgpool2d(self, name, node, gain=False):
        if len(self.shape) != 3:
            raise self._mismatch(name, ("C", "H", "W"))
        size, stride = _ints(node.kernel_size), _ints(node.stride)
        if _ints(node.padding) != (0, 0):
            raise self._error(name, f"padding {_ints(node.padding)}; snnkit pools "
                                    "without padding")
        out = tuple((n - k) // s + 1 for n, k, s in zip(self.shape[1:], size, stride))
        if min(out) < 1:
            raise self._error(name, f"window {size} does not fit input {self.shape}")
        self.specs.append({"kind": "pool", "name": self._keras_name(name), "size": size,
                           "stride": stride})
        self.shape = (self.shape[0], *out)
        if gain:  # a sum is the average times the window size
            self._gain(float(size[0] * size[1]))

    def _sumpool2d(self, name, node):
        self._avgpool2d(name, node, gain=True)

    def _li(self, name, node):
        tau = self._uniform(name, node, "tau")
        if self._uniform(name, node, "r") != 1.0 or self._uniform(name, node, "v_leak"):
            raise self._error(name, "snnkit's synapse is a unit-gain lowpass: LI with "
                                    "r = 1 and v_leak = 0")
        self._filter(name, tau)

    def _filter(self, name, tau):
        if tau <= 0:
            raise self._error(name, f"time constant {tau} s must be > 0")
        biased = [s["name"] for s in self.segment if s["bias"] is not None and
                  s["bias"].any()]
        if biased:
            logger.warning("%s: node %r filters the bias of %r; snnkit adds biases "
                           "unfiltered (the two differ for about %g s after each onset)",
                           self.where, name, biased[-1], tau)
        self.filters[-1].append((name, tau))

    def _if(self, name, node):
        self._neuron(name, node, "IF", None, leak=0.0, gain=1.0)

    def _lif(self, name, node):
        leak = self._uniform(name, node, "v_leak")
        self._neuron(name, node, "LIF", self._uniform(name, node, "tau"), leak, 1.0)

    def _cubalif(self, name, node):
        self._filter(name, self._uniform(name, node, "tau_syn"))
        leak = self._uniform(name, node, "v_leak")
        self._neuron(name, node, "LIF", self._uniform(name, node, "tau_mem"), leak,
                     self._uniform(name, node, "w_in"))

    def _neuron(self, name, node, family, tau, leak, gain):
        threshold = self._uniform(name, node, "v_threshold")
        if threshold <= 0:
            raise self._error(name, f"v_threshold {threshold} must be > 0")
        if self._uniform(name, node, "v_reset") != 0.0:
            raise self._error(name, "v_reset must be 0 (snnkit's neurons reset to zero)")
        if tau is not None and tau <= 0:
            raise self._error(name, f"tau {tau} s must be > 0")
        total_gain = gain * self._uniform(name, node, "r") / threshold
        last = self.specs[-1] if self.specs else None
        fused = (last is not None and self.segment and last is self.segment[-1]
                 and name not in self.standalone)
        layer = last["name"] if fused else self._keras_name(name)
        if not fused:
            self.specs.append({"kind": "relu", "name": layer})
        scale = 1.0 if self.scales is None else float(self.scales.get(layer, 1.0))
        self._gain(total_gain / scale)
        if leak:
            if not self.segment:
                raise self._error(name, "v_leak needs weights before the neurons to "
                                        "become their bias")
            spec = self.segment[-1]
            spec["bias"] = (spec["bias"] if spec["bias"] is not None else
                            np.zeros(spec["weight"].shape[0])) + leak / threshold
        if self.start_gain != 1.0:
            raise self._error(name, "no weights since the previous neuron layer to fold "
                                    "its gain r / v_threshold into")
        if fused:
            last["relu"] = True
        self.neurons[name] = {"type": type(node).__name__, "family": family,
                              "gain": total_gain, "leak": leak / threshold, "tau": tau}
        self.segment, self.filters = [], self.filters + [[]]
        self.start_gain = 1.0 if self.scales is None else scale / self.amplitude

    def synapse(self):
        """The one synapse time constant (s) after every neuron layer, or None."""
        first, rest = self.filters[0], self.filters[1:]
        if first:
            raise self._error(first[0][0], "a synapse before the first neuron layer; "
                                           "snnkit filters neuron outputs only")
        found = [f for segment in rest for f in segment]
        if not found:
            return None
        neurons = list(self.neurons)
        for i, segment in enumerate(rest):
            if len(segment) != 1:
                raise self._error(neurons[i], (
                    f"its output passes {len(segment)} synapses "
                    f"({', '.join(n for n, _ in segment) or 'none'}) before the next "
                    f"neuron layer or the output, while node {found[0][0]!r} is one; "
                    "snnkit filters every neuron layer's output with one synapse"))
        taus = {tau: name for name, tau in found}
        if len(taus) > 1:
            (t1, n1), (t2, n2) = list(taus.items())[:2]
            raise NIRError(f"{self.where}: synapse nodes {n1!r} ({t1:g} s) and {n2!r} "
                           f"({t2:g} s) differ; snnkit uses one synapse time constant")
        return found[0][1]

