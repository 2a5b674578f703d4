"""Composition root, CLI and shell wrappers: the only layer that names concrete adapters."""
