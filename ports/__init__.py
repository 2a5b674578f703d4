"""Ports: what the application needs from the world, one typing.Protocol per module."""
