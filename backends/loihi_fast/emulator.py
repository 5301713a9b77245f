"""Fast, batched, bit-exact replacement for nengo-loihi's emulator (target="sim").

``FastLoihiEmulator`` builds the network exactly as ``nengo_loihi.Simulator``
does (same host/chip split, discretization, block splitting), then runs a batch
of inputs at once:

1. ``host_pre`` (off-chip layers, e.g. the first "to-spikes" layer) is replayed
   by :mod:`.host`; its spikes go to the chip one step later, as in
   nengo-loihi's ``SpikeInput``.
2. All chip blocks are simulated in integer arithmetic by :mod:`.chip`.
3. Chip->host probes are weighted with nengo-loihi's own ``LoihiProbe.weight_outputs``
   per sample, delivered with the same queue timing as ``HostReceiveNode``, and the
   ``host`` model (synapse filtering, output node, biases) is replayed.

Each input is presented from rest ("reset" presentation): the reference is a
fresh ``nengo_loihi.Simulator(net, target="sim")`` per input, run for ``n_steps``
steps (nengo-loihi's ``Simulator.reset`` raises ``NotImplementedError``, so a
fresh simulator is the only way to start from rest). See :func:`reference_run`
(:mod:`.reference`). How the emulator finds these parts in the model
nengo-loihi built is :mod:`.wiring`.

Units: ``n_steps`` counts simulator steps of ``dt`` seconds (``dt`` = 0.001 s by
default); outputs are in the output probe's units; spikes are 0/1 per step.
"""

import contextlib
import dataclasses
import warnings
from concurrent.futures import ThreadPoolExecutor

from snnkit.utils.stack import import_nengo_loihi

import_nengo_loihi()  # first: nengo-loihi starts nengo-dl and TensorFlow, quietly there

import numpy as np  # noqa: E402
import threadpoolctl  # noqa: E402

from snnkit.backends.loihi_fast.reference import reference_run  # noqa: E402
from snnkit.backends.loihi_fast.wiring import build_like_simulator, check_args, wire  # noqa: E402
from snnkit.exceptions import UnsupportedFeatureError, ValidationError  # noqa: E402
from snnkit.utils.validation import check_int, check_positive  # noqa: E402

__all__ = [
    "FastLoihiEmulator",
    "FastRun",
    "UnsupportedFeatureError",
    "reference_run",
    "run_network_fast",
]

# bytes per (sample, compartment) held while a chunk runs: int64 state and input,
# float32 spikes, patches; used to pick a chunk size under the memory budget
_BYTES_PER_SAMPLE_COMPARTMENT = 80


@dataclasses.dataclass(frozen=True)
class FastRun:
    """Result of :meth:`FastLoihiEmulator.run`.

    Attributes
    ----------
    outputs : ndarray
        The output probe's value at every step, as nengo-loihi's probe gives it:
        float64, ``(batch, n_steps, out_dim)``.
    spikes : dict of str to ndarray
        Full spike trains (1 = spike in that step), ``{layer name: uint8 (batch,
        n_steps, n_neurons)}``; empty if ``counts_only``.
    spike_counts : dict of str to ndarray
        Spikes per neuron over the ``n_steps`` steps, ``{layer name: int32 (batch,
        n_neurons)}``.
    n_steps : int
        Steps simulated per input.
    dt : float
        Step length in seconds.
    overflowed : bool
        Whether any chip input or current wrapped around (nengo-loihi only warns
        about this; the wrap is reproduced exactly).
    first_spike_steps : dict of str to ndarray
        Step (1-based) of the layer's first spike on each input, 0 if none,
        ``{layer name: int32 (batch,)}``.
    """

    outputs: np.ndarray
    spikes: dict
    spike_counts: dict
    n_steps: int
    dt: float
    overflowed: bool = False
    first_spike_steps: dict = dataclasses.field(default_factory=dict)


