"""The consumer store's view of a consumer: delivered, ack floor, pending, redelivered.

Mirrors nats-server server/memstore.go ``consumerMemStore`` (``SetStarting``,
``UpdateDelivered``, ``UpdateAcks``, ``Reset``, ``Update``, ``HasState``).

Theory of operation: Go keeps a second copy of each consumer's state in its
consumer store, updated by different rules than the consumer's live fields
(for example a message that ran out of deliveries never reaches
``UpdateAcks``), and ConsumerInfo reports the ack floor, and once there is
state the delivered pair, from that copy. ``natsd.jetstream.consumer.Consumer``
feeds a ``StoreState`` the same calls so its info is Go's. Pure data, no IO.
For file streams this is the state
``natsd.jetstream._consumerpersist`` writes, as Go's consumerFileStore does.

Spec rules: consumer.info.delivered (the stored pair), consumer.ack.explicit
and consumer.ack.all (the reported floor).
"""

from __future__ import annotations

__all__ = ["StoreState"]


class StoreState:
    """Go consumerMemStore's state: what ConsumerInfo reports as delivered and ack floor.

    Go keeps a second copy of the consumer state in its consumer store, updated
    by ``UpdateDelivered``/``UpdateAcks`` (and overwritten by ``Update`` after a
    purge or a pending cleanup); ConsumerInfo reads the ack floor (and, once
    there is state, the delivered pair) from it, so its rules are reproduced here.
    """

    __slots__ = ("ack_none", "max_deliver", "dc", "ds", "ac", "as_", "pending", "rd")

    def __init__(self, ack_none: bool, max_deliver: int) -> None:
        self.ack_none = ack_none
        self.max_deliver = max_deliver
        self.dc = self.ds = self.ac = self.as_ = 0
        self.pending: dict[int, int] = {}
        self.rd: dict[int, int] = {}

    def has_state(self) -> bool:
        return self.dc != 0 or self.ds != 0

    def set_starting(self, sseq: int) -> None:
        self.ds = self.as_ = sseq

    def delivered(self, dseq: int, sseq: int, dc: int) -> None:
        if dc != 1 and self.ack_none:
            return
        if dseq <= self.ac:
            return
        if not self.ack_none:
            if sseq > self.ds:
                self.pending[sseq] = dseq
            self.dc = max(self.dc, dseq)
            self.ds = max(self.ds, sseq)
            if dc > 1:
                if self.max_deliver > 0 and dc > self.max_deliver:
                    self.pending.pop(sseq, None)
                if self.rd.get(sseq, 0) < dc - 1:
                    self.rd[sseq] = dc - 1
        else:
            if dseq > self.dc:
                self.dc = self.ac = dseq
            if sseq > self.ds:
                self.ds = self.as_ = sseq

    def acks(self, dseq: int, sseq: int, ack_all: bool) -> None:
        if self.ack_none:
            return
        self.rd.pop(sseq, None)
        if dseq <= self.ac or sseq not in self.pending:
            return
        if ack_all:
            self.ac, self.as_ = dseq, sseq
            for seq in [q for q in self.pending if q <= sseq]:
                del self.pending[seq]
                self.rd.pop(seq, None)
            return
        p = self.pending.pop(sseq, None)
        if p is not None and dseq > p > 0:
            dseq = p
        if not self.pending:
            self.ac, self.as_ = self.dc, self.ds
        elif dseq == self.ac + 1:
            self.ac, self.as_ = dseq, sseq
            if self.dc > dseq:
                for ss in range(sseq + 1, self.ds + 1):
                    p = self.pending.get(ss)
                    if p is not None:
                        if p > 0:
                            self.ac, self.as_ = p - 1, ss - 1
                        break

    def sync(self, c) -> None:
        """Go writeStoreState: the store takes the consumer's live state."""
        self.dc, self.ds, self.ac, self.as_ = c.dseq - 1, c.sseq - 1, c.adflr, c.asflr
        self.pending = {q: p[0] for q, p in c.pending.items()}
        self.rd = dict(c.rdc)
