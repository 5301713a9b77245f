"""Backend ``"loihi-emulator-fast"``: nengo-loihi's emulator, batched and vectorized.

Runs the network exactly as nengo-loihi builds it (same block shapes, discretized
weights, host↔chip transfer) through :class:`~snnkit.backends.loihi_fast.emulator.
FastLoihiEmulator`, which reproduces nengo-loihi's emulator bit for bit, over many
inputs at once. The conversion, core plan and emulator build happen once, when the
network is prepared. ``reset`` presentation only (each input from rest); features it
cannot reproduce exactly raise :class:`~snnkit.exceptions.UnsupportedFeatureError`
naming the feature.
"""

from __future__ import annotations

import logging

import numpy as np

from snnkit.backends.base import Backend, PreparedNetwork
from snnkit.backends.loihi.planning import build_for_loihi, check_loihi_network
from snnkit.backends.registry import register_backend

logger = logging.getLogger(__name__)


class _PreparedFastLoihi(PreparedNetwork):
    """The network converted, its cores planned and the fast emulator built once."""

    def __init__(self, backend, network):
        from snnkit.backends.loihi_fast.emulator import FastLoihiEmulator

        super().__init__(backend, network)
        built, self.core_plan = build_for_loihi(network, probe_layers=False)
        self.emulator = FastLoihiEmulator(built.net, built.input_node, built.output_probe,
                                          layers=built.neurons, dt=network.dt)

    def simulate(self, x, n_steps, *, presentation, progress):
        backend = self.backend
        logger.info("loihi-emulator-fast: %d input(s) in chunks of %d on %d thread(s)",
                    x.shape[0], backend.chunk_size, backend.n_threads)
        run = self.emulator.run(x.astype(np.float64), n_steps,
                                chunk_size=backend.chunk_size, counts_only=True,
                                progress=progress, n_threads=backend.n_threads)
        activity = self.new_activity()
        for name, counts in run.spike_counts.items():
            activity.add_counts(name, counts, n_steps,
                                first_spike=run.first_spike_steps[name])
        activity.finish_batch(x.shape[0])
        return run.outputs, activity.summary()


@register_backend
class FastLoihiEmulatorBackend(Backend):
    """snnkit's batched emulator, bit-exact with ``"loihi-emulator"``.

    Parameters
    ----------
    chunk_size : int, optional
        Inputs simulated at a time (memory grows with it: about 1.5 GB at 128 on the
        seed network).
    n_threads : int, optional
        Threads that share the chunks.
    """

    name = "loihi-emulator-fast"
    description = ("snnkit's batched emulator: bit-exact with 'loihi-emulator', "
                   "hundreds of images/s; reset presentation only")
    presentations = ("reset",)

    def __init__(self, chunk_size: int = 128, n_threads: int = 2):
        self.chunk_size = self.check_int_setting("chunk_size", chunk_size)
        self.n_threads = self.check_int_setting("n_threads", n_threads)

    def check_network(self, network) -> None:
        check_loihi_network(network)

    def build(self, network) -> PreparedNetwork:
        return _PreparedFastLoihi(self, network)
