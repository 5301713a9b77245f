"""The array arithmetic of :mod:`snnkit.convert.fold`: each function turns the weights
of a layer (or a pair of layers) into those of one plain layer with the same function."""

from __future__ import annotations

import numpy as np

from snnkit.exceptions import ConversionError

GLOBAL_POOLING_LAYERS = frozenset({"GlobalAveragePooling1D", "GlobalAveragePooling2D"})


def weights_of(layer) -> list:
    return [np.asarray(w) for w in layer.get_weights()]


def as_plain(layer, cls):
    """An equivalent plain ``Conv1D``/``Conv2D``/``Dense`` of a weighted layer.

    Depthwise and separable convolutions become one ``Conv2D``; grouped convolutions
    one block-diagonal kernel (``groups=1``); dilated convolutions one larger kernel
    with zeros between the taps (``dilation_rate=1``); a ``Dense`` reading a map
    (rank 2 or 3 input) the 1x1 convolution it computes. Everything else is as it is.

    Parameters
    ----------
    layer : tf.keras.layers.Layer
        A connected layer of :data:`~snnkit.convert.fold_graph.WEIGHTED_LAYERS`.
    cls : str
        Its class name.

    Returns
    -------
    config : dict
        The plain layer's configuration; ``config["class_name"]`` names its class.
    weights : list of ndarray
        Its kernel (and bias).
    notes : list of str
        What was rewritten, in words (empty when nothing was).
    """
    config = dict(layer.get_config(), class_name=cls)
    weights = weights_of(layer)
    notes = []
    if config.get("data_format", "channels_last") != "channels_last":
        raise ConversionError(f"model: layer {layer.name!r}: only channels_last "
                              "data is supported")
    if cls in ("DepthwiseConv2D", "SeparableConv2D"):
        config, weights = _depthwise_as_conv(config, weights, cls)
        notes.append(f"{cls} written as one Conv2D")
    groups = int(config.get("groups", 1) or 1)
    if groups > 1:
        weights = [block_diagonal(weights[0], groups)] + weights[1:]
        config["groups"] = 1
        notes.append(f"groups={groups} written as one block-diagonal kernel")
    dilation = tuple(config.get("dilation_rate", ()) or ())
    if any(d != 1 for d in dilation):
        weights = [dilated_kernel(weights[0], dilation)] + weights[1:]
        config["kernel_size"] = tuple(int(k) for k in weights[0].shape[:-2])
        config["dilation_rate"] = (1,) * len(dilation)
        notes.append(f"dilation_rate={dilation} written as one {config['kernel_size']} "
                     "kernel with zeros between its taps")
    rank = len(layer.input_shape) - 2
    if cls == "Dense" and rank in (1, 2):
        kernel = weights[0].reshape((1,) * rank + weights[0].shape)
        weights = [kernel] + weights[1:]
        keep = {k: config[k] for k in ("name", "trainable", "dtype", "activation",
                                       "use_bias") if k in config}
        config = dict(keep, class_name=f"Conv{rank}D", filters=int(kernel.shape[-1]),
                      kernel_size=(1,) * rank)
        notes.append(f"Dense on a rank-{rank + 1} input written as the 1x1 Conv{rank}D "
                     "it computes")
    return config, weights, notes


def _depthwise_as_conv(config, weights, cls):
    depthwise = weights[0]  # (kh, kw, cin, multiplier)
    kh, kw, cin, mult = depthwise.shape
    full = np.zeros((kh, kw, cin, cin * mult), depthwise.dtype)
    for c in range(cin):
        full[:, :, c, c * mult:(c + 1) * mult] = depthwise[:, :, c, :]
    if cls == "SeparableConv2D":
        pointwise = weights[1][0, 0]  # (cin * mult, filters)
        full = np.tensordot(full, pointwise, axes=([3], [0]))
        bias = weights[2:]
    else:
        bias = weights[1:]
    kept = ("name", "trainable", "dtype", "kernel_size", "strides", "padding",
            "data_format", "dilation_rate", "activation", "use_bias")
    plain = {k: config[k] for k in kept if k in config}
    plain["filters"] = int(full.shape[-1])
    plain["class_name"] = "Conv2D"
    return plain, [full] + list(bias)


def block_diagonal(kernel, groups: int):
    """A grouped convolution's kernel ``(..., cin / groups, cout)`` as the full kernel
    ``(..., cin, cout)`` of the same convolution with ``groups = 1``: group ``g``'s
    output channels read only group ``g``'s input channels."""
    *spatial, cin_group, cout = kernel.shape
    cout_group = cout // groups
    full = np.zeros(tuple(spatial) + (cin_group * groups, cout), kernel.dtype)
    for g in range(groups):
        full[..., g * cin_group:(g + 1) * cin_group,
             g * cout_group:(g + 1) * cout_group] = \
            kernel[..., g * cout_group:(g + 1) * cout_group]
    return full


