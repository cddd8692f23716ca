"""A read-only dict for the mappings that frozen result dataclasses hand out.

Tables read once per process (the catalog, the device table) are cached, so a mapping handed
out from them is the cache's own: a caller that changed it would change every later answer.
``types.MappingProxyType`` forbids that, but it cannot be hashed, pickled or deep-copied, so a
dataclass holding one breaks ``hash()``, ``pickle`` (and with it spawn-based multiprocessing)
and ``dataclasses.asdict``. A dict subclass that refuses every change keeps all of those, and
``json.dumps`` writes it as the object it is.

A JSON-like value a result hands back (a chat message) is frozen all the way down: its dicts
become FrozenDicts and its lists FrozenLists, a list subclass of the same kind, so that it
still equals the list it was made from and passes a caller's ``isinstance(content, list)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NoReturn, TypeVar

Key = TypeVar("Key")
Value = TypeVar("Value")


class FrozenDict(dict[Key, Value]):
    """A dict that cannot be changed after it is made; hashable when its values are."""

    def __init__(self, items: Mapping[Key, Value] | Iterable[tuple[Key, Value]] = (), /) -> None:
        super().__init__(items)

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(f"{type(self).__name__} is read-only; copy it with dict() to change it")

    __setitem__ = __delitem__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse
    __ior__ = _refuse  # type: ignore[assignment]

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))

    def __reduce__(self) -> tuple[type[FrozenDict[Key, Value]], tuple[dict[Key, Value]]]:
        # dict's own reduction refills the copy item by item, which this class refuses.
        return type(self), (dict(self),)

    def __copy__(self) -> FrozenDict[Key, Value]:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> FrozenDict[Key, Value]:
        from copy import deepcopy

        return type(self)(deepcopy(dict(self), memo))

    def __repr__(self) -> str:
        return dict.__repr__(self)


class FrozenList(list[Value]):
    """A list that cannot be changed after it is made; hashable when its items are."""

    def __init__(self, items: Iterable[Value] = (), /) -> None:
        super().__init__(items)

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(f"{type(self).__name__} is read-only; copy it with list() to change it")

    __setitem__ = __delitem__ = _refuse
    append = extend = insert = pop = remove = clear = sort = reverse = _refuse
    __iadd__ = __imul__ = _refuse  # type: ignore[assignment]

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(self))

    def __reduce__(self) -> tuple[type[FrozenList[Value]], tuple[list[Value]]]:
        # list's own reduction refills the copy item by item, which this class refuses.
        return type(self), (list(self),)

    def __copy__(self) -> FrozenList[Value]:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> FrozenList[Value]:
        from copy import deepcopy

        return type(self)(deepcopy(list(self), memo))

    def __repr__(self) -> str:
        return list.__repr__(self)


def deep_frozen(value: Any) -> Any:
    """``value`` with every dict in it a :class:`FrozenDict` and every list a
    :class:`FrozenList`, all the way down: a JSON-like value (a chat message) that a frozen
    dataclass can hold, hash and hand out without a caller's change reaching it, and that
    equals, and writes as JSON as, the value it was made from."""
    if isinstance(value, Mapping):
        return FrozenDict((key, deep_frozen(item)) for key, item in value.items())
    if isinstance(value, list):
        return FrozenList(deep_frozen(item) for item in value)
    if isinstance(value, tuple):
        return tuple(deep_frozen(item) for item in value)
    return value
