"""Adapters: one module per technology and port. They never import each other."""
