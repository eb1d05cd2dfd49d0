"""One registry style for everything built by name (attacks, estimators, architectures,
surrogates, encoders, datasets): ``REGISTRY.register(name)(obj)`` and ``REGISTRY.make(name, ...)``.

A registry is a read-only mapping ``name -> builder``; unknown names and bad parameters
are a ``ValueError`` naming the argument (``"attack: unknown name 'pdg'; expected one of ..."``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class Registry(Mapping, Generic[T]):
    """Builders by name; ``argument`` is the parameter name used in error messages."""

    def __init__(self, argument: str) -> None:
        self.argument = argument
        self._items: dict[str, T] = {}
        self._aliases: dict[str, str] = {}

    def register(self, name: str, *, aliases: tuple[str, ...] = ()) -> Callable[[T], T]:
        """Decorator (or call ``register(name)(obj)``) adding ``obj`` under ``name`` and ``aliases``."""

        def add(obj: T) -> T:
            for key in (name, *aliases):
                if key in self._items or key in self._aliases:
                    raise ValueError(f"{self.argument}: {key!r} is registered twice")
            self._items[name] = obj
            for alias in aliases:
                self._aliases[alias] = name
            return obj

        return add

    def unregister(self, name: str) -> None:
        """Remove ``name`` and its aliases (a temporary registration, e.g. in a test)."""
        self._items.pop(self.canonical(name))
        self._aliases = {a: n for a, n in self._aliases.items() if n != name}

    def canonical(self, name: Any) -> str:
        """The registered name for ``name`` (an alias resolves to its target)."""
        if isinstance(name, str):
            if name in self._items:
                return name
            if name in self._aliases:
                return self._aliases[name]
        raise ValueError(f"{self.argument}: unknown name {name!r}; expected one of {', '.join(self.names())}")

    def get_builder(self, name: Any) -> T:
        return self._items[self.canonical(name)]

    def make(self, name: Any, *args: Any, **params: Any) -> Any:
        """``builder(*args, **params)``; a builder's ``TypeError`` (an unknown or missing parameter)
        becomes a ``ValueError`` naming the argument."""
        key = self.canonical(name)
        try:
            return self._items[key](*args, **params)
        except TypeError as exc:
            raise ValueError(f"{self.argument}: bad parameters for {key}: {exc}") from exc

    def names(self) -> list[str]:
        """Registered names and aliases, sorted."""
        return sorted([*self._items, *self._aliases])

    # Mapping: aliases are looked up, iteration gives every accepted name
    def __getitem__(self, name: str) -> T:
        key = self._aliases.get(name, name)
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        yield from self._items
        yield from self._aliases

    def __len__(self) -> int:
        return len(self._items) + len(self._aliases)

    def __repr__(self) -> str:
        return f"Registry({self.argument!r}, {self.names()})"
