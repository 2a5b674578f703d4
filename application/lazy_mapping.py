"""A read-only mapping whose values are made on first access, so adapters a run never uses are never imported."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any


class LazyMapping(Mapping[str, Any]):
    def __init__(self, factories: Mapping[str, Callable[[], Any]]) -> None:
        self._factories = dict(factories)
        self._made: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        if key not in self._made:
            self._made[key] = self._factories[key]()
        return self._made[key]

    def made(self, key: str) -> bool:
        """Whether `key`'s value was made (its adapter imported) by an earlier access."""
        return key in self._made

    def __iter__(self) -> Iterator[str]:
        return iter(self._factories)

    def __len__(self) -> int:
        return len(self._factories)
