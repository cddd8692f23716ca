"""shoal: which model, how many tokens, what it costs, and whether it runs here."""

from shoal._backend import BACKEND

__version__ = "0.1.0"

__all__ = ["BACKEND", "__version__"]
