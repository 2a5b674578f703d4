"""Format name -> builder, filled from the entry-point group `hubship.formats`.

An entry point names a class (or any callable) that returns one FormatBuilder or an iterable of
them (a family such as GGUF quantizations). Installing a package that registers one is all it
takes to add a format.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from importlib.metadata import entry_points
from typing import Any

import attrs

from hubship.application.format_builder import FormatBuilder
from hubship.domain.errors import PublishError, UserInputError
from hubship.domain.formats import FORMAT_ALIASES, Format, parse_format_list
from hubship.domain.probe import probe_tokens

ENTRY_POINT_GROUP = "hubship.formats"
ALIASES = FORMAT_ALIASES  # model-16bit, model-4bit (domain/formats.py)


def _as_builders(made: FormatBuilder | Iterable[FormatBuilder]) -> list[FormatBuilder]:
    return [made] if hasattr(made, "format") else list(made)  # type: ignore[arg-type]


class FormatRegistry:
    def __init__(self, builders: Iterable[FormatBuilder]) -> None:
        self._builders: dict[str, FormatBuilder] = {}
        for builder in builders:
            self._builders[builder.format.name] = builder

    @classmethod
    def from_entry_points(cls, group: str = ENTRY_POINT_GROUP) -> FormatRegistry:
        builders: list[FormatBuilder] = []
        for ep in sorted(entry_points(group=group), key=lambda e: e.name):
            try:
                factory: Callable[[], FormatBuilder | Iterable[FormatBuilder]] = ep.load()
                builders += _as_builders(factory())
            except Exception as exc:  # a broken plugin must not take the tool down silently
                raise PublishError(f"format plugin {ep.name!r} ({ep.value}) failed to load: {exc}") from exc
        return cls(builders)

    @property
    def names(self) -> tuple[str, ...]:
        """The formats a user may request (internal ones are built only as inputs of others)."""
        return tuple(sorted(n for n, b in self._builders.items() if not b.format.internal))

    @property
    def formats(self) -> Mapping[str, Format]:
        """Every format, internal ones included (the plan needs them to expand the DAG)."""
        return {name: b.format for name, b in self._builders.items()}

    def formats_for(self, options: Mapping[str, Any]) -> Mapping[str, Format]:
        """Every format as it is built under `options`: a builder that defines `inputs_for(options)` is built
        from those formats instead of its `format.builds_from` (e.g. a GGUF quantization and the imatrix); one that
        defines `readback_for(options)` says so for `format.readback` (merged-16bit, but not with --merge-onto)."""
        found = {}
        for name, builder in self._builders.items():
            inputs_for = getattr(builder, "inputs_for", None)
            found[name] = builder.format if inputs_for is None else attrs.evolve(builder.format, builds_from=tuple(inputs_for(options)))
            readback_for = getattr(builder, "readback_for", None)
            if readback_for is not None:
                found[name] = attrs.evolve(found[name], readback=bool(readback_for(options)))
        return found

    def with_probe(self, options: Mapping[str, Any], requested: tuple[str, ...]) -> dict[str, Any]:
        """`options` with `probe_tokens`, the reference's length for a plan of `requested` (domain/probe.py)."""
        return {**options, "probe_tokens": probe_tokens(requested, self.formats_for(options))}

    def get(self, name: str) -> FormatBuilder:
        try:
            return self._builders[name]
        except KeyError:
            raise UserInputError(f"unknown format {name!r}; valid formats: {', '.join(self.names)}") from None

    def parse(self, values: list[str] | tuple[str, ...]) -> tuple[str, ...]:
        return parse_format_list(values, self.names, ALIASES)
