"""The nengo-dl <-> Keras plumbing of :class:`~snnkit.Trainer`: trained parameters
read back from a ``nengo_dl.Simulator`` into the Keras model, and optimizer state
restored from a checkpoint."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from snnkit.exceptions import CheckpointError, ValidationError

if TYPE_CHECKING:
    from snnkit.network.types import KerasModel


def restore_optimizer(sim, checkpoint) -> None:
    """Set the simulator's optimizer state from ``checkpoint``.

    Raises
    ------
    CheckpointError
        If the saved state does not have the shapes of this optimizer's variables.
    """
    optimizer = sim.keras_model.optimizer
    optimizer.build(sim.keras_model.trainable_variables)
    variables = optimizer.variables()
    shapes = [tuple(v.shape) for v in variables]
    saved = [tuple(a.shape) for a in checkpoint.optimizer]
    if shapes != saved:
        raise CheckpointError(
            f"ckpt_path: {checkpoint.path} holds optimizer state of shapes {saved}, but "
            f"this Trainer's optimizer has {shapes} (a different optimizer or model)")
    for variable, value in zip(variables, checkpoint.optimizer):
        variable.assign(value)


def copy_weights_to_keras(sim, built, model: KerasModel) -> None:
    """Write the simulator's trained parameters back into ``model``'s layers.

    Kernels live on the connection into each layer's output object; biases live on
    the layer's ensemble (divided back by its scale) or, for a layer without neurons
    or a convolution, on a connection from a constant bias node.
    """
    import nengo

    network = built.network
    by_post = {}
    for conn in built.net.all_connections:
        by_post.setdefault(conn.post_obj, []).append(conn)
    for layer in model.layers:
        if not layer.get_weights():
            continue
        obj = built.converter.layers[built.model.get_layer(layer.name)]
        conns = by_post.get(obj, [])
        kernel_conn = [c for c in conns if isinstance(
            c.transform, (nengo.transforms.Dense, nengo.transforms.Convolution))
            and not _is_bias_source(c.pre_obj)]
        if len(kernel_conn) != 1:
            raise ValidationError(f"layer {layer.name!r}: cannot find its trained kernel")
        kernel = np.asarray(sim.data[kernel_conn[0]].weights)
        if isinstance(kernel_conn[0].transform, nengo.transforms.Dense):
            kernel = kernel.T
        values = [kernel.reshape(layer.kernel.shape)]
        if getattr(layer, "use_bias", False):
            values.append(_trained_bias(sim, built, obj, conns, layer, network))
        layer.set_weights(values)


def _trained_bias(sim, built, obj, conns, layer, network):
    import nengo

    if isinstance(obj, nengo.ensemble.Neurons) and type(layer).__name__ == "Dense":
        return np.asarray(sim.data[obj.ensemble].bias) / network.scale(layer.name)
    bias_conns = [c for c in conns if _is_bias_source(c.pre_obj)]
    if type(layer).__name__ == "Dense":
        return np.asarray(sim.data[bias_conns[0]].weights)[:, 0]
    relay = bias_conns[0].pre_obj  # conv: constant node -> relay -> broadcast
    feed = [c for c in built.net.all_connections if c.post_obj is relay]
    # unscaled: nengo multiplies the relay's input to the neurons by their gain
    # (the layer's scale), unlike an ensemble's own bias, which nengo-dl pre-scales
    return np.asarray(sim.data[feed[0]].weights)[:, 0]


def _is_bias_source(obj) -> bool:
    """The converter's constant bias nodes are labelled ``<layer>.<i>.bias[_relay]``."""
    import nengo

    return isinstance(obj, nengo.Node) and str(obj.label).endswith(("bias", "bias_relay"))
