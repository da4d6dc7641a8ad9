"""SeqList: an append-mostly sorted set of sequence numbers.

The stores keep one for the whole stream (the live sequences, in order) and
one per subject. Sequences are appended in increasing order (a store never
inserts below its last sequence; truncation removes the tail first), and
removed from anywhere: from the front by limits and age, from the middle by
acks and deletes, from the back by truncation.

Theory of operation: the values live in chunks (sorted lists of at most
``LOAD`` ints) with ``_maxes[i] == _chunks[i][-1]``, like sortedcontainers'
SortedList without its positional index. Append touches the last chunk, a
lookup bisects ``_maxes`` then one chunk, a removal deletes inside one chunk
(a memmove of at most ``LOAD`` pointers) and merges a chunk that got small
into a neighbour. So append is O(1), lookups are O(log n), removal is
O(log n + LOAD), and ``count_ge`` is O(log n + number of chunks).

Gaps are implicit: a store's interior deletes are exactly the sequences
between its first and last that are not in the list (``gaps``).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator

__all__ = ["SeqList"]

LOAD = 512  # max ints per chunk


class SeqList:
    __slots__ = ("_chunks", "_maxes", "_len")

    def __init__(self) -> None:
        self._chunks: list[list[int]] = []
        self._maxes: list[int] = []
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def __bool__(self) -> bool:
        return self._len > 0

    def __iter__(self) -> Iterator[int]:
        for c in self._chunks:
            yield from c

    def __repr__(self) -> str:
        return f"SeqList({list(self)!r})"

    @property
    def first(self) -> int:
        return self._chunks[0][0]

    @property
    def last(self) -> int:
        return self._maxes[-1]

    def clear(self) -> None:
        self._chunks.clear()
        self._maxes.clear()
        self._len = 0

    def append(self, seq: int) -> None:
        """Add ``seq``, which must be greater than every value present."""
        maxes = self._maxes
        if maxes and seq <= maxes[-1]:
            raise ValueError(f"SeqList.append({seq}) not above last {maxes[-1]}")
        chunks = self._chunks
        if chunks and len(chunks[-1]) < LOAD:
            chunks[-1].append(seq)
            maxes[-1] = seq
        else:
            chunks.append([seq])
            maxes.append(seq)
        self._len += 1

    def __contains__(self, seq: int) -> bool:
        ci = bisect_left(self._maxes, seq)
        if ci == len(self._maxes):
            return False
        c = self._chunks[ci]
        return c[bisect_left(c, seq)] == seq

    def remove(self, seq: int) -> bool:
        """Remove ``seq``; False when it is not present."""
        maxes = self._maxes
        ci = bisect_left(maxes, seq)
        if ci == len(maxes):
            return False
        c = self._chunks[ci]
        i = bisect_left(c, seq)
        if c[i] != seq:
            return False
        del c[i]
        self._len -= 1
        if not c:
            del self._chunks[ci]
            del maxes[ci]
            return True
        if i == len(c):
            maxes[ci] = c[-1]
        if len(c) < LOAD // 4:
            self._merge(ci)
        return True

    def _merge(self, ci: int) -> None:
        """Fold a small chunk into a neighbour when both fit in one chunk."""
        chunks = self._chunks
        c = chunks[ci]
        if ci + 1 < len(chunks) and len(c) + len(chunks[ci + 1]) <= LOAD:
            c.extend(chunks[ci + 1])
            self._maxes[ci] = c[-1]
            del chunks[ci + 1]
            del self._maxes[ci + 1]
        elif ci > 0 and len(c) + len(chunks[ci - 1]) <= LOAD:
            chunks[ci - 1].extend(c)
            self._maxes[ci - 1] = self._maxes[ci]
            del chunks[ci]
            del self._maxes[ci]

    def next_ge(self, seq: int) -> int | None:
        """Smallest value >= ``seq``, or None."""
        ci = bisect_left(self._maxes, seq)
        if ci == len(self._maxes):
            return None
        c = self._chunks[ci]
        return c[bisect_left(c, seq)]

    def prev_le(self, seq: int) -> int | None:
        """Largest value <= ``seq``, or None."""
        maxes = self._maxes
        ci = bisect_left(maxes, seq)
        if ci < len(maxes):
            c = self._chunks[ci]
            i = bisect_right(c, seq)
            if i:
                return c[i - 1]
        if ci == 0:
            return None
        return maxes[ci - 1]

    def count_ge(self, seq: int) -> int:
        """How many values are >= ``seq``."""
        maxes = self._maxes
        ci = bisect_left(maxes, seq)
        n = len(maxes)
        if ci == n:
            return 0
        chunks = self._chunks
        c = chunks[ci]
        if n - ci <= ci:
            return len(c) - bisect_left(c, seq) + sum(len(chunks[j]) for j in range(ci + 1, n))
        return self._len - sum(len(chunks[j]) for j in range(ci)) - bisect_left(c, seq)

    def iter_from(self, seq: int) -> Iterator[int]:
        """Values >= ``seq``, ascending. Do not mutate the list while iterating."""
        ci = bisect_left(self._maxes, seq)
        chunks = self._chunks
        if ci == len(chunks):
            return
        c = chunks[ci]
        yield from c[bisect_left(c, seq) :]
        for j in range(ci + 1, len(chunks)):
            yield from chunks[j]

    def iter_down_from(self, seq: int) -> Iterator[int]:
        """Values <= ``seq``, descending. Do not mutate the list while iterating."""
        chunks = self._chunks
        ci = min(bisect_left(self._maxes, seq), len(chunks) - 1)
        if ci < 0:
            return
        c = chunks[ci]
        yield from reversed(c[: bisect_right(c, seq)])
        for j in range(ci - 1, -1, -1):
            yield from reversed(chunks[j])

    def bisect_key(self, value: int, key: Callable[[int], int]) -> int | None:
        """First element ``e`` with ``key(e) >= value``, assuming ``key`` is monotone."""
        chunks = self._chunks
        lo, hi = 0, len(chunks)
        while lo < hi:  # first chunk whose last element reaches value
            mid = (lo + hi) // 2
            if key(chunks[mid][-1]) < value:
                lo = mid + 1
            else:
                hi = mid
        if lo == len(chunks):
            return None
        c = chunks[lo]
        return c[bisect_left(c, value, key=key)]

    def gaps(self, lo: int, hi: int) -> Iterator[int]:
        """Integers in ``[lo, hi]`` that are not in the list, ascending."""
        nxt = lo
        for v in self.iter_from(lo):
            if v > hi:
                break
            yield from range(nxt, v)
            nxt = v + 1
        yield from range(nxt, hi + 1)
