"""The one error the fast Loihi emulator raises for what it cannot reproduce exactly."""


class UnsupportedFeatureError(NotImplementedError):
    """A model feature the fast emulator cannot reproduce bit-exactly.

    Raised at construction (never at run time after silently differing), with a
    message naming the feature, where it was found, and what is supported instead.
    Use ``nengo_loihi.Simulator(net, target="sim")`` for such models.
    """

    def __init__(self, feature, where, supported):
        self.feature = feature
        super().__init__(
            f"loihi-emulator-fast does not support {feature} (found in {where}); "
            f"supported: {supported}. Use nengo_loihi.Simulator(..., target='sim') "
            "for this model."
        )
