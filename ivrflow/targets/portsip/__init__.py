"""PortSIP PBX virtual receptionists (seeds/001, PLATFORMS.md §2)."""

from .target import TARGET

__all__ = ["TARGET"]
