"""`python -m hubship` runs the CLI."""

from hubship.entrypoints.cli import main

main()
