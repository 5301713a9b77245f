"""Training a Keras model for spiking hardware: the
:class:`~snnkit.training.trainer.Trainer` (fit through nengo-dl, callbacks, checkpoints
and resume), firing-rate regularization and calibration, the recipes (the best
procedures found), and training through time steps with Loihi's timing
(:mod:`snnkit.training.unrolled`, :mod:`snnkit.training.time_training`)."""
