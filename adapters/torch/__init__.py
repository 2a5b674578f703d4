"""Speaks PyTorch with transformers, peft, safetensors and bitsandbytes: checkpoints, bases, merges, logits."""
