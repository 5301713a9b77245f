"""Backend ``"nengo-dl"``: NengoDL's TensorFlow simulator, batched."""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from snnkit.build import build_network
from snnkit.cost import fan_out
from snnkit.results import LayerActivity, layer_amplitudes

from .base import Backend
from .registry import register_backend


@register_backend
class NengoDLBackend(Backend):
    """Runs the network in ``nengo_dl.Simulator``.

    ``reset``: inputs in minibatches of ``minibatch_size``, each from rest
    (``stateful=False``); evaluated in chunks of ``chunk_size`` inputs so probe data
    never piles up. ``sequential``: one long stream (minibatch 1) with state carried
    over between chunks.
    """

    name = "nengo-dl"

    def __init__(self, minibatch_size: int = 100, chunk_size: int = 1000):
        self.minibatch_size = int(minibatch_size)
        self.chunk_size = int(chunk_size)

    def _run(self, network, x, n_steps, *, presentation, progress, **options):
        import nengo_dl

        built = build_network(network)
        sequential = presentation == "sequential"
        with built.net:
            nengo_dl.configure_settings(stateful=sequential)
        activity = LayerActivity(layer_amplitudes(network), network.dt, fan_out(network))
        n = x.shape[0]
        minibatch = 1 if sequential else min(self.minibatch_size, n)
        chunk = max(minibatch, self.chunk_size // minibatch * minibatch)
        n_out = built.output_probe.size_in
        outputs = np.empty((n, n_steps, n_out), np.float32)
        with nengo_dl.Simulator(built.net, minibatch_size=minibatch, dt=network.dt,
                                progress_bar=False, seed=0) as sim:
            bar = tqdm(total=n, desc=f"{self.name} ({presentation})", unit="input",
                       disable=not progress, leave=False)
            for start in range(0, n, chunk):
                stop = min(start + chunk, n)
                data = self._predict(sim, built, x[start:stop], n_steps, minibatch,
                                     sequential)
                outputs[start:stop] = data[built.output_probe]
                for name, probe in built.probes.items():
                    activity.add(name, data[probe])
                activity.finish_batch(stop - start)
                bar.update(stop - start)
            bar.close()
        return outputs, activity.summary()

    @staticmethod
    def _predict(sim, built, x, n_steps, minibatch, sequential):
        """Probe data reshaped to ``(len(x), n_steps, ...)``."""
        count = x.shape[0]
        if sequential:
            stream = np.repeat(x, n_steps, axis=0)[None]
            data = sim.predict({built.input_node: stream}, stateful=True, verbose=0)
            return {p: v.reshape(count, n_steps, -1) for p, v in data.items()}
        padded = -count % minibatch  # nengo-dl needs whole minibatches
        if padded:
            x = np.concatenate([x, np.zeros((padded,) + x.shape[1:], x.dtype)])
        tiled = np.tile(x[:, None, :], (1, n_steps, 1))
        data = sim.predict({built.input_node: tiled}, verbose=0)
        return {p: v[:count] for p, v in data.items()}
