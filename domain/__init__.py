"""Pure model of hubship: checkpoints, formats, artifacts, the publish plan, manifests, cards, errors."""
