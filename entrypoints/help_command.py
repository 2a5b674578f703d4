"""How every command's `--help` reads: arguments by their metavar (`CHECKPOINT`, not `{checkpoint}` or
`CHECKPOINT <path>`), and an epilog of examples kept as written (click rewraps other paragraphs)."""

from __future__ import annotations

from typing import Any

from typer.core import TyperCommand

EXIT_CODES = "Exit codes: 0 ok, 1 failure, 2 bad input or usage, 3 quality gate failed."


def epilog(*examples: str) -> str:
    """The epilog of a command: its examples, one per line, then the exit codes."""
    lines = "\n".join(f"  {e}" for e in examples)
    return f"\b\nExamples:\n{lines}\n\n{EXIT_CODES}"


class HelpCommand(TyperCommand):
    """A typer command whose usage line and argument list name each argument by its metavar only."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if param.param_type_name == "argument":
                param.display_type_rich = lambda ctx=None: None  # type: ignore[method-assign]

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.params:
            if param.param_type_name == "argument":
                name = param.metavar or (param.name or "").upper()
                pieces.append(name if param.required else f"[{name}]")
        return pieces
