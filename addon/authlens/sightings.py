"""Which cache entries are worth keeping: those whose content comes back.

A cache entry that is never asked for again still lives until its cache is cleared,
long enough for the garbage collector to promote it, and each promoted object brings
its full collections sooner. Live, many entries are made for one flow only (evidence or
a text naming that flow or a time): the caches keep an entry from its second sighting.
"""

from __future__ import annotations


class Sightings:
    """A bounded set of int keys (hashes, ids): the collector does not track ints."""

    __slots__ = ("_cap", "_seen")

    def __init__(self, cap: int) -> None:
        self._cap = cap
        self._seen: set[int] = set()

    def seen_before(self, key: int) -> bool:
        """Whether ``key`` was offered before; remembers it if not (crude bound: cleared
        when full, traffic soon refills it)."""
        if key in self._seen:
            return True
        if len(self._seen) >= self._cap:
            self._seen.clear()
        self._seen.add(key)
        return False

    def clear(self) -> None:
        self._seen.clear()

    def __len__(self) -> int:
        return len(self._seen)
