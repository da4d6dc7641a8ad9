#!/usr/bin/env python3
"""File store append throughput (in process, real disk): natsd.store.filestore.FileStore.

    python bench/filestore.py [--msgs N] [--size BYTES] [--batch K] [--dir DIR]

Appends N messages of SIZE bytes with store_msg and, under group commit, calls
sync() after every K appends (what the shell does once per event-loop turn
before it sends PubAcks). Prints appends/s for: group commit, group commit with
s2 (lz4) compression, with aes and chachapoly encryption, sync_always (a
tenth of N), and the memory store for scale; then the time to reopen the
group-commit store. Each figure is the best of three runs. The directory
(default: a temporary one next to the working tree, so on the same disk) is
removed at the end. Go's file store has no in-process equivalent; compare
JetStream publish rates over the wire with bench/jetstream.py.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

from natsd.store.filestore import FileStore, FileStoreOptions
from natsd.store.memstore import MemStore


def run(store_factory, n: int, size: int, batch: int, sync: bool) -> float:
    data = os.urandom(size)
    store = store_factory()
    t = time.perf_counter()
    for i in range(n):
        store.store_msg("orders.new", None, data, now=i)
        if sync and i % batch == batch - 1:
            store.sync()
    if sync:
        store.sync()
    elapsed = time.perf_counter() - t
    store.stop()
    return n / elapsed


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--msgs", type=int, default=100_000)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--dir", default=None)
    args = ap.parse_args()
    base = tempfile.mkdtemp(prefix="natsd-bench-fs-", dir=args.dir or os.path.join(os.path.dirname(__file__), ".."))
    try:
        counter = iter(range(10**6))

        def fresh(**opts):
            return lambda: FileStore(os.path.join(base, f"s{next(counter)}"), options=FileStoreOptions(**opts))

        cases = [
            ("group commit", fresh(), args.msgs, True),
            ("group commit + s2", fresh(compression="s2"), args.msgs, True),
            ("group commit + aes", fresh(cipher="aes", key=b"bench-key"), args.msgs, True),
            ("group commit + chachapoly", fresh(cipher="chachapoly", key=b"bench-key"), args.msgs, True),
            ("sync_always", fresh(sync="always"), max(1, args.msgs // 10), False),
            ("memstore (no disk)", MemStore, args.msgs, False),
        ]
        print(f"{args.msgs:,} x {args.size} B messages, sync every {args.batch} (group commit)")
        for label, factory, n, sync in cases:
            best = max(run(factory, n, args.size, args.batch, sync) for _ in range(3))
            print(f"  {label:28s} {best:>12,.0f} appends/s")
        path = os.path.join(base, "reopen")
        store = FileStore(path)
        data = os.urandom(args.size)
        for i in range(args.msgs):
            store.store_msg("orders.new", None, data, now=i)
        store.stop()
        t = time.perf_counter()
        again = FileStore(path)
        print(f"  reopen of {again.fast_state().msgs:,} messages: {time.perf_counter() - t:.2f} s")
        again.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
