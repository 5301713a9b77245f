"""What every Loihi target shares: the checks a network must pass and the Loihi
settings of its Nengo build (:mod:`.planning`, :mod:`.build`), the core plan (a block
shape for every on-chip layer: :mod:`.core_mapping`, with :mod:`.core_plan` and
:mod:`.core_cuts`) and the one import of Intel's nxsdk (:mod:`.nxsdk`)."""
