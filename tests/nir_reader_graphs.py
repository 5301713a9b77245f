"""Graphs written by snnTorch 1.0 and Norse 1.1 themselves: small networks trained
there as their tutorials do, exported with each library's own NIR export, with each
library's own predictions. Shared by ``tests/test_nir_readers.py`` (200 test images)
and ``benchmarks/bench_nir_interop.py`` (1,000)."""

from __future__ import annotations

import nir
import numpy as np
import torch
from torch import nn

# how snnkit reads each graph (what its exporter means; see snnkit.nir.importer)
IMPORTS = {"snntorch_mlp": {}, "norse_mlp": {"spikes": "per-step", "dt_graph": 1e-3},
           "norse_if": {"spikes": "per-step"}}


def chw_images(x):
    """MNIST images ``(N, 28, 28, 1)`` uint8 as the tutorials feed them:
    ``(N, 1, 28, 28)`` float32 in [0, 1]."""
    return torch.from_numpy(np.asarray(x, np.float32).transpose(0, 3, 1, 2) / 255)


def _train(net, run, x, y, lr, n_steps):
    torch.manual_seed(0)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    for i in range(0, len(x), 100):
        loss = nn.functional.cross_entropy(run(net, x[i:i + 100], n_steps).sum(1),
                                           y[i:i + 100])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return net


def _snntorch_run(net, x, n_steps):
    import snntorch.utils

    snntorch.utils.reset(net)
    return torch.stack([net(x) for _ in range(n_steps)], 1)


def _norse_run(net, x, n_steps):
    state, outputs = None, []
    for _ in range(n_steps):
        out, state = net(x, state)
        outputs.append(out)
    return torch.stack(outputs, 1)


def _norse_flatten(graph, net):
    """Norse 1.1's ``to_nir`` maps no ``nn.Flatten`` (the node is None) and writes the
    batch into the Input/Output types: the user's two-line fix."""
    for name, node in list(graph.nodes.items()):
        if node is None:
            graph.nodes[name] = nir.Flatten(input_type=None, start_dim=-3, end_dim=-1)
        elif isinstance(node, (nir.Input, nir.Output)):
            key = "input" if isinstance(node, nir.Input) else "output"
            shape = np.asarray(getattr(node, key + "_type")[key])[1:]
            graph.nodes[name] = type(node)(**{key + "_type": {key: shape}})
    graph.infer_types()
    return graph


def reader_graphs(x_train, y_train, x_test, n_steps: int) -> dict:
    """``{name: (nir.NIRGraph, the library's own predictions on x_test)}`` for an MLP
    784-100-10 trained 1 epoch on ``x_train`` in snnTorch (Leaky, beta 0.9, reset to
    zero as NIR's v_reset says) and in Norse (LIFBox, 10 ms; and IAF), exported with
    the library's own NIR export. Images ``(N, 1, 28, 28)`` (:func:`chw_images`);
    predictions are the spike count's argmax over ``n_steps`` steps."""
    import norse.torch as norse
    import snntorch as snn
    from snntorch.export_nir import export_to_nir

    def leaky(n):  # per-neuron values: scalars make snnTorch's export fail (nir#157)
        return snn.Leaky(beta=torch.full((n,), 0.9), threshold=torch.ones(n),
                         init_hidden=True, reset_mechanism="zero")

    def lif(n):
        return norse.LIFBoxCell(norse.LIFBoxParameters(
            tau_mem_inv=torch.full((n,), 100.0), v_th=torch.ones(n),
            v_leak=torch.zeros(n), v_reset=torch.zeros(n)), dt=1e-3)

    def iaf(n):
        return norse.IAFCell(norse.IAFParameters(v_th=torch.ones(n),
                                                 v_reset=torch.zeros(n)))

    graphs = {}
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 100), leaky(100), nn.Linear(100, 10),
                        leaky(10))
    _train(net, _snntorch_run, x_train, y_train, 2e-3, n_steps)
    with torch.no_grad():
        own = _snntorch_run(net, x_test, n_steps).sum(1).argmax(-1).numpy()
    graphs["snntorch_mlp"] = (export_to_nir(net, x_test[:1], ignore_dims=[0]), own)
    for name, cell in (("norse_mlp", lif), ("norse_if", iaf)):
        torch.manual_seed(0)
        net = norse.SequentialState(nn.Flatten(), nn.Linear(784, 100), cell(100),
                                    nn.Linear(100, 10), cell(10))
        lr = 2e-3
        if cell is lif:  # LIFBox's input gain is dt / tau = 0.1: 10x weights and rate
            lr = 2e-2
            with torch.no_grad():
                for module in net.modules():
                    if isinstance(module, nn.Linear):
                        module.weight *= 10
        _train(net, _norse_run, x_train, y_train, lr, n_steps)
        with torch.no_grad():
            own = _norse_run(net, x_test, n_steps).sum(1).argmax(-1).numpy()
        graph = _norse_flatten(norse.to_nir(net, x_test[:1], dt=1e-3), net)
        graphs[name] = (graph, own)
    return graphs
