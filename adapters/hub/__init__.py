"""Speaks to the Hugging Face Hub through huggingface_hub: the hf: registry (one commit per repo) and model cards."""
