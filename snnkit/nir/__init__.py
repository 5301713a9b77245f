"""NIR (the Neuromorphic Intermediate Representation) out and in: a FrozenNetwork as a
``nir.NIRGraph`` (:mod:`.export`), a NIR file read safely (:mod:`.file`), a graph
checked (:mod:`.graph`) and turned into a FrozenNetwork (:mod:`.importer`)."""