def dilated_kernel(kernel, dilation):
    """A dilated convolution's kernel ``(k1, ..., cin, cout)`` as the ordinary kernel of
    the same convolution: ``(k - 1) * d + 1`` taps per axis, zeros between the
    originals (Keras allows dilation only with stride 1, where this is exact)."""
    spatial = kernel.shape[:-2]
    size = tuple((k - 1) * d + 1 for k, d in zip(spatial, dilation))
    full = np.zeros(size + kernel.shape[-2:], kernel.dtype)
    full[tuple(slice(None, None, d) for d in dilation)] = kernel
    return full


def fold_batchnorm(bn, kernel, bias):
    cfg = bn.get_config()
    axis = cfg["axis"]
    axis = axis[0] if isinstance(axis, (list, tuple)) else axis
    if axis not in (-1, len(bn.input_shape) - 1):
        raise ConversionError(
            f"model: BatchNormalization {bn.name!r} normalizes axis {axis}; snnkit "
            "folds only the channel (last) axis")
    params = dict(zip([w.name.split("/")[-1].split(":")[0] for w in bn.weights],
                      weights_of(bn)))
    n = kernel.shape[-1]
    gamma = params.get("gamma", np.ones(n, np.float32))
    beta = params.get("beta", np.zeros(n, np.float32))
    mean, var = params["moving_mean"], params["moving_variance"]
    scale = (gamma / np.sqrt(var + cfg["epsilon"])).astype(np.float64)
    bias = np.zeros(n) if bias is None else bias.astype(np.float64)
    new_kernel = (kernel.astype(np.float64) * scale).astype(kernel.dtype)
    new_bias = ((bias - mean) * scale + beta).astype(kernel.dtype)
    return new_kernel, new_bias


def set_batchnorm_identity(bn, offset) -> None:
    cfg = bn.get_config()
    values = []
    for w in bn.weights:
        key = w.name.split("/")[-1].split(":")[0]
        n = int(w.shape[0])
        if key == "gamma":
            values.append(np.ones(n, np.float32))
        elif key == "beta":
            values.append(np.zeros(n, np.float32) if offset is None else offset)
        elif key == "moving_mean":
            values.append(np.zeros(n, np.float32))
        else:  # moving_variance: var + epsilon == 1
            values.append(np.full(n, 1.0 - cfg["epsilon"], np.float32))
    if offset is not None and not cfg.get("center", True):
        raise ConversionError(
            f"model: cannot write the trained bias back: neither the layer before "
            f"{bn.name!r} has a bias nor {bn.name!r} has center=True")
    bn.set_weights(values)


def conv_fold_ok(pool, conv) -> bool:
    cfg = conv.get_config()
    if cfg.get("data_format", "channels_last") != "channels_last":
        return False
    if any(d != 1 for d in cfg["dilation_rate"]) or cfg.get("groups", 1) != 1:
        return False
    if cfg["padding"] == "valid":
        return True
    if cfg["padding"] != "same":
        return False
    # 'same': exact when the pool divides the map, the conv has stride 1 and odd
    # kernels (then the pooled map's padding is whole pooling cells of zeros)
    in_shape = pool.input_shape[1:-1]
    k = pool.get_config()["pool_size"]
    return all(s % p == 0 for s, p in zip(in_shape, k)) and \
        all(st == 1 for st in cfg["strides"]) \
        and all(ks % 2 == 1 for ks in cfg["kernel_size"])



def fold_pool(pool, target, kernel, in_shape):
    """``(kernel, config)`` of ``target`` acting directly on the pooling's input."""
    cls = type(pool).__name__
    config = dict(target.get_config())
    spatial, channels = in_shape[:-1], in_shape[-1]
    if cls in GLOBAL_POOLING_LAYERS:
        k = tuple(spatial)
        pooled = (1,) * len(spatial)
    else:
        k = tuple(pool.get_config()["pool_size"])
        pooled = tuple(s // p for s, p in zip(spatial, k))
    area = float(np.prod(k))
    if type(target).__name__ == "Dense":
        units = kernel.shape[-1]
        w = kernel.reshape(pooled + (channels, units))
        for axis, p in enumerate(k):
            w = np.repeat(w, p, axis=axis)
        full = np.zeros(tuple(spatial) + (channels, units), kernel.dtype)
        full[tuple(slice(0, n) for n in w.shape[:-2])] = w
        return (full / area).reshape(-1, units).astype(kernel.dtype), config
    w = kernel
    for axis, p in enumerate(k):
        w = np.repeat(w, p, axis=axis)
    config["kernel_size"] = tuple(int(n) for n in w.shape[:-2])
    config["strides"] = tuple(int(s * p) for s, p in zip(config["strides"], k))
    return (w / area).astype(kernel.dtype), config
