"""The from-scratch NumPy core: imports nothing but numpy, scipy and the standard library."""

from nnfs.core import activations, gradcheck, init, losses, optimizers, precision, schedules
from nnfs.core.model import MLP

__all__ = ["MLP", "activations", "gradcheck", "init", "losses", "optimizers", "precision",
           "schedules"]
