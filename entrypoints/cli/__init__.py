"""The `hubship` command: parse, call one use case, render. Errors are one line on stderr.

Exit codes: 0 ok, 1 failure, 2 bad input or usage, 3 quality gate failed.

`app.py` holds the typer app and `main` (the console script `hubship.entrypoints.cli:main`);
`options.py` the options the commands share; one module per command family: `inspect.py`,
`publish.py` (plan and publish), `verify.py`, `demo.py`.
"""

from __future__ import annotations

from hubship.entrypoints.cli.app import EXIT_CODES, app, main

__all__ = ["EXIT_CODES", "app", "main"]
