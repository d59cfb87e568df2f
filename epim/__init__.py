"""EPIM Search: design-space search for epitome-based PIM CNN accelerators.

The top-level package stays light: it imports neither torch, ray, sqlalchemy nor fastapi.
"""

from epim.errors import EpimError

__all__ = ["EpimError", "__version__"]
__version__ = "0.1.0"
