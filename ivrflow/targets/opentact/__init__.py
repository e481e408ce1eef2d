"""The Opentact target: a SIP control app with call-flow XML, an outbound
voice profile and number leases (PLATFORMS.md §5, docs/platforms/opentact.md)."""

from .target import TARGET

__all__ = ["TARGET"]
