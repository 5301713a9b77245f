"""The Loihi targets' Nengo build: a FrozenNetwork converted as every backend converts
it (:func:`snnkit.convert.to_nengo.build_network`), rewritten exactly into what
nengo-loihi can build (:mod:`.passes`: convolution biases, 1-D convolutions,
residual sums, concatenations and other linear layers between chip layers,
convolutions on the host), then given nengo-loihi's settings: the off-chip layers
marked ``on_chip=False`` and block shapes."""

from __future__ import annotations

import logging

from snnkit.backends.loihi import passes
from snnkit.convert import to_nengo
from snnkit.network.frozen import FrozenNetwork
from snnkit.utils.stack import import_nengo_loihi

logger = logging.getLogger(__name__)


def build_loihi_network(network: FrozenNetwork, *, probe_layers: bool = True,
                        block_shapes: dict | None = None) -> to_nengo.BuiltNetwork:
    """Convert ``network`` to Nengo with nengo-loihi's settings.

    Parameters
    ----------
    network : FrozenNetwork
    probe_layers : bool
        Probe every neuron layer's output.
    block_shapes : dict, optional
        ``{layer: per-core block shape}``; overrides the network's own.

    Returns
    -------
    BuiltNetwork
    """
    built = to_nengo.build_network(network, probe_layers=probe_layers)
    with built.net:
        passes.biases_without_sparse(built)
        passes.conv1d_as_conv2d(built)
        made = passes.collapse_linear(built)
        passes.check_host_inputs(built)
        relayed = passes.host_relays(built)
        _configure_loihi(built.net, network, built.neurons, block_shapes)
    if made or relayed:
        logger.info("Loihi build: %d connection(s) composed through linear layers %s; "
                    "%d host convolution(s) behind a relay %s", len(made), made,
                    len(relayed), relayed)
    return built


def _configure_loihi(net, network, neurons, block_shapes) -> None:
    nengo_loihi = import_nengo_loihi()

    nengo_loihi.add_params(net)
    shapes = dict(network.block_shapes)
    shapes.update(block_shapes or {})
    for name, obj in neurons.items():
        ens = obj.ensemble
        if name in network.off_chip:
            net.config[ens].on_chip = False
        elif name in shapes:
            net.config[ens].block_shape = nengo_loihi.BlockShape(
                tuple(shapes[name]), network.layer_shape(name))
