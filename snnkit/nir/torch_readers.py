"""The NIR form snnTorch (1.0) and Norse (1.1) load unpatched and run batched, and its
way back: NIR's unit-area meaning <-> the torch readers' per-step meaning.

NIR's equations are continuous-time and a spike is a unit-area pulse (``1 / dt`` in
the step it fires). Both torch readers add a node's input once per step and emit a
spike as the value 1 in its step (*per-step* spikes); snnTorch's importer also fixes the
step at ``1e-4`` s (``beta = 1 - 1e-4 / tau``), neither maps ``LI``, snnTorch's ``IF``
leaks and returns a tuple (no ``IF`` graph runs in snnTorch 1.0), and Norse maps no
``AvgPool2d``. :func:`torch_reader_graph` rewrites an exact snnkit graph
(:func:`snnkit.nir.export.to_nir`) into a graph that means, in that per-step
convention, the network snnkit simulates:

- one reader step is one snnkit step ``dt``, written as :data:`READER_DT` = 1e-4 s of
  graph time (run Norse with ``dt=1e-4``);
- the first neuron layer is ``LIF(tau, r=1)``: for ``IF`` a leak-free ``tau``
  (:data:`TAU_IF`: the per-step leak 1e-8 rounds ``beta`` to 1.0 in float32), for
  ``LIF`` ``tau = 1e-4 / (1 - exp(-dt / tau_rc))`` (the readers' Euler step is then
  snnkit's exact one); its weights and bias carry the input gain;
- every later neuron layer is ``CubaLIF(tau_syn, tau_mem, r = tau_mem / 1e-4,
  w_in = 1)``: the snnkit synapse after the previous layer becomes its synaptic
  current (the lowpass commutes with the weights), with ``tau_syn = 1e-4 / (1 -
  exp(-dt / synapse))`` so the readers' Euler step equals nengo's ``Lowpass`` exactly
  (``tau_syn = 1e-4``, no filtering, without a synapse); the current also filters the
  layer's bias, which snnkit adds unfiltered;
- weights reading spikes are the exact graph's × ``gain / dt`` and biases × ``gain``,
  where ``gain`` is the voltage one unit of input adds in a step (``dt`` for IF,
  ``1 - exp(-dt / tau_rc)`` for LIF);
- ``AvgPool2d`` is ``SumPool2d`` with ``1 / (kh * kw)`` folded into the weights;
- the last weights are × ``1 / dt``: the reader's output at each step is what snnkit's
  output layer gives for that step's spikes, unfiltered; the readout filter (the
  synapse, ``a = exp(-dt / synapse)`` per step) is applied by the user, and its
  coefficient is in the graph's metadata under :data:`METADATA_KEY`.

:func:`per_step_to_unit_area` is the way back: a graph with per-step spikes (from
snnTorch, Norse or :func:`torch_reader_graph`) rewritten into NIR's meaning at snnkit's
``dt``, which :func:`snnkit.nir.importer.from_nir` then reads as any NIR graph.
"""

from __future__ import annotations

import copy
import json
import math

import numpy as np

from snnkit.exceptions import NIRError

READERS = ("snntorch", "norse")
READER_DT = 1e-4  # s: snnTorch's NIR import and export hard-code this step
TAU_IF = 1e4  # s: a leak of 1e-8 per reader step, beta 1.0 in float32
METADATA_KEY = "snnkit_reader"
FORMAT = "snnkit.nir.reader"
IF_LEAK = 1e-6  # per-step leak below which an imported LIF is read as IF
_WEIGHTED = ("Conv2d", "Affine", "Linear")


def chain_order(graph) -> list:
    """Node names of a chain graph (one edge out of each node) from its Input."""
    following = dict(graph.edges)
    order = [n for n, v in graph.nodes.items() if type(v).__name__ == "Input"]
    while order[-1] in following and len(order) <= len(graph.nodes):
        order.append(following[order[-1]])
    return order


def _one(node, param) -> float:
    return float(np.asarray(getattr(node, param), np.float64).ravel()[0])


