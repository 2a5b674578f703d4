"""Use cases (one per module) and the format registry. Talks to ports only."""
