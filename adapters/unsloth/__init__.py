"""Speaks Unsloth: merges through FastLanguageModel on an NVIDIA GPU."""
