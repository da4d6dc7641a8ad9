"""The stream store interface: values, limits, errors and ``StreamStore``.

Mirrors nats-server server/store.go (``StreamStore``, ``StoreMsg``,
``StreamState``, ``SimpleState``, the ``Err*`` values). A stream core owns
one ``StreamStore`` and talks to nothing else for its messages; the memory
store (``natsd.store.memstore``) and the file store (a later issue) both sit
behind it.

Theory of operation
-------------------
A store holds messages keyed by sequence. Sequences only grow: ``store_msg``
takes ``last_seq + 1``; skips (``skip_msg``) consume sequences without a
message; removals leave interior gaps (``num_deleted``). ``first_seq`` is the
lowest live sequence, or ``last_seq + 1`` once the store is empty (a new store
is the exception: first 0, last 0). ``last_seq`` and ``last_ts`` survive every
removal and purge; ``truncate`` is the only call that moves them back.

Sans-IO: no clock, no timers, no threads. A call that needs the time takes
``now`` (int nanoseconds, Unix epoch). Expiry is driven from outside: the
shell arms one timer at ``next_expiry()`` and calls ``expire(now)`` when it
fires (and after ``update_config``). Timestamps are int ns; 0 is Go's zero
time.

Limits (``StoreLimits``) are applied by the store on every store call, as
Go's stores do: discard "old" evicts from the front, discard "new" raises
``ErrMaxMsgs``/``ErrMaxBytes``/``ErrMaxMsgsPerSubject``; the per-subject
limit evicts the subject's oldest message under both policies.

Removal hook: ``register_on_remove(cb)`` — ``cb(seq, subject)`` runs after
each single message the store removes (``remove_msg``, ``erase_msg``, limit
eviction, expiry), which is Go's ``StorageUpdateHandler`` call with
``md == -1``. Bulk removals (``purge``, ``purge_ex``, ``compact``,
``truncate``) return a count and do not call it: the stream updates its
consumers for those in one step, as Go's stream does. The callback must not
call back into the store's mutating methods.

Differences from Go's ``StreamStore`` interface, on purpose:

- ``ttl`` is in nanoseconds (Go passes whole seconds); ``ttl < 0`` means
  "never expires" and exempts the message from max_age, as Go's
  ``Nats-TTL: never``. The store does not parse ``Nats-TTL``; the stream
  does, and passes the value.
- EOF and not-found are exceptions (``ErrStoreEOF``, ``ErrStoreMsgNotFound``);
  where Go returns the last sequence alongside ``ErrStoreEOF``, read it from
  ``fast_state()``.
- Multi-filter calls take a list of filter subjects instead of a
  ``gsl.SimpleSublist``.
- ``peek_expired(now)`` is new: what ``expire(now)`` would remove, without
  removing it, for subject delete markers (Go does this inside
  ``expireMsgs`` with ``rmcb``/``pmsgcb``).

Left out of this interface (later issues, or not the store's job here):
consumer stores (``ConsumerStore``, ``AddConsumer``, ``RemoveConsumer``,
``Consumers``), ``Snapshot``, ``EncodedStreamState``/``SyncDeleted`` (RAFT
catch-up), ``SourcesState``/``ApplySourcesState`` (sources), message
scheduling and ``RegisterProcessJetStreamMsg``, ``RegisterStorageRemoveMsg``
(the stream drives subject delete markers through ``peek_expired``),
``RegisterStorageUpdates`` (account usage: diff ``fast_state()``),
``Utilization``, ``Ready``/recovering mode, ``ResetState``, and
``MultiLastMsgs`` (``multi_last_seqs`` + ``load_msg``).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from typing import ClassVar, Literal

import msgspec

__all__ = [
    "StoreMsg",
    "StreamState",
    "SimpleState",
    "StoreLimits",
    "StreamStore",
    "RemoveCallback",
    "StoreError",
    "ErrStoreClosed",
    "ErrStoreMsgNotFound",
    "ErrStoreEOF",
    "ErrMaxMsgs",
    "ErrMaxBytes",
    "ErrMaxMsgsPerSubject",
    "ErrStoreSnapshotInProgress",
    "ErrMsgTooLarge",
    "ErrSequenceMismatch",
    "ErrCorruptStreamState",
    "ErrTooManyResults",
    "mem_store_msg_size",
]


# --- values -------------------------------------------------------------------


class StoreMsg(msgspec.Struct, frozen=True, gc=False):
    """One stored message. ``hdr`` is None when the message has no headers."""

    subject: str
    hdr: bytes | None
    data: bytes
    seq: int
    ts: int  # ns


class StreamState(msgspec.Struct, frozen=True):
    """Go's StreamState minus what the stream fills in (consumer_count, subjects, lost).

    ``deleted`` is only computed when asked (``state(deleted=True)``).
    """

    msgs: int = 0
    bytes: int = 0
    first_seq: int = 0
    first_ts: int = 0  # ns, 0 = zero time
    last_seq: int = 0
    last_ts: int = 0
    num_subjects: int = 0
    num_deleted: int = 0
    deleted: list[int] | None = None


class SimpleState(msgspec.Struct, frozen=True):
    """Messages on a subject (or filter): count, first and last sequence (0 when none)."""

    msgs: int = 0
    first: int = 0
    last: int = 0


class StoreLimits(msgspec.Struct, frozen=True):
    """The stream config fields a store enforces. A value <= 0 means unlimited."""

    max_msgs: int = -1
    max_bytes: int = -1
    max_age: int = 0  # ns
    max_msgs_per_subject: int = -1
    discard: Literal["old", "new"] = "old"
    max_msg_size: int = -1
    discard_new_per_subject: bool = False


def mem_store_msg_size(subject: str, hdr: bytes | None, data: bytes) -> int:
    """Go memStoreMsgSize: subject + header + payload + 16 (seq and timestamp)."""
    return len(subject) + (len(hdr) if hdr else 0) + len(data) + 16


# --- errors (store.go; the texts are Go's exactly) -----------------------------


class StoreError(Exception):
    """A store refused or failed an operation. ``str(err)`` is Go's error text."""

    text: ClassVar[str] = "store error"

    def __init__(self, text: str | None = None) -> None:
        super().__init__(text or self.text)


