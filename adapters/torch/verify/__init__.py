"""The verifier's parts: the probe, the block-by-block weight streaming, peft's reference model and the metrics.
`hubship.adapters.torch.logits_verifier` puts them together."""
