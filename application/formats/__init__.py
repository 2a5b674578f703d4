"""Built-in formats, each registered under the entry-point group `hubship.formats` in pyproject.toml."""
