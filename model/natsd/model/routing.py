"""Reference model of subject routing: who receives a published message.

The plainest statement of the semantics in spec/routing.toml, written to be
read, not to be fast: a list of subscriptions in the order they were made,
every pattern matched against the published subject token by token, queue
groups formed by name, auto-unsubscribe counters. No index, no cache.

It mirrors the observable behaviour of the Go server's server/sublist.go
(``isValidSubject``, ``Insert``, ``Match``, ``Remove``) and client.go
(``processSub``, ``processUnsub``, ``deliverMsg``, ``closeConnection``).

Theory of operation
-------------------
State: the open connections (small integers chosen by the caller) and the
subscriptions, each ``(conn, sid, subject, queue, max, delivered)``. Only the
four methods ``connect``, ``disconnect``, ``subscribe``, ``unsubscribe`` and
``publish`` change it.

Which member of a queue group receives a message is not determined by the
semantics (the Go server picks at random), so ``publish`` takes a ``choose``
function that picks the member; the oracle passes one that adopts the
implementation's pick after checking it is a member. That pick matters for the
future too: the chosen member's delivery count moves towards its
auto-unsubscribe limit.

Coverage: every method records in ``covered`` the spec rule ids its call
exercised, so a campaign can report which rules it reached.

This module imports nothing from the implementation: it must not reuse what it
checks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["INVALID_SUBJECT", "Delivery", "Subscription", "RoutingModel", "first_member"]

#: The -ERR text for a SUB whose subject is not a valid pattern.
INVALID_SUBJECT = "Invalid Subject"

#: One delivered message: (conn, sid, subject, reply, payload).
Delivery = tuple[int, str, str, str | None, str]


@dataclass
class Subscription:
    conn: int
    sid: str
    subject: str
    queue: str | None
    max: int = 0  # 0: no auto-unsubscribe limit
    delivered: int = 0


Chooser = Callable[[str, list[Subscription]], Subscription]


def first_member(queue: str, members: list[Subscription]) -> Subscription:
    """A chooser that always picks the oldest member (for tests and replays)."""
    return members[0]


def _valid_pattern(subject: str) -> bool:
    """routing.subject.tokens: tokens split on '.', none empty, '>' only last."""
    tokens = subject.split(".")
    for i, token in enumerate(tokens):
        if token == "":
            return False
        if token == ">" and i != len(tokens) - 1:
            return False
    return True


def _matches(pattern: str, subject: str) -> bool:
    """routing.match, routing.pub.literal: does ``pattern`` match the published ``subject``?

    '*' matches exactly one token, '>' one or more trailing tokens, any other
    pattern token only the same token. The subject's tokens are all literal (a
    '*' in a published subject is just the token '*'), and a subject with an
    empty token matches nothing.
    """
    pattern_tokens = pattern.split(".")
    subject_tokens = subject.split(".")
    if "" in subject_tokens:
        return False
    for i, p in enumerate(pattern_tokens):
        if p == ">":
            return len(subject_tokens) > i
        if i >= len(subject_tokens):
            return False
        if p != "*" and p != subject_tokens[i]:
            return False
    return len(pattern_tokens) == len(subject_tokens)


class RoutingModel:
    """Subscriptions of every connection of one server, and who gets a message."""

    def __init__(self) -> None:
        self.connections: set[int] = set()
        self.subs: list[Subscription] = []
        self.covered: set[str] = set()
        self._published: set[str] = set()  # subjects published so far (cache coverage only)
        self._ever_subscribed = False

    # -- queries -------------------------------------------------------------

    def sids(self) -> dict[int, frozenset[str]]:
        """The sids each connection holds (connections holding none are left out)."""
        out: dict[int, set[str]] = {}
        for s in self.subs:
            out.setdefault(s.conn, set()).add(s.sid)
        return {conn: frozenset(sids) for conn, sids in out.items()}

    def find(self, conn: int, sid: str) -> Subscription | None:
        for s in self.subs:
            if s.conn == conn and s.sid == sid:
                return s
        return None

    def snapshot(self) -> tuple:
        """The whole state as a value (two models in the same state compare equal)."""
        return (
            tuple(sorted(self.connections)),
            tuple((s.conn, s.sid, s.subject, s.queue or "", s.max, s.delivered) for s in self.subs),
        )

    # -- connections ---------------------------------------------------------

    def connect(self, conn: int) -> None:
        """Open ``conn``; an open one is closed first (routing.close.removes_subs)."""
        if conn in self.connections:
            self.disconnect(conn)
        self.connections.add(conn)

    def disconnect(self, conn: int) -> None:
        """routing.close.removes_subs: closing a connection removes all its subscriptions."""
        if conn not in self.connections:
            return
        mine = [s for s in self.subs if s.conn == conn]
        if mine:
            self.covered.add("routing.close.removes_subs")
        for s in mine:
            self._remove(s)
        self.connections.discard(conn)

    # -- subscriptions -------------------------------------------------------

    def subscribe(self, conn: int, subject: str, queue: str | None, sid: str) -> str | None:
        """SUB: returns the -ERR text, or None.

        routing.sid.unique: a sid already in use on the connection makes the SUB a
        no-op (checked before the subject). routing.subject.tokens: an invalid
        pattern gets 'Invalid Subject' and subscribes nothing.
        """
        if self.find(conn, sid) is not None:
            self.covered.add("routing.sid.unique")
            return None
        self.covered.add("routing.subject.tokens")
        if not _valid_pattern(subject):
            return INVALID_SUBJECT
        sub = Subscription(conn, sid, subject, queue)
        self.subs.append(sub)
        self._ever_subscribed = True
        self._note_change(sub)
        return None

    def unsubscribe(self, conn: int, sid: str, max_msgs: int | None = None) -> None:
        """UNSUB sid [max].

        routing.unsub.remove: without max (or with a max not above the messages
        already delivered to it) the subscription goes at once; an unknown sid is
        ignored. routing.unsub.max: otherwise it stays until it has received
        ``max`` messages in total.
        """
        self.covered.add("routing.unsub.remove")
        sub = self.find(conn, sid)
        if sub is None:
            return
        if max_msgs is not None and max_msgs > sub.delivered:
            sub.max = max_msgs
            self.covered.add("routing.unsub.max")
        else:
            self._remove(sub)

    # -- publishing ----------------------------------------------------------

    def publish(
        self,
        conn: int,
        subject: str,
        reply: str | None,
        payload: str,
        choose: Chooser = first_member,
    ) -> list[Delivery]:
        """PUB: the deliveries, one per receiving subscription.

        routing.match: every subscription whose pattern matches the subject.
        routing.pub.literal: the subject's tokens are literal; an empty token
        matches nothing. routing.queue.one_per_group: plain subscriptions each
        get a copy; of each queue group (all matching subscriptions with that
        queue name, whatever their pattern) exactly one member gets one.
        routing.unsub.max: a subscription that reaches its limit is removed.
        """
        self.covered.add("routing.match")
        if any(t in ("", "*", ">") for t in subject.split(".")):
            self.covered.add("routing.pub.literal")
        self._published.add(subject)
        receivers: list[Subscription] = []
        groups: dict[str, list[Subscription]] = {}
        for s in self.subs:
            if not _matches(s.subject, subject):
                continue
            if s.queue is None:
                receivers.append(s)
            else:
                groups.setdefault(s.queue, []).append(s)
        for queue, members in groups.items():
            self.covered.add("routing.queue.one_per_group")
            receivers.append(choose(queue, members))
        deliveries: list[Delivery] = []
        for s in receivers:
            deliveries.append((s.conn, s.sid, subject, reply, payload))
            s.delivered += 1
            if s.max and s.delivered >= s.max:
                self.covered.add("routing.unsub.max")
                self._remove(s)
        return deliveries

    # -- internals -----------------------------------------------------------

    def _remove(self, sub: Subscription) -> None:
        self.subs.remove(sub)
        self._note_change(sub)
        if not self.subs and self._ever_subscribed:
            self.covered.add("routing.remove.prune")

    def _note_change(self, sub: Subscription) -> None:
        # routing.cache.invalidate is exercised when a change alters the result
        # for a subject that was already published (and so may be cached).
        if any(_matches(sub.subject, p) for p in self._published):
            self.covered.add("routing.cache.invalidate")
