"""A reference interpreter of NIR graphs, written from the NIR specification (the
primitives table of the NIR documentation and the equations in the ``nir`` package's
node docstrings), not from snnkit's code. It is the tests' independent check of what
snnkit's exported graphs mean.

Conventions it fixes where the specification is continuous-time:
- time in seconds, simulated with steps of ``dt`` (float64 throughout);
- a spike is a unit-area pulse: a neuron that fires in a step outputs ``1 / dt``
  for that step and 0 otherwise;
- linear dynamics (LI, the membrane of LIF, both stages of CubaLIF) are integrated
  exactly for an input held constant over the step; IF integrates ``dv/dt = R I``
  as ``v += dt * R * I``;
- a neuron fires when ``v > v_threshold`` after the step's update, then ``v = v_reset``;
- all state starts at zero; inputs are held constant for the whole presentation;
- nodes are evaluated in topological order, so a step's input reaches the output in
  the same step.
"""

from __future__ import annotations

import numpy as np


def run_graph(graph, x, n_steps: int, dt: float = 0.001, *, v_floor: float | None = None,
              spike_counts: dict | None = None) -> np.ndarray:
    """Outputs of the single Output node, ``(batch, n_steps, *shape)``, for inputs
    ``x`` of shape ``(batch, *input shape)`` in NIR layout.

    Two departures from NIR, off by default, to diagnose where a simulator differs:
    ``v_floor`` clamps every neuron's voltage from below after each step (Loihi's
    floor at 0, which NIR does not have); a dict ``spike_counts`` receives, per
    neuron node, its spikes per input over the run, ``(batch,)``."""
    order = _topological_order(graph)
    inputs = {name: [a for a, b in graph.edges if b == name] for name in graph.nodes}
    state = {}
    recorded = []
    x = np.asarray(x, np.float64)
    for _ in range(n_steps):
        values = {}
        for name in order:
            node = graph.nodes[name]
            kind = type(node).__name__
            if kind == "Input":
                values[name] = x
                continue
            incoming = sum(values[pre] for pre in inputs[name])
            node_state = state.setdefault(name, {})
            values[name] = _STEP[kind](node, incoming, node_state, dt)
            if kind in _NEURONS:
                if v_floor is not None:
                    node_state["v"] = np.maximum(node_state["v"], v_floor)
                if spike_counts is not None:
                    spikes = values[name].reshape(len(x), -1).sum(axis=1) * dt
                    spike_counts[name] = spike_counts.get(name, 0.0) + spikes
            if kind == "Output":
                recorded.append(values[name])
    return np.stack(recorded, axis=1)


def _topological_order(graph) -> list:
    indegree = {n: 0 for n in graph.nodes}
    for _, post in graph.edges:
        indegree[post] += 1
    ready = [n for n, d in indegree.items() if d == 0]
    order = []
    while ready:
        node = ready.pop(0)
        order.append(node)
        for pre, post in graph.edges:
            if pre == node:
                indegree[post] -= 1
                if indegree[post] == 0:
                    ready.append(post)
    assert len(order) == len(graph.nodes), \
        "the reference interpreter runs feed-forward graphs"
    return order


def _pair(value):
    value = np.atleast_1d(np.asarray(value)).astype(int)
    return (int(value[0]), int(value[-1]))


# --- stateless primitives -----------------------------------------------------------
def _affine(node, x, state, dt):
    return x @ np.asarray(node.weight, np.float64).T + np.asarray(node.bias, np.float64)


def _linear(node, x, state, dt):
    return x @ np.asarray(node.weight, np.float64).T


