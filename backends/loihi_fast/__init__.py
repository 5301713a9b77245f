"""The ``loihi-emulator-fast`` engine: nengo-loihi's own model replayed in batched
integer arithmetic, bit-exact with its emulator (:mod:`.emulator`; the chip in
:mod:`.chip` and :mod:`.synapses`, the host in :mod:`.host` and :mod:`.host_ops`, how
the parts are found in nengo-loihi's build in :mod:`.wiring`, the reference run in
:mod:`.reference`)."""
