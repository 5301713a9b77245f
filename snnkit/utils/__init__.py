"""Helpers every layer uses: argument checks (:mod:`.validation`), atomic files and
snnkit's ``.npz`` container (:mod:`.files`), HDF5 storage checks (:mod:`.hdf5`), the
one door to the heavy stack (:mod:`.stack`), lazy public names (:mod:`.lazy`),
plain-text tables and the machine record. Nothing here knows what a network is."""
