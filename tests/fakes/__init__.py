"""Fakes implementing hubship's ports, named Fake<Port>, for unit tests through the container."""
