"""Fast, batched, bit-exact replacement for nengo-loihi's emulator (target="sim").

``FastLoihiEmulator`` builds the network exactly as ``nengo_loihi.Simulator``
does (same host/chip split, discretization, block splitting), then runs a batch
of inputs at once:

1. ``host_pre`` (off-chip layers, e.g. the first "to-spikes" layer) is replayed
   by :mod:`.loihi_fast_host`; its spikes go to the chip one step later, as in
   nengo-loihi's ``SpikeInput``.
2. All chip blocks are simulated in integer arithmetic by :mod:`.loihi_fast_chip`.
3. Chip->host probes are weighted with nengo-loihi's own ``LoihiProbe.weight_outputs``
   per sample, delivered with the same queue timing as ``HostReceiveNode``, and the
   ``host`` model (synapse filtering, output node, biases) is replayed.

Each input is presented from rest ("reset" presentation): the reference is a
fresh ``nengo_loihi.Simulator(net, target="sim")`` per input, run for ``n_steps``
steps (nengo-loihi's ``Simulator.reset`` raises ``NotImplementedError``, so a
fresh simulator is the only way to start from rest). See :func:`reference_run`.

Units: ``n_steps`` counts simulator steps of ``dt`` seconds (``dt`` = 0.001 s by
default); outputs are in the output probe's units; spikes are 0/1 per step.
"""

import contextlib
import dataclasses
import warnings
from concurrent.futures import ThreadPoolExecutor

from snnkit._stack import import_nengo_loihi

import_nengo_loihi()  # first: nengo-loihi starts nengo-dl and TensorFlow, quietly there

import nengo  # noqa: E402
import nengo_loihi  # noqa: E402
import numpy as np  # noqa: E402
import threadpoolctl  # noqa: E402
from nengo.ensemble import Neurons  # noqa: E402
from nengo_loihi.builder.inputs import HostReceiveProcess  # noqa: E402

from snnkit.exceptions import UnsupportedFeatureError  # noqa: E402

