"""Sublist: subscriptions indexed by subject tokens, with a match cache.

Mirrors nats-server sublist.go (``Sublist.Insert``, ``Match``, ``Remove``,
``addToCache``/``removeFromCache``). Theory of operation:

- A trie of levels keyed by token; each node has plain subscriptions and
  queue subscriptions grouped by queue name. ``*`` and ``>`` have their own
  slots on a level, so a match walks at most three branches per token.
- ``match(subject)`` returns a ``SublistResult`` (plain subs, queue groups).
  Results for literal subjects are cached (at most ``CACHE_MAX`` entries).
- Insert/remove invalidates exactly the cached subjects the changed
  subscription can match (rule routing.cache.invalidate), and bumps
  ``genid`` so that callers holding derived caches can drop them.
"""

from __future__ import annotations

from .validate import tokens_match

__all__ = ["Subscription", "Sublist", "SublistResult", "InvalidSubjectError", "CACHE_MAX"]

CACHE_MAX = 1024  # Go slCacheMax
CACHE_SWEEP = 256  # Go slCacheSweep: entries kept after a sweep


class InvalidSubjectError(ValueError):
    """The subject cannot be inserted (empty token, ``>`` not last)."""


class Subscription:
    """One client subscription. ``client`` is opaque to the sublist."""

    __slots__ = ("client", "subject", "queue", "sid", "max", "nm", "closed")

    def __init__(self, client: object, subject: str, queue: str | None, sid: bytes) -> None:
        self.client = client
        self.subject = subject
        self.queue = queue
        self.sid = sid
        self.max = 0  # auto-unsubscribe after this many deliveries (0 = none)
        self.nm = 0  # messages delivered
        self.closed = False

    def __repr__(self) -> str:
        q = f" {self.queue}" if self.queue else ""
        return f"<sub {self.subject}{q} sid={self.sid!r}>"


class SublistResult:
    """Plain subscriptions, and one list per matching queue group."""

    __slots__ = ("psubs", "qsubs")

    def __init__(self, psubs: list[Subscription], qsubs: list[list[Subscription]]) -> None:
        self.psubs = psubs
        self.qsubs = qsubs

    def __bool__(self) -> bool:
        return bool(self.psubs or self.qsubs)


class _Node:
    __slots__ = ("next", "psubs", "qsubs")

    def __init__(self) -> None:
        self.next: _Level | None = None
        self.psubs: dict[Subscription, None] = {}  # insertion ordered set
        self.qsubs: dict[str, dict[Subscription, None]] = {}

    def is_empty(self) -> bool:
        return not self.psubs and not self.qsubs and (self.next is None or self.next.is_empty())


class _Level:
    __slots__ = ("nodes", "pwc", "fwc")

    def __init__(self) -> None:
        self.nodes: dict[str, _Node] = {}
        self.pwc: _Node | None = None
        self.fwc: _Node | None = None

    def is_empty(self) -> bool:
        return not self.nodes and self.pwc is None and self.fwc is None


def _tokens(subject: str) -> list[str]:
    toks = subject.split(".")
    fwc = False
    for t in toks:
        if not t or fwc:
            raise InvalidSubjectError(subject)
        if t == ">":
            fwc = True
    return toks


