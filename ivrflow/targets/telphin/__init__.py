"""Telphin's voice menus (seed 003, PLATFORMS.md §1): an extension of type
ivr, a context per menu, options per key and ordered rules."""

from .target import TARGET

__all__ = ["TARGET"]