class ErrStoreClosed(StoreError):
    """The store was stopped or deleted."""

    text = "store is closed"


class ErrStoreMsgNotFound(StoreError):
    """No message at a sequence within the stream's range (or none matches a filter)."""

    text = "no message found"


class ErrStoreEOF(StoreError):
    """The requested sequence is past the last one, or nothing matches from there on."""

    text = "stream store EOF"


class ErrMaxMsgs(StoreError):
    """Discard new: max_msgs reached."""

    text = "maximum messages exceeded"


class ErrMaxBytes(StoreError):
    """Discard new: max_bytes would be exceeded."""

    text = "maximum bytes exceeded"


class ErrMaxMsgsPerSubject(StoreError):
    """Discard new per subject: max_msgs_per_subject reached on the subject."""

    text = "maximum messages per subject exceeded"


class ErrStoreSnapshotInProgress(StoreError):
    text = "snapshot in progress"


class ErrMsgTooLarge(StoreError):
    """Header plus payload exceed max_msg_size."""

    text = "message too large"


class ErrSequenceMismatch(StoreError):
    """A raw store or skip named a sequence other than last_seq + 1."""

    text = "expected sequence does not match store"


class ErrCorruptStreamState(StoreError):
    text = "stream state snapshot is corrupt"


class ErrTooManyResults(StoreError):
    """``multi_last_seqs`` matched more than ``max_allowed`` subjects."""

    text = "too many matching results for request"


RemoveCallback = Callable[[int, str], None]


# --- the interface --------------------------------------------------------------


