"""Speaks llama.cpp: its converter scripts, quantization and GGUF loading through llama-cpp-python."""
