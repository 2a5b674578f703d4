"""The streaming merge's parts: safetensors reading, the LoRA parts of an adapter, the merge plan, the tensor math
per variant and the shard writer. `hubship.adapters.torch.streaming_merger` puts them together."""
