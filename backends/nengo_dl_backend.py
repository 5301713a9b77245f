"""Backend ``"nengo-dl"``: NengoDL's TensorFlow simulator, batched.

``reset``: inputs in minibatches of ``minibatch_size``, each from rest
(``stateful=False``); evaluated in chunks of ``chunk_size`` inputs so probe data never
piles up. ``sequential``: one long stream (minibatch 1) with state carried over
between chunks. A prepared network keeps one simulator per (minibatch, mode), so
later runs skip TensorFlow's graph build.
"""

from __future__ import annotations

import logging

import numpy as np

from snnkit.backends.base import Backend, PreparedNetwork
from snnkit.backends.registry import register_backend
from snnkit.backends.toolkit import predict_minibatches

logger = logging.getLogger(__name__)
SEED = 0


class _PreparedNengoDL(PreparedNetwork):
    """The network built for NengoDL once; one simulator per (minibatch, mode) kept."""

    def __init__(self, backend, network):
        from snnkit.convert.to_nengo import build_network

        super().__init__(backend, network)
        self.built = build_network(network)
        self._sims = {}  # (minibatch, sequential) -> nengo_dl.Simulator

    def simulate(self, x, n_steps, *, presentation, progress):
        built = self.built
        sequential = presentation == "sequential"
        n = x.shape[0]
        minibatch = 1 if sequential else min(self.backend.minibatch_size, n)
        chunk = max(minibatch, self.backend.chunk_size // minibatch * minibatch)
        logger.info("nengo-dl: %d input(s), minibatch %d, chunks of %d", n, minibatch,
                    chunk)
        sim = self._simulator(minibatch, sequential)
        activity = self.new_activity()
        outputs = np.empty((n, n_steps, built.output_probe.size_in), np.float32)
        with self.progress_bar(n, presentation, progress) as bar:
            for start in range(0, n, chunk):
                stop = min(start + chunk, n)
                data = _predict(sim, built, x[start:stop], n_steps, minibatch, sequential)
                outputs[start:stop] = data[built.output_probe]
                for name, probe in built.probes.items():
                    activity.add(name, data[probe])
                activity.finish_batch(stop - start)
                bar.update(stop - start)
        return outputs, activity.summary()

    def _simulator(self, minibatch, sequential):
        from snnkit.utils.stack import import_nengo_dl

        nengo_dl = import_nengo_dl()
        key = (minibatch, sequential)
        if key not in self._sims:
            with self.built.net:
                nengo_dl.configure_settings(stateful=sequential)
            self._sims[key] = nengo_dl.Simulator(
                self.built.net, minibatch_size=minibatch, dt=self.network.dt,
                progress_bar=False, seed=SEED)
        elif sequential:  # the stream starts from rest, as in a new simulator
            self._sims[key].reset()  # same seed: the one it was built with
        return self._sims[key]

    def close(self):
        for sim in self._sims.values():
            sim.close()
        self._sims.clear()
        super().close()


@register_backend
class NengoDLBackend(Backend):
    """Runs the network in ``nengo_dl.Simulator``; see the module docstring.

    Parameters
    ----------
    minibatch_size : int, optional
        Inputs per simulator batch (>= 1).
    chunk_size : int, optional
        Inputs evaluated per call (>= 1; rounded to whole minibatches).
    """

    name = "nengo-dl"
    description = ("NengoDL's TensorFlow simulator: batched, the fastest; float32, "
                   "matches 'nengo' to rounding")

    def __init__(self, minibatch_size: int = 100, chunk_size: int = 1000):
        self.minibatch_size = self.check_int_setting("minibatch_size", minibatch_size)
        self.chunk_size = self.check_int_setting("chunk_size", chunk_size)

    def build(self, network) -> PreparedNetwork:
        return _PreparedNengoDL(self, network)


def _predict(sim, built, x, n_steps, minibatch, sequential):
    """Probe data reshaped to ``(len(x), n_steps, ...)``."""
    count = x.shape[0]
    if sequential:
        stream = np.repeat(x, n_steps, axis=0)[None]
        data = sim.predict({built.input_node: stream}, stateful=True, verbose=0)
        return {p: v.reshape(count, n_steps, -1) for p, v in data.items()}
    parts = [{p: v[:n] for p, v in data.items()}
             for n, data in predict_minibatches(sim, built, x, n_steps, minibatch)]
    return {p: np.concatenate([part[p] for part in parts]) for p in parts[0]}
