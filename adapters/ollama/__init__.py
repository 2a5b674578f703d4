"""Speaks Ollama: the ollama: registry through the official client, and Go text/template renders of TEMPLATEs."""
