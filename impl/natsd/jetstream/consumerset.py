"""The consumers of one stream: stream hooks, interest and workqueue retention.

Mirrors the consumer side of nats-server server/stream.go: the consumer map
(``mset.consumers``), ``ackMsg`` / ``noInterest`` / ``checkForInterest``
(removing a message nobody needs any more), ``purgeLocked``'s consumer loop,
and server/consumer.go ``cleanupNoInterestMessages`` (a deleted consumer of an
interest stream) and ``decStreamPending`` (a message removed from the stream).

Theory of operation: ``StreamConsumers`` installs itself in the stream's
hooks (``on_stored``, ``on_purged``, ``interest``) and the store's removal
callback. Store removals are only recorded (the callback must not re-enter the
store); ``settle(now)`` applies them to the consumers and then applies the
acknowledgements the consumers reported (``Consumer.acked``) to an interest
or workqueue stream, until nothing changes. Sans-IO: the hooks carry no time,
so ``clock`` (injected by the shell) supplies ``now`` to them; ``notify`` tells
the shell that consumers have output to publish.

Spec rules: consumer.retention.interest_ack, consumer.retention.interest_delete,
consumer.retention.workqueue_ack, consumer.stream_purge,
consumer.stream_removed_pending.
"""

from __future__ import annotations

from collections.abc import Callable

from natsd.jetstream.consumer import Consumer, OutMsg
from natsd.store.base import StoreError
from natsd.subjects.validate import subject_matches_filter

__all__ = ["StreamConsumers"]


class StreamConsumers:
    """The consumers of one stream, and the stream hooks that feed them.

    Go keeps this in the stream (``mset.consumers``, ``ackMsg``, ``noInterest``,
    ``purgeLocked``'s consumer loop, ``cleanupNoInterestMessages``). Stream
    events arrive through the stream's hooks (``on_stored``, ``on_purged``,
    ``interest``) and the store's removal callback; the store callback only
    records the removal (it must not re-enter the store) and ``settle(now)``
    applies it. ``clock`` supplies ``now`` to the hooks, which carry none.
    Acknowledgements that may free a message on an interest or workqueue stream
    are collected from the consumers and applied in ``settle``.
    """

    def __init__(self, stream, clock: Callable[[], int]) -> None:
        self.stream = stream
        self.clock = clock
        self.consumers: dict[str, Consumer] = {}
        self.removed: list[tuple[int, str]] = []
        self.notify: Callable[[], None] | None = None  # called after a hook produced outputs
        # natsd.jetstream._consumerpersist.ConsumerFiles of a file stream (set by the service), else None
        self.files = None
        stream.on_stored = self._on_stored
        stream.on_purged = self._on_purged
        stream.interest = self.interest
        stream.store.register_on_remove(self._on_remove)

    def __len__(self) -> int:
        return len(self.consumers)

    def add(self, c: Consumer) -> None:
        self.consumers[c.name] = c
        self.stream.consumer_count = len(self.consumers)

    def remove(self, name: str, now: int) -> Consumer | None:
        """Go stopWithFlags + cleanupNoInterestMessages for a deleted consumer."""
        c = self.consumers.pop(name, None)
        self.stream.consumer_count = len(self.consumers)
        if c is None:
            return None
        c.stop()
        if self.stream.config.retention == "interest":
            self.cleanup_no_interest(c.asflr)
        self.settle(now)
        return c

    def cleanup_no_interest(self, start: int) -> None:
        store = self.stream.store
        if not self.consumers:
            store.purge()  # Go: mset.store.Purge(), no deny_purge check
            return
        st = store.fast_state()
        seq = max(start, st.first_seq)
        drop = []
        while seq <= st.last_seq:
            try:
                sm, seq = store.load_next_msg("", False, seq)
            except StoreError:
                break
            if not any(o.need_ack(seq, sm.subject) for o in self.consumers.values()):
                drop.append(seq)
            seq += 1
        for seq in drop:
            store.remove_msg(seq)

    def interest(self, subject: str) -> bool:
        # Go: the signal sublist (mset.csl) has interest in the subject
        return any(c.signalled(subject) for c in self.consumers.values())

    # -- hooks --------------------------------------------------------------------------
    def _on_remove(self, seq: int, subject: str) -> None:
        self.removed.append((seq, subject))

    def _on_stored(self, seq: int, subject: str) -> None:
        now = self.clock()
        self._apply_removed(now)
        for c in list(self.consumers.values()):
            c.on_stored(seq, subject, now)
        self.settle(now)
        if self.notify is not None:
            self.notify()

    def _on_purged(self, ev) -> None:
        now = self.clock()
        self.removed.clear()  # bulk removal: the purge below accounts for it
        st = self.stream.store.fast_state()
        if ev.purged:
            # Go's store callback of a purge (a single filtered removal is reported
            # as one message there; natsd counts afresh for it too)
            for c in list(self.consumers.values()):
                c.on_purge_count(st.first_seq)
        for c in list(self.consumers.values()):
            # Go purgeLocked: a filtered purge purges a consumer one of whose filters
            # lies within the purged subject (isEqualOrSubsetMatch); a consumer
            # without filters, or whose filters the purged subject only touches, is wider
            if not ev.filter or any(subject_matches_filter(f, ev.filter) for f in c.filters):
                first = ev.filtered_first if ev.filter else ev.first_seq
                c.on_purged(first, ev.last_seq, now)
            elif c.matches(ev.filter) or any(subject_matches_filter(ev.filter, f) for f in c.filters):
                c.on_purged_wider(st.first_seq, now)
        self.settle(now)
        if self.notify is not None:
            self.notify()

    def _apply_removed(self, now: int) -> None:
        while self.removed:
            batch, self.removed = self.removed, []
            for seq, subject in batch:
                for c in list(self.consumers.values()):
                    c.on_removed(seq, subject, now)

    def settle(self, now: int) -> None:
        """Apply recorded removals and retention acks until nothing changes (Go ackMsg)."""
        retention = self.stream.config.retention
        while True:
            self._apply_removed(now)
            acked: list[int] = []
            for c in self.consumers.values():
                if c.acked:
                    acked.extend(c.acked)
                    c.acked.clear()
            if not acked or retention == "limits":
                if not self.removed:
                    return
                continue
            store = self.stream.store
            for seq in acked:
                st = store.fast_state()
                if seq < st.first_seq or seq > st.last_seq:
                    continue
                try:
                    subject = store.subject_for_seq(seq)
                except StoreError:
                    continue
                if not any(c.need_ack(seq, subject) for c in self.consumers.values()):
                    store.remove_msg(seq)

    def tick(self, now: int) -> list[Consumer]:
        """Timers of every consumer; returns the ones inactivity deleted (already removed)."""
        gone = []
        for c in list(self.consumers.values()):
            if c.on_timer(now):
                gone.append(c)
        for c in gone:
            self.remove(c.name, now)
        self.settle(now)
        return gone

    def outputs(self) -> list[OutMsg]:
        out: list[OutMsg] = []
        for c in self.consumers.values():
            if c.outbox:
                out.extend(c.drain())
        return out