def _conv2d(node, x, state, dt):
    """PyTorch's conv2d: weight (C_out, C_in, kH, kW), symmetric zero padding."""
    weight = np.asarray(node.weight, np.float64)
    assert int(node.groups) == 1
    (sh, sw), (dh, dw) = _pair(node.stride), _pair(node.dilation)
    ph, pw = _pair(node.padding)
    x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    kh, kw = weight.shape[2:]
    out_h = (x.shape[2] - dh * (kh - 1) - 1) // sh + 1
    out_w = (x.shape[3] - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((x.shape[0], weight.shape[0], out_h, out_w))
    for i in range(kh):
        for j in range(kw):
            patch = x[:, :, i * dh: i * dh + sh * (out_h - 1) + 1: sh,
                      j * dw: j * dw + sw * (out_w - 1) + 1: sw]
            out += np.einsum("bchw,oc->bohw", patch, weight[:, :, i, j], optimize=True)
    return out + np.asarray(node.bias, np.float64).reshape(1, -1, 1, 1)


def _flatten(node, x, state, dt):
    shape = x.shape[1:]
    start, end = int(node.start_dim) % len(shape), int(node.end_dim) % len(shape)
    new = shape[:start] + (int(np.prod(shape[start:end + 1])),) + shape[end + 1:]
    return x.reshape((x.shape[0],) + new)


def _pool(node, x, average):
    (kh, kw), (sh, sw) = _pair(node.kernel_size), _pair(node.stride)
    assert _pair(node.padding) == (0, 0)
    out_h, out_w = (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
    out = np.zeros(x.shape[:2] + (out_h, out_w))
    for i in range(kh):
        for j in range(kw):
            out += x[:, :, i: i + sh * (out_h - 1) + 1: sh,
                     j: j + sw * (out_w - 1) + 1: sw]
    return out / (kh * kw) if average else out


def _output(node, x, state, dt):
    return x


# --- dynamics -----------------------------------------------------------------------
def _relax(v, target, tau, dt):
    """Exact step of ``tau dv/dt = target - v`` with ``target`` held constant."""
    return target + (v - target) * np.exp(-dt / tau)


def _fire(v, node, dt):
    spiked = v > np.asarray(node.v_threshold, np.float64)
    v = np.where(spiked, np.asarray(node.v_reset, np.float64), v)
    return v, spiked / dt


def _li(node, x, state, dt):
    """tau dv/dt = (v_leak - v) + R I"""
    v = state.get("v", 0.0)
    state["v"] = _relax(v, node.v_leak + node.r * x, node.tau, dt)
    return state["v"]


def _if(node, x, state, dt):
    """dv/dt = R I; spike and reset when v > v_threshold"""
    v = state.get("v", 0.0) + dt * np.asarray(node.r, np.float64) * x
    state["v"], out = _fire(v, node, dt)
    return out


def _lif(node, x, state, dt):
    """tau dv/dt = (v_leak - v) + R I; spike and reset when v > v_threshold"""
    v = _relax(state.get("v", 0.0), node.v_leak + node.r * x, node.tau, dt)
    state["v"], out = _fire(v, node, dt)
    return out


def _cubalif(node, x, state, dt):
    """tau_syn dI/dt = -I + w_in S; tau_mem dv/dt = (v_leak - v) + R I; spike, reset"""
    current = _relax(state.get("i", 0.0), node.w_in * x, node.tau_syn, dt)
    v = _relax(state.get("v", 0.0), node.v_leak + node.r * current, node.tau_mem, dt)
    state["i"] = current
    state["v"], out = _fire(v, node, dt)
    return out


_NEURONS = ("IF", "LIF", "CubaLIF")
_STEP = {
    "Affine": _affine, "Linear": _linear, "Conv2d": _conv2d, "Flatten": _flatten,
    "AvgPool2d": lambda node, x, state, dt: _pool(node, x, average=True),
    "SumPool2d": lambda node, x, state, dt: _pool(node, x, average=False),
    "Output": _output, "LI": _li, "IF": _if, "LIF": _lif, "CubaLIF": _cubalif,
}


def steady_state(graph, x) -> np.ndarray:
    """The graph's output after it settles, for a constant input, reading each node by
    its rate equation: an IF neuron driven by a constant ``I > 0`` reaches
    ``v_threshold`` from ``v_reset`` every ``(v_threshold - v_reset) / (R I)`` seconds,
    so its unit-area pulses average ``R I / (v_threshold - v_reset)`` (0 for
    ``I <= 0``); an LI settles at ``v_leak + R I``. Graphs of IF, LI and stateless
    nodes only."""
    order = _topological_order(graph)
    values = {}
    for name in order:
        node = graph.nodes[name]
        kind = type(node).__name__
        pre = [a for a, b in graph.edges if b == name]
        incoming = (np.asarray(x, np.float64) if kind == "Input"
                    else sum(values[p] for p in pre))
        if kind == "IF":
            gap = np.asarray(node.v_threshold, np.float64) - node.v_reset
            values[name] = np.maximum(node.r * incoming, 0.0) / gap
        elif kind == "LI":
            values[name] = node.v_leak + node.r * incoming
        elif kind == "Input":
            values[name] = incoming
        else:
            values[name] = _STEP[kind](node, incoming, {}, 1.0)
        if kind == "Output":
            return values[name]
    raise AssertionError("no Output node")