class FastLoihiEmulator:
    """Batched, vectorized, bit-exact nengo-loihi emulator for feed-forward nets.

    Parameters
    ----------
    network : nengo.Network
        E.g. ``nengo_dl.Converter(...).net`` with Loihi neuron types, off-chip
        first layer and ``BlockShape`` configs already set.
    input_node : nengo.Node
        The node whose (constant array) output is replaced by each input.
    output_probe : nengo.Probe
        Host-side probe whose values are returned (e.g. on the output Node).
    layers : dict of str to nengo.ensemble.Neurons, optional
        Layers whose spikes are recorded (on-chip or off-chip).
    dt : float, optional
        Step length in seconds (default 0.001).

    Raises
    ------
    UnsupportedFeatureError
        A ``NotImplementedError``, raised at construction for anything that cannot
        be reproduced exactly: learning, noise, closed host<->chip loops, ...
    """

    def __init__(self, network, input_node, output_probe, layers=None, dt=0.001):
        layers = dict(layers or {})
        check_args(network, input_node, output_probe, layers)
        self.dt = check_positive("dt", dt, "seconds")
        self.input_size = int(input_node.size_out)
        sim = build_like_simulator(network, self.dt)
        try:
            self.wiring = wire(sim, input_node, output_probe, layers)
        finally:
            sim.close()
        self.chip = self.wiring.chip
        self.output_size = self.wiring.output_size
        self._checked_steps = 0

    def _check_spike_times(self, n_steps):
        # host->chip spikes are keyed by round(t / dt); they must land on step k
        for k in range(self._checked_steps + 1, n_steps + 1):
            t = float(np.int64(k) * self.dt)
            if round(t / self.dt) != k:
                raise UnsupportedFeatureError(
                    f"dt={self.dt} (step {k} maps to spike time {round(t / self.dt)})",
                    "host->chip spike timing",
                    "dt values for which round(k * dt / dt) == k",
                )
        self._checked_steps = max(self._checked_steps, n_steps)

    # --- running --------------------------------------------------------------
    def default_chunk_size(self, n_steps, memory_bytes=2**30):
        """Samples per chunk, for ``n_steps`` steps per input.

        At most 128 (larger chunks fall out of the CPU caches and run slower per
        sample), and few enough that one chunk's working set stays under
        ``memory_bytes``.

        Parameters
        ----------
        n_steps : int
            Steps per input.
        memory_bytes : int, optional
            The memory budget of one chunk's working set, in bytes.

        Returns
        -------
        int
        """
        per_sample = _BYTES_PER_SAMPLE_COMPARTMENT * (self.chip.n_src + 1)
        per_sample += n_steps * (self.chip.n_input_src + 8 * self.output_size)
        per_sample += sum(
            n_steps * n for _, _, n in self.wiring.layers.values()
        )  # recorded trains
        return int(max(1, min(128, memory_bytes // per_sample)))

    def run(
        self,
        x,
        n_steps,
        chunk_size=None,
        counts_only=False,
        progress=False,
        n_threads=2,
    ):
        """Simulate every row of ``x`` from rest for ``n_steps`` steps.

        Parameters
        ----------
        x : array_like, shape (batch, input_size)
            One input per row, held constant for the whole presentation.
        n_steps : int
            Steps of ``dt`` seconds per input.
        chunk_size : int, optional
            Inputs simulated together (default: :meth:`default_chunk_size`).
            Peak memory is about ``n_threads`` chunks plus the returned arrays.
        counts_only : bool, optional
            Return only per-neuron spike counts (saves memory on big batches).
        progress : bool or str, optional
            Show a tqdm progress bar over chunks (a string: with that label).
        n_threads : int, optional
            Chunks simulated concurrently (numpy releases the GIL in array
            operations, so 2 threads use both cores; each thread's BLAS calls are
            then single-threaded). Results do not depend on it.

        Returns
        -------
        FastRun

        Raises
        ------
        ValidationError
            If ``x`` is not ``(batch, input_size)``, or ``n_steps``, ``chunk_size``
            or ``n_threads`` is not an int >= 1.
        """
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.input_size:
            raise ValidationError(
                f"x: expected shape (batch, {self.input_size}), got {x.shape}"
            )
        n_steps = check_int("n_steps", n_steps, low=1)
        self._check_spike_times(n_steps)
        batch = x.shape[0]
        chunk = self.default_chunk_size(n_steps) if chunk_size is None else \
            check_int("chunk_size", chunk_size, low=1)
        n_threads = check_int("n_threads", n_threads, low=1)

        outputs = np.zeros((batch, n_steps, self.output_size))
        counts = {
            name: np.zeros((batch, n), dtype=np.int32)
            for name, (_, _, n) in self.wiring.layers.items()
        }
        first = {name: np.zeros(batch, dtype=np.int32) for name in self.wiring.layers}
        trains = (
            {}
            if counts_only
            else {
                name: np.zeros((batch, n_steps, n), dtype=np.uint8)
                for name, (_, _, n) in self.wiring.layers.items()
            }
        )
        slices = [slice(s, min(s + chunk, batch)) for s in range(0, batch, chunk)]

        def one_chunk(sl):
            return sl, self._run_chunk(x[sl], n_steps, counts_only)

        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=batch, unit="input",
                       desc=progress if isinstance(progress, str) else
                       "loihi-emulator-fast")
        overflowed = False
        with contextlib.ExitStack() as stack:
            if n_threads > 1:
                # one BLAS thread per worker: the workers already fill the cores
                stack.enter_context(threadpoolctl.threadpool_limits(1, "blas"))
                pool = stack.enter_context(ThreadPoolExecutor(n_threads))
                results = pool.map(one_chunk, slices)
            else:
                results = map(one_chunk, slices)
            for sl, (out, layer_spikes, layer_first, ovf) in results:
                overflowed |= ovf
                outputs[sl] = out
                for name, steps in layer_first.items():
                    first[name][sl] = steps
                for name, spk in layer_spikes.items():
                    if counts_only:
                        counts[name][sl] = spk
                    else:
                        counts[name][sl] = spk.sum(axis=1, dtype=np.int32)
                        trains[name][sl] = spk
                if bar is not None:
                    bar.update(sl.stop - sl.start)
        if bar is not None:
            bar.close()
        if overflowed:
            warnings.warn("Overflow in chip input or current (wrapped as on Loihi)")
        return FastRun(
            outputs=outputs,
            spikes=trains,
            spike_counts=counts,
            n_steps=n_steps,
            dt=self.dt,
            overflowed=overflowed,
            first_spike_steps=first,
        )

    def _run_chunk(self, x, n_steps, counts_only):
        """Outputs (batch, n_steps, d), {layer: trains or counts},
        {layer: first spike step per sample}, overflowed."""
        batch = x.shape[0]
        host_layers = {
            name: sig
            for name, (kind, sig, _) in self.wiring.layers.items()
            if kind == "host"
        }
        sent, host_spikes = self.wiring.host_pre.run(
            n_steps, batch, batch_inputs={self.wiring.input_signal: x}, spikes=host_layers
        )
        chip_spikes, overflowed = self._run_chip(sent, n_steps, batch)
        receive = {
            proc: self._receive_fn(proc, chip_spikes, n_steps, batch)
            for proc in self.wiring.receivers
        }
        _, rec = self.wiring.host.run(
            n_steps, batch, receive=receive, record={"out": self.wiring.output_signal}
        )
        outputs = rec["out"].reshape(batch, n_steps, -1)
        layer_spikes, layer_first = {}, {}
        for name, (kind, what, n) in self.wiring.layers.items():
            if kind == "host":
                spk = host_spikes[name]
                layer_first[name] = _first_step(spk.any(axis=2))
                layer_spikes[name] = (
                    spk.sum(axis=1, dtype=np.int32) if counts_only else spk
                )
                continue
            layer_first[name] = _first_step(
                np.any([chip_spikes[bi].any(axis=2) for bi, _ in what],
                       axis=0))
            if counts_only:
                out = np.zeros((batch, n), dtype=np.int32)
                for bi, idxs in what:
                    out[:, idxs] = chip_spikes[bi].sum(axis=1, dtype=np.int32)
            else:
                out = np.zeros((batch, n_steps, n), dtype=np.uint8)
                for bi, idxs in what:
                    out[:, :, idxs] = chip_spikes[bi]
            layer_spikes[name] = out
        return outputs, layer_spikes, layer_first, overflowed

    def _recorded_blocks(self):
        blocks = set()
        for _, targets in self.wiring.receivers.values():
            blocks.update(bi for bi, _ in targets)
        for kind, what, _ in self.wiring.layers.values():
            if kind == "chip":
                blocks.update(bi for bi, _ in what)
        return sorted(blocks)

    def _run_chip(self, sent, n_steps, batch):
        """Spike trains {block index: bool (batch, n_steps, n)} of needed blocks."""
        chip = self.chip
        record = {
            bi: np.zeros((batch, n_steps, chip.blocks[bi].n_neurons), dtype=bool)
            for bi in self._recorded_blocks()
        }
        state = chip.new_state(batch)
        spikes = np.zeros((batch, chip.n_src), dtype=np.float32)
        overflowed = False
        for t in range(1, n_steps + 1):
            # host spikes of step t-1 arrive at step t (SpikeInput, t >= 2)
            for proc, spike_input in self.wiring.senders.items():
                sl = chip.input_slices[spike_input]
                spikes[:, sl] = sent[proc][:, t - 2] if t >= 2 else 0
            q = chip.synaptic_input(spikes)
            spiked, ovf = chip.update(state, q)
            overflowed |= ovf
            spikes[:, chip.n_input_src :] = spiked
            for bi, arr in record.items():
                arr[:, t - 1] = spiked[:, chip.comp_slices[bi]]
        return record, overflowed

    def _receive_fn(self, proc, chip_spikes, n_steps, batch):
        """Values a HostReceiveNode outputs at host step k, as nengo-loihi times them."""
        loihi_probe, targets = self.wiring.receivers[proc]
        # per sample, the exact call ProbeState.send makes on the whole run
        values = np.stack(
            [
                loihi_probe.weight_outputs(
                    [chip_spikes[bi][b][:, s] for bi, s in targets]
                )
                for b in range(batch)
            ]
        )  # (batch, n_steps, d)
        # receive(t = dt * (j + 2), value j); queue starts with (0, zeros)
        times = [0.0] + [self.dt * (j + 2) for j in range(n_steps)]
        zeros = np.zeros((batch,) + values.shape[2:])
        pos = [0]

        def receive(k, t):
            i = pos[0]
            while len(times) - i > 1 and times[i] < t:
                i += 1
            pos[0] = i
            return zeros if i == 0 else values[:, i - 1]

        return receive


def _first_step(active):
    """(batch, n_steps) bool -> first True step per row (1-based), 0 if none."""
    return np.where(active.any(axis=1), np.argmax(active, axis=1) + 1, 0).astype(np.int32)


def run_network_fast(built, x, n_steps, **kwargs):
    """Adapter for a backend registry: :meth:`FastLoihiEmulator.run` on ``built``.

    Parameters
    ----------
    built : FastLoihiEmulator or tuple
        A :class:`FastLoihiEmulator` or a tuple ``(network, input_node,
        output_probe[, layers])``.
    x, n_steps, **kwargs
        As for :meth:`FastLoihiEmulator.run`.

    Returns
    -------
    FastRun
    """
    if not isinstance(built, FastLoihiEmulator):
        built = FastLoihiEmulator(*built)
    return built.run(x, n_steps, **kwargs)
