"""Keras models read as data, in pure Python (no TensorFlow is imported here): the
configuration parser (:mod:`.config`), each layer's fields and defaults
(:mod:`.layers`, :mod:`.fields`), output and weight shapes (:mod:`.shapes`), a model
configuration written from layer specs (:mod:`.specs`) and the checks of saved
``.h5``/``.keras`` files (:mod:`.files`)."""
