"""Every error snnkit raises on purpose.

One root, :class:`SnnkitError`; each subclass also inherits the builtin that fits, so
``except ValueError`` keeps working for callers who do not know snnkit. Messages name
the argument, what was expected and what was received.
"""


class SnnkitError(Exception):
    """Root of all snnkit errors."""


class ValidationError(SnnkitError, ValueError):
    """An argument has the wrong value, shape, dtype or name."""


class UnknownNameError(SnnkitError, KeyError):
    """A name (layer, backend, neuron type, metric) that does not exist.

    ``KeyError`` quotes its message in ``str()``; this subclass does not, so the
    message reads as written.
    """

    def __str__(self):
        return str(self.args[0]) if self.args else ""


class FrozenNetworkFileError(SnnkitError, ValueError):
    """A file that is not a readable snnkit FrozenNetwork (truncated, corrupt, newer)."""


class BackendUnavailable(SnnkitError, RuntimeError):
    """The backend cannot run on this machine (missing SDK or hardware)."""


class BackendCapabilityError(SnnkitError, ValueError):
    """The backend cannot run this network or option (e.g. a presentation mode)."""


class ConversionError(SnnkitError, ValueError):
    """A Keras model that snnkit cannot turn into a native Nengo network."""


class LoihiMappingError(SnnkitError, ValueError):
    """A layer that does not fit Loihi's per-core limits, or nothing is on chip."""


class BlockShapeDoesNotFit(LoihiMappingError):
    """A user-given block shape exceeds a per-core limit."""


class NothingOnChipError(LoihiMappingError):
    """The network has no layer to put on the chip."""


class CheckpointError(SnnkitError, ValueError):
    """A checkpoint that does not belong to this model or cannot be read."""


class CalibrationError(SnnkitError, RuntimeError):
    """Calibration did not bring every layer within tolerance (with ``strict=True``)."""


class NIRError(SnnkitError, ValueError):
    """A network NIR cannot express, or a NIR graph or file snnkit cannot read."""


class StaleNIRMetadata(NIRError):
    """snnkit's metadata in a NIR graph no longer describes the graph.

    The graph was edited by another tool; the importer then reads the graph alone.
    """


class BackendRegistryError(SnnkitError, ValueError):
    """A backend that cannot be registered.

    Not a Backend, no name or description, or its name is taken.
    """


class BackendContractError(SnnkitError, TypeError):
    """A backend implementation returned something the backend contract does not allow.

    E.g. ``simulate`` without a ``RunSummary``.
    """


class UnknownOptionError(SnnkitError, TypeError):
    """A keyword argument that the function or backend does not take.

    Also a ``TypeError``, which Python raises for unknown keywords.
    """


class UnsupportedFeatureError(SnnkitError, NotImplementedError):
    """A model feature the fast Loihi emulator cannot reproduce bit-exactly.

    Raised at construction (never at run time after silently differing), with a
    message naming the feature, where it was found, and what is supported instead.
    Use ``nengo_loihi.Simulator(net, target="sim")`` for such models.

    Parameters
    ----------
    feature : str
        The feature.
    where : str
        Where it was found.
    supported : str
        What is supported instead.

    Attributes
    ----------
    feature : str
        The feature.
    """

    def __init__(self, feature, where, supported):
        self.feature = feature
        super().__init__(
            f"loihi-emulator-fast does not support {feature} (found in {where}); "
            f"supported: {supported}. Use nengo_loihi.Simulator(..., target='sim') "
            "for this model."
        )


class DeclarationError(SnnkitError, ValueError):
    """The command line's declaration holds something the parser builder cannot build.

    The declaration is ``snnkit/cli/commands.toml``. Such an error is a mistake in
    snnkit itself, found by its tests, never by a user's input.
    """


class SnnkitWarning(UserWarning):
    """Root of the warnings snnkit issues on purpose."""


class CalibrationWarning(SnnkitWarning):
    """Calibration ended without every layer within tolerance of its target."""


class NIRMeaningWarning(SnnkitWarning):
    """A NIR graph read one way where it could mean another (spike amplitude, time
    step, readout), or snnkit's metadata in it disagreeing with the graph (the graph
    wins). The message says which reading was chosen and how to choose another."""


def shown(value, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters, for error messages.

    A refused value read from a file may be megabytes long.
    """
    return shortened(repr(value), limit)


def shortened(text: str, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters, ``...`` marking the cut."""
    return text if len(text) <= limit else text[:limit - 3] + "..."
