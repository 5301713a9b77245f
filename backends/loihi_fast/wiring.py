"""How the fast emulator attaches to a network: build it as ``nengo_loihi.Simulator``
does, then find in nengo-loihi's model what the fast run needs (the chip blocks, the
host models before and after the chip, the host->chip spike senders, the chip->host
probes and the recorded layers). Anything the fast run could not reproduce bit for
bit raises :class:`~snnkit.exceptions.UnsupportedFeatureError` here, before a run.
"""

import dataclasses
import warnings

from snnkit.utils.stack import import_nengo_loihi

import_nengo_loihi()  # first: nengo-loihi starts nengo-dl and TensorFlow, quietly there

import nengo  # noqa: E402
import nengo_loihi  # noqa: E402
import numpy as np  # noqa: E402
from nengo.ensemble import Neurons  # noqa: E402
from nengo_loihi.builder.inputs import HostReceiveProcess  # noqa: E402

from snnkit.backends.loihi_fast.chip import ChipEngine  # noqa: E402
from snnkit.backends.loihi_fast.host import BatchedHostModel  # noqa: E402
from snnkit.exceptions import UnsupportedFeatureError  # noqa: E402


@dataclasses.dataclass(frozen=True)
class FastWiring:
    """What a fast run reads from the network nengo-loihi built.

    chip : the chip blocks in integer arithmetic (:class:`.chip.ChipEngine`).
    host_pre, host : the host models before and after the chip.
    input_signal : host_pre's signal that each input replaces.
    output_signal : host's signal of the output probe; ``output_size`` its length.
    senders : ``{id(HostSendProcess): SpikeInput}``, one per host->chip spike link.
    receivers : ``{id(HostReceiveProcess): (LoihiProbe, [(block index, probe slice)])}``.
        Keyed by ``id``: nengo processes are FrozenObjects that compare (and hash)
        equal by their parameters, so every HostSendProcess equals every other one
        (nengo-loihi's own Simulator keys them by ``id`` too).
    layers : ``{name: ("chip", [(block index, neuron indices)], n) or
        ("host", Signal, n)}``, the recorded layers.
    """

    chip: ChipEngine
    host_pre: BatchedHostModel
    host: BatchedHostModel
    input_signal: object
    output_signal: object
    output_size: int
    senders: dict
    receivers: dict
    layers: dict


def check_args(network, input_node, output_probe, layers):
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


def build_like_simulator(network, dt):
    """Build ``network`` as ``nengo_loihi.Simulator(target='sim')`` does."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sim = nengo_loihi.Simulator(network, dt=dt, target="sim")
    return sim


def wire(sim, input_node, output_probe, layers) -> FastWiring:
    """The :class:`FastWiring` of a built ``nengo_loihi.Simulator`` (``sim``)."""
    model = sim.model
    _require(model.split.precompute and "emulator" in sim.sims,
             "host<->chip feedback (precompute=False)", "the network's host/chip split",
             "feed-forward networks whose host input does not depend on chip output")
    _require(not model.host2chip_pes_senders,
             "learning rules (PES error from host)", "the network", "no learning")
    _require("host_pre" in sim.sims and "host" in sim.sims,
             "networks without both an off-chip input layer and a host output",
             "the network's host/chip split",
             "input node -> off-chip layer -> chip -> host output node")
    chip = ChipEngine(model)
    host_pre = BatchedHostModel(sim.sims["host_pre"], "host_pre")
    host = BatchedHostModel(sim.sims["host"], "host")
    _require(input_node in model.host_pre.sig,
             "an input node that is not a precomputed host input",
             f"input_node {input_node}",
             "the network's input node feeding the off-chip layer")
    input_signal = model.host_pre.sig[input_node]["out"]
    senders = _map_senders(model, chip)
    receivers = _map_receivers(model, chip)
    _require(output_probe in model.host.sig,
             "an output probe that is not on the host after the chip",
             f"output_probe {output_probe}", "a probe on the output Node (host side)")
    output_signal = model.host.sig[output_probe]["in"]
    return FastWiring(
        chip=chip,
        host_pre=host_pre,
        host=host,
        input_signal=input_signal,
        output_signal=output_signal,
        output_size=int(np.prod(output_signal.shape)),
        senders=senders,
        receivers=receivers,
        layers=_map_layers(model, chip, layers),
    )


def _require(ok, feature: str, where: str, supported: str) -> None:
    """Raise :class:`UnsupportedFeatureError` (``feature`` found in ``where``; what
    is ``supported``) unless ``ok``."""
    if not ok:
        raise UnsupportedFeatureError(feature, where, supported)


def _map_senders(model, chip):
    """HostSendProcess -> SpikeInput, for every host->chip spike link."""
    senders = {}
    for send, receive in model.host2chip_senders.items():
        spike_input = model.spike_targets[receive]
        senders[id(send.output)] = spike_input
    missing = set(chip.inputs) - set(senders.values())
    if missing:
        raise UnsupportedFeatureError(
            "chip inputs not fed by host spikes",
            ", ".join(str(i.label) for i in missing),
            "host neurons -> chip connections",
        )
    return senders

def _map_receivers(model, chip):
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
            (chip.block_index[b], s)
            for b, s in zip(loihi_probe.target, loihi_probe.slice)
        ]
        assert isinstance(receive.output, HostReceiveProcess)
        receivers[id(receive.output)] = (loihi_probe, targets)
    return receivers

def _map_layers(model, chip, layers):
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
            parts.append((chip.block_index[b], np.asarray(idxs)))
        out[name] = ("chip", parts, neurons.size_out)
    return out