def torch_reader_graph(graph, *, dt: float, synapse: float | None, readout: str,
                       reader: str):
    """The exact snnkit graph ``graph`` in the torch readers' per-step convention.

    Parameters
    ----------
    graph : nir.NIRGraph
        A chain as :func:`snnkit.nir.export.to_nir` writes it (``IF``/``LIF`` neurons
        with ``r = v_threshold = 1``, ``v_reset = 0``, each followed by an ``LI`` when
        there is a synapse).
    dt : float
        The network's step, s.
    synapse : float or None
        The network's synapse, s.
    readout : str
        The network's readout (``"last"`` or ``"mean"``), recorded in the metadata.
    reader : str
        ``"snntorch"`` or ``"norse"`` (the graph is the same; the metadata names it).

    Returns
    -------
    nir.NIRGraph
        A new graph (``graph`` is not changed), its metadata naming ``reader``.

    Raises
    ------
    NIRError
        A graph this form cannot express (naming the node).
    """
    import nir

    nodes, edges = {}, []
    segment, neurons_seen = [], 0

    def add(name, node):
        if nodes:
            edges.append((list(nodes)[-1], name))
        nodes[name] = node

    def close_segment(in_gain, out_gain, where):
        weighted = [i for i, (_, n) in enumerate(segment)
                    if type(n).__name__ in _WEIGHTED]
        if not weighted:
            raise NIRError(f"model: no weights before {where!r}; the {reader} form "
                           "folds its gains into weights (add a Dense readout)")
        end_gain = 1.0
        for i, (name, node) in enumerate(segment):
            if type(node).__name__ != "AvgPool2d":
                continue
            size = np.atleast_1d(np.asarray(node.kernel_size)).astype(int)
            window = float(np.prod(np.broadcast_to(size, (2,))))
            pooled = nir.SumPool2d(kernel_size=np.asarray(node.kernel_size),
                                   stride=np.asarray(node.stride),
                                   padding=np.asarray(node.padding))
            pooled.input_type, pooled.output_type = node.input_type, node.output_type
            segment[i] = (name, pooled)
            later = [j for j in weighted if j > i]
            if later:
                segment[later[0]][1].weight = segment[later[0]][1].weight / window
            else:
                end_gain /= window
        first = segment[weighted[0]][1]
        first.weight = first.weight * (in_gain * out_gain * end_gain)
        for _, node in segment:
            if hasattr(node, "bias"):
                node.bias = np.asarray(node.bias, np.float64) * (out_gain * end_gain)
        for name, node in segment:
            add(name, node)
        segment.clear()

    order = chain_order(graph)
    for name in order:
        node = copy.deepcopy(graph.nodes[name])
        kind = type(node).__name__
        if kind == "Input":
            add(name, node)
        elif kind in _WEIGHTED or kind == "AvgPool2d":
            segment.append((name, node))
        elif kind == "Flatten":
            shape = tuple(int(s) for s in node.input_type["input"])
            segment.append((name, nir.Flatten(input_type={"input": np.array(shape)},
                                              start_dim=-len(shape), end_dim=-1)))
        elif kind in ("IF", "LIF"):
            shape = np.asarray(node.v_threshold).shape
            ones, zeros = np.ones(shape), np.zeros(shape)
            if kind == "IF":
                tau_mem, gain = TAU_IF, dt
            else:
                gain = -math.expm1(-dt / _one(node, "tau"))
                tau_mem = READER_DT / gain
            in_gain = 1.0 if neurons_seen == 0 else 1.0 / dt
            if neurons_seen == 0:
                # the reader's LIF adds (1e-4 / tau) * x per step (r = 1: Norse ignores r)
                close_segment(in_gain, gain * tau_mem / READER_DT, name)
                add(name, nir.LIF(tau=np.full(shape, tau_mem), r=ones.copy(),
                                  v_leak=zeros.copy(), v_threshold=ones.copy(),
                                  v_reset=zeros.copy()))
            else:
                tau_syn = READER_DT if synapse is None else \
                    READER_DT / -math.expm1(-dt / synapse)
                close_segment(in_gain, gain, name)
                add(name, nir.CubaLIF(
                    tau_syn=np.full(shape, tau_syn), tau_mem=np.full(shape, tau_mem),
                    r=np.full(shape, tau_mem / READER_DT), v_leak=zeros.copy(),
                    v_threshold=ones.copy(), v_reset=zeros.copy(), w_in=ones.copy()))
            neurons_seen += 1
        elif kind == "LI":
            continue  # the next layer's synaptic current, or the user's readout filter
        elif kind == "Output":
            if neurons_seen and not any(type(n).__name__ in _WEIGHTED
                                        for _, n in segment):
                shape = tuple(int(s) for s in node.output_type["output"])
                if len(shape) != 1:
                    raise NIRError(f"model: the output {shape} reads a neuron layer "
                                   f"directly; the {reader} form needs a Dense readout")
                segment.append(("readout", nir.Linear(weight=np.eye(shape[0]))))
            close_segment(1.0 / dt if neurons_seen else 1.0, 1.0, name)
            add(name, node)
        else:
            raise NIRError(f"model: node {name!r} is a {kind}, which the {reader} form "
                           "does not handle")
    note = {
        "format": FORMAT, "reader": reader, "spikes": "per-step", "dt": dt,
        "dt_graph": READER_DT, "synapse": synapse, "readout": readout,
        "readout_filter": None if synapse is None else math.exp(-dt / synapse),
    }
    try:
        return nir.NIRGraph(nodes=nodes, edges=edges,
                            metadata={METADATA_KEY: json.dumps(note)})
    except ValueError as e:  # nir's own type check: a bug here, not the user's
        raise NIRError(f"model: the {reader} form does not type-check: {e}") from e


