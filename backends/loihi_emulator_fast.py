"""Backend ``"loihi-emulator-fast"``: nengo-loihi's emulator, batched and vectorized.

Runs the network exactly as nengo-loihi builds it (same block shapes, discretized
weights, host↔chip transfer) through :class:`~snnkit.backends.loihi_fast.
FastLoihiEmulator`, which reproduces nengo-loihi's emulator bit for bit, over many
inputs at once. ``reset`` presentation only (each input from rest); features it cannot
reproduce exactly raise ``UnsupportedFeatureError`` naming the feature.
"""

from __future__ import annotations

import numpy as np

from snnkit.build import build_network
from snnkit.cost import fan_out
from snnkit.results import LayerActivity, layer_amplitudes

from .base import Backend
from .loihi_emulator import check_loihi_network, loihi_block_shapes
from .registry import register_backend


@register_backend
class FastLoihiEmulatorBackend(Backend):
    """``chunk_size`` inputs are simulated at a time (memory grows with it: about
    1.5 GB at 128 on the seed network); ``n_threads`` share the chunks."""

    name = "loihi-emulator-fast"
    presentations = ("reset",)

    def __init__(self, chunk_size: int = 128, n_threads: int = 2):
        self.chunk_size = int(chunk_size)
        self.n_threads = int(n_threads)

    def check_network(self, network) -> None:
        check_loihi_network(network)

    def _run(self, network, x, n_steps, *, presentation, progress, **options):
        from .loihi_fast import FastLoihiEmulator

        built = build_network(network, probe_layers=False, loihi=True,
                              block_shapes=loihi_block_shapes(network))
        emulator = FastLoihiEmulator(built.net, built.input_node, built.output_probe,
                                     layers=built.neurons, dt=network.dt)
        run = emulator.run(x.astype(np.float64), n_steps, chunk_size=self.chunk_size,
                           counts_only=True, progress=progress, n_threads=self.n_threads)
        activity = LayerActivity(layer_amplitudes(network), network.dt, fan_out(network))
        for name, counts in run.spike_counts.items():
            activity.add_counts(name, counts, n_steps)
        activity.finish_batch(x.shape[0])
        return run.outputs, activity.summary()
