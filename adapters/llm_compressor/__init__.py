"""llm-compressor (vLLM's compressed-tensors quantizer), run as a subprocess in an environment of its own."""
