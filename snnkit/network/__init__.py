"""What a spiking network is, independent of who builds or runs it: the
:class:`~snnkit.network.frozen.FrozenNetwork` and its file (:mod:`.frozen`,
:mod:`.fields`), neuron types by name (:mod:`.neurons`), the output readout
(:mod:`.readout`), input checks (:mod:`.inputs`) and what every run returns
(:mod:`.results`). No TensorFlow, nengo-dl or nengo-loihi is imported here."""
