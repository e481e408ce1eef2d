"""The iotcomms mediaservice (seeds/002, PLATFORMS.md §3): the flow runs in
the runtime server, which answers the platform's callbacks."""

from .target import TARGET

__all__ = ["TARGET"]
