"""Speaks the local file system: the dir: registry, the workspace, file hashing and copying tokenizer files."""