# --- the way back: per-step spikes -> NIR's meaning ------------------------------------
def _uniform(node, param, where, name) -> float:
    values = np.unique(np.asarray(getattr(node, param), np.float64))
    if values.size != 1 or not np.isfinite(values[0]):
        raise NIRError(f"{where}: node {name!r} ({type(node).__name__}): {param} must "
                       "be one finite value for all neurons (snnkit gives a layer's "
                       "neurons the same parameters), got "
                       f"{values.min()}..{values.max()}")
    return float(values[0])


def snntorch_step(graph, where: str) -> float | None:
    """The step snnTorch's exporter writes into every leaky neuron, or None.

    snnTorch writes ``r = tau / dt`` (``r = tau_mem / dt``, ``w_in = tau_syn / dt`` for
    ``CubaLIF``) with its fixed ``dt`` for every node; a graph where that holds for one
    ``dt`` with ``r != 1`` carries snnTorch's per-step signature.

    Parameters
    ----------
    graph : nir.NIRGraph
        Any graph: only its ``LIF`` and ``CubaLIF`` nodes are read.
    where : str
        Names the graph (its file) in messages.

    Returns
    -------
    float or None
        The step, s, or None when the graph does not carry the signature.
    """
    steps = set()
    for name, node in graph.nodes.items():
        kind = type(node).__name__
        if kind not in ("LIF", "CubaLIF"):
            continue
        tau = _uniform(node, "tau" if kind == "LIF" else "tau_mem", where, name)
        r = _uniform(node, "r", where, name)
        if r == 1.0 or r <= 0:
            return None
        steps.add(round(tau / r, 15))
        if kind == "CubaLIF":
            w_in = _uniform(node, "w_in", where, name)
            if w_in <= 0:
                return None
            steps.add(round(_uniform(node, "tau_syn", where, name) / w_in, 15))
    if len(steps) != 1:
        return None
    step = steps.pop()
    return step if step > 0 else None