from .loihi_fast_chip import ChipEngine  # noqa: E402
from .loihi_fast_host import BatchedHostModel  # noqa: E402

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
    outputs : ndarray (batch, n_steps, out_dim) float64
        The output probe's value at every step, as nengo-loihi's probe gives it.
    spikes : {layer_name: ndarray (batch, n_steps, n_neurons) uint8}
        Full spike trains (1 = spike in that step); empty if ``counts_only``.
    spike_counts : {layer_name: ndarray (batch, n_neurons) int32}
        Spikes per neuron over the ``n_steps`` steps.
    n_steps : int
        Steps simulated per input.
    dt : float
        Step length in seconds.
    overflowed : bool
        Whether any chip input or current wrapped around (nengo-loihi only warns
        about this; the wrap is reproduced exactly).
    first_spike_steps : {layer_name: ndarray (batch,) int32}
        Step (1-based) of the layer's first spike on each input, 0 if none.
    """

    outputs: np.ndarray
    spikes: dict
    spike_counts: dict
    n_steps: int
    dt: float
    overflowed: bool = False
    first_spike_steps: dict = dataclasses.field(default_factory=dict)


def _check_args(network, input_node, output_probe, layers):
    if not isinstance(network, nengo.Network):
        raise TypeError(f"network: expected nengo.Network, got {type(network)!r}")
    if not isinstance(input_node, nengo.Node):
        raise TypeError(f"input_node: expected nengo.Node, got {type(input_node)!r}")
    if not isinstance(output_probe, nengo.Probe):
        raise TypeError(
            f"output_probe: expected nengo.Probe, got {type(output_probe)!r}"
        )
    for name, neurons in layers.items():
        if not isinstance(neurons, Neurons):
            raise TypeError(
                f"layers[{name!r}]: expected nengo.ensemble.Neurons, "
                f"got {type(neurons)!r}"
            )
    if not isinstance(input_node.output, np.ndarray):
        raise UnsupportedFeatureError(
            f"input node output of type {type(input_node.output).__name__}",
            f"input_node {input_node}",
            "a Node with a constant array output (it is replaced per input)",
        )
    if output_probe.sample_every is not None:
        raise UnsupportedFeatureError(
            "probe sample_every", f"output_probe {output_probe}", "sample_every=None"
        )


def _build(network, dt):
    """Build ``network`` as ``nengo_loihi.Simulator(target='sim')`` does."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sim = nengo_loihi.Simulator(network, dt=dt, target="sim")
    return sim


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
    layers : {str: nengo.ensemble.Neurons}, optional
        Layers whose spikes are recorded (on-chip or off-chip).
    dt : float, optional
        Step length in seconds (default 0.001).

    Raises
    ------
    UnsupportedFeatureError
        (a ``NotImplementedError``) at construction for anything that cannot be
        reproduced exactly: learning, noise, closed host<->chip loops, ...
    """

    def __init__(self, network, input_node, output_probe, layers=None, dt=0.001):
        layers = dict(layers or {})
        _check_args(network, input_node, output_probe, layers)
        self.dt = float(dt)
        self.input_size = int(input_node.size_out)
        sim = _build(network, self.dt)
        try:
            self._init_from_sim(sim, input_node, output_probe, layers)
        finally:
            sim.close()

    def _init_from_sim(self, sim, input_node, output_probe, layers):
        model = sim.model
        if not model.split.precompute or "emulator" not in sim.sims:
            raise UnsupportedFeatureError(
                "host<->chip feedback (precompute=False)",
                "the network's host/chip split",
                "feed-forward networks whose host input does not depend on chip "
                "output",
            )
        if model.host2chip_pes_senders:
            raise UnsupportedFeatureError(
                "learning rules (PES error from host)", "the network", "no learning"
            )
        if "host_pre" not in sim.sims or "host" not in sim.sims:
            raise UnsupportedFeatureError(
                "networks without both an off-chip input layer and a host output",
                "the network's host/chip split",
                "input node -> off-chip layer -> chip -> host output node",
            )
        self.chip = ChipEngine(model)
        self.host_pre = BatchedHostModel(sim.sims["host_pre"], "host_pre")
        self.host = BatchedHostModel(sim.sims["host"], "host")

        if input_node not in model.host_pre.sig:
            raise UnsupportedFeatureError(
                "an input node that is not a precomputed host input",
                f"input_node {input_node}",
                "the network's input node feeding the off-chip layer",
            )
        self._input_signal = model.host_pre.sig[input_node]["out"]

        self._senders = self._map_senders(model)
        self._receivers = self._map_receivers(model)
        if output_probe not in model.host.sig:
            raise UnsupportedFeatureError(
                "an output probe that is not on the host after the chip",
                f"output_probe {output_probe}",
                "a probe on the output Node (host side)",
            )
        self._output_signal = model.host.sig[output_probe]["in"]
        self.output_size = int(np.prod(self._output_signal.shape))
        self._layers = self._map_layers(model, layers)
        self._checked_steps = 0

    def _map_senders(self, model):
        """HostSendProcess -> SpikeInput, for every host->chip spike link."""
        senders = {}
        for send, receive in model.host2chip_senders.items():
            spike_input = model.spike_targets[receive]
            senders[send.output] = spike_input
        missing = set(self.chip.inputs) - set(senders.values())
        if missing:
            raise UnsupportedFeatureError(
                "chip inputs not fed by host spikes",
                ", ".join(str(i.label) for i in missing),
                "host neurons -> chip connections",
            )
        return senders

    def _map_receivers(self, model):
        """HostReceiveProcess -> (LoihiProbe, [(block index, probe slice)])."""
        receivers = {}
        for probe, receive in model.chip2host_receivers.items():
            loihi_probe = model.objs[probe]["out"]
            if loihi_probe.key != "spiked" or loihi_probe.synapse is not None:
                raise UnsupportedFeatureError(
                    f"chip->host probe of {loihi_probe.key!r} "
                    f"(synapse {loihi_probe.synapse})",
                    f"connection probe {probe}",
                    "spikes from on-chip neurons to host objects",
                )
            targets = [
                (self.chip.block_index[b], s)
                for b, s in zip(loihi_probe.target, loihi_probe.slice)
            ]
            assert isinstance(receive.output, HostReceiveProcess)
            receivers[receive.output] = (loihi_probe, targets)
        return receivers

    def _map_layers(self, model, layers):
        """layer name -> ("chip", [(block idx, neuron idxs)]) or ("host", Signal)."""
        out = {}
        for name, neurons in layers.items():
            if neurons in model.host_pre.sig:
                out[name] = ("host", model.host_pre.sig[neurons]["out"], neurons.size_out)
                continue
            blocks = model.objs[neurons]["out"] if neurons in model.objs else None
            if blocks is None:
                blocks = model.objs.get(neurons.ensemble, {}).get("out", None)
            if blocks is None:
                raise UnsupportedFeatureError(
                    "recording a layer that is neither on chip nor in host_pre",
                    f"layers[{name!r}] = {neurons}",
                    "ensembles on chip or off-chip before the chip",
                )
            blocks = blocks if isinstance(blocks, list) else [blocks]
            parts = []
            for b in blocks:
                idxs = model.block_comp_map.get(b, np.arange(b.n_neurons))
                parts.append((self.chip.block_index[b], np.asarray(idxs)))
            out[name] = ("chip", parts, neurons.size_out)
        return out

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
        """Samples per chunk: at most 128 (larger chunks fall out of the CPU
        caches and run slower per sample), and few enough that one chunk's
        working set stays under ``memory_bytes``."""
        per_sample = _BYTES_PER_SAMPLE_COMPARTMENT * (self.chip.n_src + 1)
        per_sample += n_steps * (self.chip.n_input_src + 8 * self.output_size)
        per_sample += sum(
            n_steps * n for _, _, n in self._layers.values()
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
        x : array_like (batch, input_size)
            One input per row, held constant for the whole presentation.
        n_steps : int
            Steps of ``dt`` seconds per input.
        chunk_size : int, optional
            Inputs simulated together (default: :meth:`default_chunk_size`).
            Peak memory is about ``n_threads`` chunks plus the returned arrays.
        counts_only : bool
            Return only per-neuron spike counts (saves memory on big batches).
        progress : bool
            Show a tqdm progress bar over chunks.
        n_threads : int
            Chunks simulated concurrently (numpy releases the GIL in array
            operations, so 2 threads use both cores; each thread's BLAS calls are
            then single-threaded). Results do not depend on it.

        Returns
        -------
        FastRun
        """
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.input_size:
            raise ValueError(
                f"x: expected shape (batch, {self.input_size}), got {x.shape}"
            )
        if not isinstance(n_steps, (int, np.integer)) or n_steps < 1:
            raise ValueError(f"n_steps: expected a positive int, got {n_steps!r}")
        n_steps = int(n_steps)
        self._check_spike_times(n_steps)
        batch = x.shape[0]
        chunk = int(chunk_size or self.default_chunk_size(n_steps))
        if chunk < 1:
            raise ValueError(f"chunk_size: expected >= 1, got {chunk_size!r}")

        outputs = np.zeros((batch, n_steps, self.output_size))
        counts = {
            name: np.zeros((batch, n), dtype=np.int32)
            for name, (_, _, n) in self._layers.items()
        }
        first = {name: np.zeros(batch, dtype=np.int32) for name in self._layers}
        trains = (
            {}
            if counts_only
            else {
                name: np.zeros((batch, n_steps, n), dtype=np.uint8)
                for name, (_, _, n) in self._layers.items()
            }
        )
        if not isinstance(n_threads, (int, np.integer)) or n_threads < 1:
            raise ValueError(f"n_threads: expected an int >= 1, got {n_threads!r}")
        slices = [slice(s, min(s + chunk, batch)) for s in range(0, batch, chunk)]

        def one_chunk(sl):
            return sl, self._run_chunk(x[sl], n_steps, counts_only)

        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=batch, unit="input", desc="loihi-emulator-fast")
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
            name: sig for name, (kind, sig, _) in self._layers.items() if kind == "host"
        }
        sent, host_spikes = self.host_pre.run(
            n_steps, batch, batch_inputs={self._input_signal: x}, spikes=host_layers
        )
        chip_spikes, overflowed = self._run_chip(sent, n_steps, batch)
        receive = {
            proc: self._receive_fn(proc, chip_spikes, n_steps, batch)
            for proc in self._receivers
        }
        _, rec = self.host.run(
            n_steps, batch, receive=receive, record={"out": self._output_signal}
        )
        outputs = rec["out"].reshape(batch, n_steps, -1)
        layer_spikes, layer_first = {}, {}
        for name, (kind, what, n) in self._layers.items():
            if kind == "host":
                spk = host_spikes[name]
                layer_first[name] = _first_step(spk.any(axis=2))
                layer_spikes[name] = spk.sum(axis=1, dtype=np.int32) if counts_only else spk
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
        for _, targets in self._receivers.values():
            blocks.update(bi for bi, _ in targets)
        for kind, what, _ in self._layers.values():
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
            for proc, spike_input in self._senders.items():
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
        loihi_probe, targets = self._receivers[proc]
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
    """Adapter for a backend registry: ``built`` is a :class:`FastLoihiEmulator`
    or a tuple ``(network, input_node, output_probe[, layers])``."""
    if not isinstance(built, FastLoihiEmulator):
        built = FastLoihiEmulator(*built)
    return built.run(x, n_steps, **kwargs)


