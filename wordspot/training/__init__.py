"""Training: the run folder, the stages and their schedules, losses and pairs."""

from wordspot._lazy import forward

__getattr__ = forward(__name__, "run")
