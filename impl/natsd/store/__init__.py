"""Stream storage: the ``StreamStore`` interface and its implementations.

``natsd.store.base`` holds the interface, values, limits and errors;
``natsd.store.memstore`` the memory store. The file store (append-only
blocks, checksums, fsync policy, recovery) plugs in behind the same
interface.
"""

from .base import (
    ErrCorruptStreamState,
    ErrMaxBytes,
    ErrMaxMsgs,
    ErrMaxMsgsPerSubject,
    ErrMsgTooLarge,
    ErrSequenceMismatch,
    ErrStoreClosed,
    ErrStoreEOF,
    ErrStoreMsgNotFound,
    ErrStoreSnapshotInProgress,
    ErrTooManyResults,
    RemoveCallback,
    SimpleState,
    StoreError,
    StoreLimits,
    StoreMsg,
    StreamState,
    StreamStore,
    mem_store_msg_size,
)
from .memstore import MemStore

__all__ = [
    "StoreMsg",
    "StreamState",
    "SimpleState",
    "StoreLimits",
    "StreamStore",
    "MemStore",
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