class StreamStore(abc.ABC):
    """What a stream needs from its storage. See the module docstring."""

    storage_type: ClassVar[str]  # "memory" | "file"

    # writes

    @abc.abstractmethod
    def store_msg(
        self, subject: str, hdr: bytes | None, data: bytes, ttl: int = 0, *, now: int
    ) -> tuple[int, int]:
        """Store at ``last_seq + 1`` with timestamp ``now``; apply limits. Returns (seq, ts)."""

    @abc.abstractmethod
    def store_raw_msg(
        self,
        subject: str,
        hdr: bytes | None,
        data: bytes,
        seq: int,
        ts: int,
        ttl: int = 0,
        *,
        discard_new_check: bool = False,
    ) -> None:
        """Store with a given sequence (must be ``last_seq + 1``; 0 = next) and timestamp."""

    @abc.abstractmethod
    def skip_msg(self, seq: int = 0, *, now: int, no_interest: bool = False) -> int:
        """Consume one sequence without a message. Returns it."""

    @abc.abstractmethod
    def skip_msgs(self, seq: int, num: int, *, now: int) -> None:
        """Consume ``num`` sequences starting at ``seq`` (must be ``last_seq + 1``; 0 = next)."""

    def flush_all_pending(self) -> None:
        """Write out anything buffered (a no-op for the memory store)."""
        return None

    # reads

    @abc.abstractmethod
    def load_msg(self, seq: int) -> StoreMsg:
        """The message at ``seq``: ErrStoreMsgNotFound (seq <= last) or ErrStoreEOF."""

    @abc.abstractmethod
    def load_next_msg(self, filter: str, wc: bool, start: int) -> tuple[StoreMsg, int]:
        """First message at or after ``start`` whose subject matches ``filter``.

        ``wc`` says the filter has wildcards (else it is compared literally);
        "" and ">" match everything. Returns (msg, its seq); ErrStoreEOF when none.
        """

    @abc.abstractmethod
    def load_next_msg_multi(self, filters: Sequence[str], start: int) -> tuple[StoreMsg, int]:
        """As ``load_next_msg`` for a message matching any of ``filters``."""

    @abc.abstractmethod
    def load_prev_msg(self, filter: str, wc: bool, start: int) -> tuple[StoreMsg, int]:
        """Last message at or before ``start`` matching ``filter``; ErrStoreEOF when none."""

    @abc.abstractmethod
    def load_prev_msg_multi(self, filters: Sequence[str], start: int) -> tuple[StoreMsg, int]:
        """As ``load_prev_msg`` for a message matching any of ``filters``."""

    @abc.abstractmethod
    def load_last_msg(self, subject: str) -> StoreMsg:
        """Last message on ``subject`` (may be a wildcard); ErrStoreMsgNotFound when none."""

    @abc.abstractmethod
    def subject_for_seq(self, seq: int) -> str:
        """The subject at ``seq``; ErrStoreMsgNotFound when none."""

    @abc.abstractmethod
    def get_seq_from_time(self, ts: int) -> int:
        """First sequence whose timestamp is >= ``ts`` (``last_seq + 1`` when none)."""

    # removal

    @abc.abstractmethod
    def remove_msg(self, seq: int) -> bool:
        """Remove one message; False when there is none at ``seq``."""

    def erase_msg(self, seq: int) -> bool:
        """Remove one message and overwrite its bytes (MSG.DELETE without no_erase)."""
        return self.remove_msg(seq)

    @abc.abstractmethod
    def purge(self) -> int:
        """Remove every message; first_seq becomes last_seq + 1. Returns the count."""

    @abc.abstractmethod
    def purge_ex(self, subject: str, seq: int, keep: int) -> int:
        """Go PurgeEx: messages matching ``subject`` below ``seq`` (0 = any), keeping the last ``keep``."""

    @abc.abstractmethod
    def compact(self, seq: int) -> int:
        """Remove everything below ``seq`` (past the end: the next store gets ``seq``)."""

    @abc.abstractmethod
    def truncate(self, seq: int, *, now: int = 0) -> None:
        """Remove everything above ``seq``; last_seq becomes ``seq`` (0 resets the store)."""

    @abc.abstractmethod
    def expire(self, now: int) -> int:
        """Remove messages past max_age or their TTL. Returns the count."""

    @abc.abstractmethod
    def peek_expired(self, now: int) -> list[StoreMsg]:
        """What ``expire(now)`` would remove, by sequence, without removing it."""

    @abc.abstractmethod
    def next_expiry(self) -> int | None:
        """When ``expire`` next has work (ns), or None: the shell's timer deadline."""

    # state

    @abc.abstractmethod
    def state(self, *, deleted: bool = False) -> StreamState:
        """The stream state; the interior deleted sequences only when ``deleted``."""

    @abc.abstractmethod
    def fast_state(self) -> StreamState:
        """``state()`` without the deleted list: O(1)."""

    @property
    def stored_bytes(self) -> int:
        """``fast_state().bytes`` (stores override it without building a state)."""
        return self.fast_state().bytes

    @abc.abstractmethod
    def filtered_state(self, seq: int, subject: str) -> SimpleState:
        """Messages at or after ``seq`` matching ``subject`` (wildcards allowed)."""

    @abc.abstractmethod
    def subjects_state(self, filter: str) -> dict[str, SimpleState]:
        """Per-subject state for every subject matching ``filter``."""

    @abc.abstractmethod
    def subjects_totals(self, filter: str) -> dict[str, int]:
        """Message count per subject matching ``filter``."""

    @abc.abstractmethod
    def num_pending(self, start: int, filter: str, last_per_subject: bool) -> tuple[int, int]:
        """Matching messages at or after ``start`` (subjects, if ``last_per_subject``).

        Returns (count, valid_through) where valid_through is the last sequence.
        """

    @abc.abstractmethod
    def num_pending_multi(
        self, start: int, filters: Sequence[str], last_per_subject: bool
    ) -> tuple[int, int]:
        """As ``num_pending`` for messages matching any of ``filters``."""

    @abc.abstractmethod
    def all_last_seqs(self) -> list[int]:
        """The last sequence of every subject, sorted."""

    @abc.abstractmethod
    def multi_last_seqs(self, filters: Sequence[str], max_seq: int = 0, max_allowed: int = 0) -> list[int]:
        """Sorted last sequences (at or below ``max_seq``; 0 = last) of subjects matching ``filters``.

        ErrTooManyResults when more than ``max_allowed`` (if > 0).
        """

    # lifecycle

    @abc.abstractmethod
    def update_config(self, limits: StoreLimits) -> None:
        """New limits; applies the count, byte and per-subject limits now (max_age: see expire)."""

    @abc.abstractmethod
    def register_on_remove(self, cb: RemoveCallback | None) -> None:
        """Set the hook called with (seq, subject) after each single-message removal."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Close the store; later calls raise ErrStoreClosed (``state`` still answers)."""

    def delete(self) -> None:
        """Stop and remove the stored data (the same as ``stop`` for the memory store)."""
        self.stop()
