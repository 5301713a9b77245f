"""From a user's Keras model to something that runs: the model rewritten into
runnable layers (:mod:`.fold`, :mod:`.fold_graph`, :mod:`.fold_weights`), the spike
encoder (:mod:`.spike_encoder`), the FrozenNetwork made from it (:mod:`.freeze`),
Keras models in and out (:mod:`.keras_model`) and the Nengo network every backend
builds from a FrozenNetwork (:mod:`.to_nengo`)."""
