"""Every module here registers its routes on import."""

from . import control, customers

__all__ = ["control", "customers"]
