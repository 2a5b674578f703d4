"""Adapters: one package per technology they speak, each of small modules (one per port or responsibility).

Adapter packages never import each other (import-linter checks it); only entrypoints/container.py names them.
"""
