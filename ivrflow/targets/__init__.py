"""Targets: what each platform can express, and how to talk to it."""
