"""Name -> implementation registries that import their targets lazily.

Entries carry their description and metadata, so `clbench list` never imports torch. An entry
may have aliases (older or alternative names): they resolve to the entry, whose `name` is the
canonical one that configs and records carry.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from clbench.errors import unknown


@dataclass(frozen=True)
class Entry:
    name: str
    target: str  # "package.module:attribute"
    description: str
    meta: dict[str, Any] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    def load(self) -> Any:
        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module), attr)


class Registry:
    """A mapping from names to lazily imported objects."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._entries: dict[str, Entry] = {}
        self._aliases: dict[str, str] = {}  # alias -> canonical name

    def add(
        self, name: str, target: str, description: str, aliases: tuple[str, ...] = (), **meta: Any
    ) -> None:
        for n in (name, *aliases):
            if n in self._entries or n in self._aliases:
                raise ValueError(f"{self.what} '{n}' is registered twice")
        self._entries[name] = Entry(name, target, description, meta, tuple(aliases))
        self._aliases.update({a: name for a in aliases})

    def get(self, name: str) -> Entry:
        """The entry named `name` or one of its aliases."""
        try:
            return self._entries[self._aliases.get(name, name)]
        except KeyError:
            raise unknown(self.what, name, [*self._entries, *self._aliases]) from None

    def load(self, name: str) -> Any:
        return self.get(name).load()

    def remove(self, name: str) -> None:
        entry = self._entries.pop(name, None)
        for a in entry.aliases if entry else ():
            self._aliases.pop(a, None)

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self._aliases

    def __iter__(self) -> Iterator[Entry]:
        return iter(sorted(self._entries.values(), key=lambda e: e.name))