class Sublist:
    def __init__(self) -> None:
        self._root = _Level()
        self._cache: dict[str, SublistResult] = {}
        self.count = 0
        self.genid = 0
        # statistics for /subsz
        self.inserts = 0
        self.removes = 0
        self.matches = 0
        self.cache_hits = 0

    # -- mutation ---------------------------------------------------------
    def insert(self, sub: Subscription) -> None:
        toks = _tokens(sub.subject)
        level = self._root
        node: _Node | None = None
        for t in toks:
            if t == "*":
                node = level.pwc
                if node is None:
                    node = level.pwc = _Node()
            elif t == ">":
                node = level.fwc
                if node is None:
                    node = level.fwc = _Node()
            else:
                node = level.nodes.get(t)
                if node is None:
                    node = level.nodes[t] = _Node()
            if node.next is None:
                node.next = _Level()
            level = node.next
        assert node is not None
        if sub.queue is None:
            node.psubs[sub] = None
        else:
            node.qsubs.setdefault(sub.queue, {})[sub] = None
        self.count += 1
        self.inserts += 1
        self._invalidate(sub.subject)

    def remove(self, sub: Subscription) -> bool:
        """Remove ``sub``; returns False when it was not present."""
        try:
            toks = _tokens(sub.subject)
        except InvalidSubjectError:
            return False
        path: list[tuple[_Level, str, _Node]] = []
        level = self._root
        node: _Node | None = None
        for t in toks:
            if level is None:
                return False
            if t == "*":
                node = level.pwc
            elif t == ">":
                node = level.fwc
            else:
                node = level.nodes.get(t)
            if node is None:
                return False
            path.append((level, t, node))
            level = node.next
        assert node is not None
        if sub.queue is None:
            if node.psubs.pop(sub, False) is not None:
                return False
        else:
            group = node.qsubs.get(sub.queue)
            if group is None or group.pop(sub, False) is not None:
                return False
            if not group:
                del node.qsubs[sub.queue]
        # prune empty nodes bottom-up
        for lvl, t, n in reversed(path):
            if not n.is_empty():
                break
            if t == "*":
                lvl.pwc = None
            elif t == ">":
                lvl.fwc = None
            else:
                del lvl.nodes[t]
        self.count -= 1
        self.removes += 1
        self._invalidate(sub.subject)
        return True

    def _invalidate(self, subject: str) -> None:
        # rule routing.cache.invalidate: drop exactly the cached subjects this
        # subscription can match, so no cached result is stale.
        self.genid += 1
        cache = self._cache
        if not cache:
            return
        if "*" not in subject and ">" not in subject:
            cache.pop(subject, None)
            return
        pattern = subject.split(".")
        for key in [k for k in cache if tokens_match(k.split("."), pattern)]:
            del cache[key]

    # -- lookup -----------------------------------------------------------
    def match(self, subject: str, cache_result: bool = True) -> SublistResult:
        """``cache_result=False`` for subjects that will not come again (ack
        subjects, reply inboxes): they would only push useful entries out."""
        self.matches += 1
        r = self._cache.get(subject)
        if r is not None:
            self.cache_hits += 1
            return r
        psubs: list[Subscription] = []
        qgroups: dict[str, list[Subscription]] = {}
        toks = subject.split(".")
        if all(toks):
            _match_level(self._root, toks, 0, psubs, qgroups)
        r = SublistResult(psubs, list(qgroups.values()))
        if not cache_result:
            return r
        cache = self._cache
        cache[subject] = r
        if len(cache) > CACHE_MAX:
            for key in list(cache)[: len(cache) - CACHE_SWEEP]:
                del cache[key]
        return r

    def match_wild_tail(self, head: list[str], n: int) -> SublistResult | None:
        """The result every ``n``-token subject starting with the tokens ``head``
        gets, or None when some subscription has a literal token past ``head``
        (then such subjects may match differently). Tokens must be non-empty.

        Ack subjects ($JS.ACK.<stream>.<consumer>.<numbers>) are unique, but a
        consumer's ack subscription ends in wildcards: one walk serves them all.
        """
        psubs: list[Subscription] = []
        qgroups: dict[str, list[Subscription]] = {}
        if not _match_wild_tail(self._root, head, n, 0, psubs, qgroups):
            return None
        return SublistResult(psubs, list(qgroups.values()))

    def has_interest(self, subject: str) -> bool:
        return bool(self.match(subject))

    @property
    def cache_count(self) -> int:
        return len(self._cache)

    def all_subs(self) -> list[Subscription]:
        out: list[Subscription] = []
        _collect(self._root, out)
        return out


def _add_node(node: _Node, psubs: list[Subscription], qgroups: dict[str, list[Subscription]]) -> None:
    psubs.extend(node.psubs)
    for q, members in node.qsubs.items():
        grp = qgroups.get(q)
        if grp is None:
            qgroups[q] = list(members)
        else:
            grp.extend(members)


def _match_level(level: _Level, toks: list[str], i: int, psubs, qgroups) -> None:
    n = len(toks)
    while i < n:
        fwc = level.fwc
        if fwc is not None:
            _add_node(fwc, psubs, qgroups)
        pwc = level.pwc
        if pwc is not None:
            if i == n - 1:
                _add_node(pwc, psubs, qgroups)
            elif pwc.next is not None:
                _match_level(pwc.next, toks, i + 1, psubs, qgroups)
        node = level.nodes.get(toks[i])
        if node is None:
            return
        if i == n - 1:
            _add_node(node, psubs, qgroups)
            return
        if node.next is None:
            return
        level = node.next
        i += 1


def _match_wild_tail(level: _Level, head: list[str], n: int, i: int, psubs, qgroups) -> bool:
    # _match_level for a subject whose tokens past ``head`` are unknown: only
    # wildcards may match there; False when a literal token could.
    while i < n:
        fwc = level.fwc
        if fwc is not None:
            _add_node(fwc, psubs, qgroups)
        pwc = level.pwc
        if pwc is not None:
            if i == n - 1:
                _add_node(pwc, psubs, qgroups)
            elif pwc.next is not None and not _match_wild_tail(pwc.next, head, n, i + 1, psubs, qgroups):
                return False
        if i >= len(head):
            return not level.nodes
        node = level.nodes.get(head[i])
        if node is None:
            return True
        if i == n - 1:
            _add_node(node, psubs, qgroups)
            return True
        if node.next is None:
            return True
        level = node.next
        i += 1
    return True


def _collect(level: _Level, out: list[Subscription]) -> None:
    nodes = list(level.nodes.values())
    if level.pwc is not None:
        nodes.append(level.pwc)
    if level.fwc is not None:
        nodes.append(level.fwc)
    for node in nodes:
        out.extend(node.psubs)
        for members in node.qsubs.values():
            out.extend(members)
        if node.next is not None:
            _collect(node.next, out)