def reference_run(network, input_node, output_probe, x, n_steps, layers=None):
    """nengo-loihi's emulator, one input at a time, each from rest.

    Builds a fresh ``nengo_loihi.Simulator(network, target="sim")`` per row of
    ``x`` (``Simulator.reset`` is not implemented in nengo-loihi 1.1.0), with the
    input node's output set to that row. Adds a probe per entry of ``layers`` to
    ``network`` (they do not change the dynamics). Slow: seconds per input.

    Returns
    -------
    outputs : ndarray (batch, n_steps, out_dim)
    spikes : {layer_name: uint8 ndarray (batch, n_steps, n_neurons)}
    """
    layers = dict(layers or {})
    with network:
        probes = {name: nengo.Probe(neurons) for name, neurons in layers.items()}
    original = input_node.output
    outputs, spikes = [], {name: [] for name in layers}
    try:
        for row in np.asarray(x):
            input_node.output = np.array(row, dtype=np.float64)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with nengo_loihi.Simulator(network, target="sim") as sim:
                    sim.run_steps(n_steps)
            outputs.append(np.array(sim.data[output_probe]))
            for name, p in probes.items():
                spikes[name].append((np.asarray(sim.data[p]) != 0).astype(np.uint8))
    finally:
        input_node.output = original
    return np.stack(outputs), {k: np.stack(v) for k, v in spikes.items()}