def per_step_to_unit_area(graph, order, *, dt_graph: float | None, dt: float,
                          where: str, notes: list, last_synapse: float | None = None):
    """A graph with per-step spikes rewritten into NIR's meaning at snnkit's ``dt``.

    One graph step (``dt_graph``) becomes one snnkit step (``dt``). A reader steps a
    leaky membrane ``v <- beta v + (dt_graph / tau) r x`` with ``beta = 1 - dt_graph /
    tau`` (Euler), snnkit ``v <- exp(-dt / tau') v + (1 - exp(-dt / tau')) r x``: equal
    for ``tau' = -dt / ln(beta)``; likewise ``CubaLIF``'s ``tau_syn``. A leak below
    :data:`IF_LEAK` per step is read as ``IF``; an ``IF`` adds ``r x`` per step
    (Norse), snnkit ``dt r x``: ``r / dt``. A spike is 1 in its step, snnkit's ``1 /
    dt``: the weights reading a neuron layer are × ``dt`` (biases are currents,
    unchanged).

    Parameters
    ----------
    graph : nir.NIRGraph
        The graph (a checked chain).
    order : list of str
        Its node names from the Input to the Output.
    dt_graph : float or None
        The graph's step, s (None: the graph has no leaky neurons).
    dt : float
        snnkit's step, s.
    where : str
        Names the graph in messages.
    notes : list
        Readings chosen on the way are appended to it (text).
    last_synapse : float or None
        A synapse (s) after the last neuron layer: the readout filter
        :func:`torch_reader_graph` leaves to the user, put back as an ``LI``.

    Returns
    -------
    nir.NIRGraph
        Without metadata; ``type_check=False``.

    Raises
    ------
    NIRError
        A time constant that no step of ``dt_graph`` can mean, naming the node.
    """
    import nir

    nodes, after_spikes = {}, False
    norse_tau = [name for name in order
                 if type(graph.nodes[name]).__name__ == "LIF" and dt_graph is not None
                 and _uniform(graph.nodes[name], "tau", where, name) < dt_graph]
    if norse_tau:
        notes.append(
            f"node {norse_tau[0]!r} (LIF) has tau "
            f"{_uniform(graph.nodes[norse_tau[0]], 'tau', where, norse_tau[0]):g} s, "
            f"below the graph's step {dt_graph:g} s: read as Norse 1.1.0's tau = dt * "
            "tau_mem (norse#411), tau_mem = tau / dt_graph")

    def decay(name, tau):
        if name in norse_tau:
            tau = tau / dt_graph
        if tau <= dt_graph:
            raise NIRError(f"{where}: node {name!r}: time constant {tau:g} s is not "
                           f"above the graph's step dt_graph = {dt_graph:g} s, which "
                           "per-step Euler cannot mean; pass the step the graph was "
                           "written with (dt_graph)")
        return 1.0 - dt_graph / tau

    def exact_tau(beta):
        # 12 digits: the float error of the round trip through beta is not a new tau
        return float(f"{-dt / math.log(beta):.12g}")

    for name in order:
        node = copy.deepcopy(graph.nodes[name])
        kind = type(node).__name__
        if kind in _WEIGHTED and after_spikes:
            node.weight = np.asarray(node.weight, np.float64) * dt
            after_spikes = False
        elif kind == "IF":
            node.r = np.asarray(node.r, np.float64) / dt
            after_spikes = True
        elif kind in ("LIF", "CubaLIF"):
            tau_key = "tau" if kind == "LIF" else "tau_mem"
            beta = decay(name, _uniform(node, tau_key, where, name))
            r = np.asarray(node.r, np.float64)
            if 1.0 - beta < IF_LEAK and not np.any(node.v_leak):
                gain = r * (1.0 - beta) / dt
                neuron = nir.IF(r=gain, v_threshold=np.asarray(node.v_threshold),
                                v_reset=np.asarray(node.v_reset))
            else:
                neuron = copy.deepcopy(node)
                setattr(neuron, tau_key,
                        np.full(np.shape(getattr(node, tau_key)), exact_tau(beta)))
            if kind == "CubaLIF":
                alpha = decay(name, _uniform(node, "tau_syn", where, name))
                tau_syn = np.full(np.shape(node.tau_syn), exact_tau(alpha))
                if isinstance(neuron, nir.IF):
                    shape = np.shape(node.tau_syn)
                    neuron.r = neuron.r * np.asarray(node.w_in, np.float64)
                    nodes[f"{name}.synapse"] = nir.LI(tau=tau_syn, r=np.ones(shape),
                                                      v_leak=np.zeros(shape))
                else:
                    neuron.tau_syn = tau_syn
            nodes[name] = neuron
            after_spikes = True
            continue
        nodes[name] = node
    if last_synapse is not None:
        last = [n for n in order if type(graph.nodes[n]).__name__ in
                ("IF", "LIF", "CubaLIF")][-1]
        shape = np.shape(graph.nodes[last].v_threshold)
        keys = list(nodes)
        at = keys.index(last) + 1
        synapse = (f"{last}.out_synapse",
                   nir.LI(tau=np.full(shape, last_synapse), r=np.ones(shape),
                          v_leak=np.zeros(shape)))
        nodes = dict([(k, nodes[k]) for k in keys[:at]] + [synapse]
                     + [(k, nodes[k]) for k in keys[at:]])
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names, names[1:])),
                        type_check=False)
