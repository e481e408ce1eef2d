"""PortSIP PBX virtual receptionists (seeds/001, PLATFORMS.md §2)."""
