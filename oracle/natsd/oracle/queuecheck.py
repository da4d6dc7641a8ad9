"""A queue checker in the vocabulary of Jepsen's: what became of every publish.

Writers publish distinct values and record each attempt's outcome as the
client saw it:

* ``ok``: a PubAck arrived (with the stream sequence it names);
* ``fail``: a definite refusal (an error reply, or the client never sent it:
  the connection was already gone);
* ``unknown``: the request may have reached the server but no answer came
  (timeout, connection lost while waiting).

After the fault, the whole stream is read back (sequence, value). The check
(``check``) sorts every value into Jepsen's queue-checker buckets:

* ``lost``: acknowledged but not read back, split per writer into
  ``prefix`` (before the writer's first surviving acknowledged value),
  ``middle`` (between two survivors) and ``postfix`` (after the last
  survivor; when none of a writer's acknowledged values survived, all of its
  losses are postfix: the tail after an empty surviving prefix);
* ``recovered``: ``unknown`` attempts that were read back (allowed);
* ``unknown``: ``unknown`` attempts not read back (allowed: never acknowledged);
* ``unexpected``: values read back that no writer attempted, or that were
  definitely refused (``fail``);
* ``duplicated``: values read back more than once.

Beyond Jepsen's queue checker, two checks on what was served:

* ``wrong``: an acknowledged value found at a sequence other than the one its
  PubAck named (the server served something else at the acknowledged seq);
* ``reordered``: a writer publishes one value at a time, so its acknowledged
  values must be stored in publish order.

The result is valid when nothing is lost, unexpected, duplicated, wrong or
reordered. Pure functions over plain data: the fault runner
(``natsd.oracle.killround``) produces the inputs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import msgspec

__all__ = ["Attempt", "Read", "QueueReport", "check", "merge"]


class Attempt(msgspec.Struct, frozen=True):
    writer: int
    index: int  # position in the writer's publish order
    value: str
    outcome: str  # "ok" | "fail" | "unknown"
    seq: int = 0  # the PubAck's sequence when outcome == "ok"


class Read(msgspec.Struct, frozen=True):
    seq: int
    value: str


class QueueReport(msgspec.Struct):
    attempted: int = 0
    acknowledged: int = 0
    failed: int = 0
    read: int = 0
    ok: int = 0  # acknowledged and read back at the acknowledged sequence
    lost_prefix: int = 0
    lost_middle: int = 0
    lost_postfix: int = 0
    recovered: int = 0
    unknown: int = 0
    unexpected: int = 0
    duplicated: int = 0
    wrong: int = 0
    reordered: int = 0
    examples: dict[str, list[str]] = msgspec.field(default_factory=dict)

    @property
    def lost(self) -> int:
        return self.lost_prefix + self.lost_middle + self.lost_postfix

    @property
    def valid(self) -> bool:
        return not (self.lost or self.unexpected or self.duplicated or self.wrong or self.reordered)

    def summary(self) -> str:
        return (
            f"attempted {self.attempted}, acknowledged {self.acknowledged}, read {self.read}, "
            f"ok {self.ok}, lost {self.lost} (prefix {self.lost_prefix}, middle {self.lost_middle}, "
            f"postfix {self.lost_postfix}), recovered {self.recovered}, unknown {self.unknown}, "
            f"unexpected {self.unexpected}, duplicated {self.duplicated}, wrong {self.wrong}, "
            f"reordered {self.reordered}: {'valid' if self.valid else 'INVALID'}"
        )


def _note(rep: QueueReport, bucket: str, what: str, limit: int = 5) -> None:
    lst = rep.examples.setdefault(bucket, [])
    if len(lst) < limit:
        lst.append(what)


def check(attempts: Iterable[Attempt], reads: Iterable[Read]) -> QueueReport:
    attempts = list(attempts)
    reads = list(reads)
    rep = QueueReport(attempted=len(attempts), read=len(reads))
    by_value = {a.value: a for a in attempts}
    counts = Counter(r.value for r in reads)
    seq_of: dict[str, int] = {}
    for r in reads:
        seq_of.setdefault(r.value, r.seq)
        a = by_value.get(r.value)
        if a is None or a.outcome == "fail":
            rep.unexpected += 1
            _note(rep, "unexpected", f"{r.value!r} at seq {r.seq}")
    for value, n in counts.items():
        if n > 1:
            rep.duplicated += n - 1
            _note(rep, "duplicated", f"{value!r} x{n}")

    writers: dict[int, list[Attempt]] = {}
    for a in attempts:
        if a.outcome == "ok":
            rep.acknowledged += 1
            writers.setdefault(a.writer, []).append(a)
        elif a.outcome == "fail":
            rep.failed += 1
        elif a.value in counts:
            rep.recovered += 1
        else:
            rep.unknown += 1

    for w, acked in sorted(writers.items()):
        acked.sort(key=lambda a: a.index)
        present = [a.value in counts for a in acked]
        survivors = [i for i, p in enumerate(present) if p]
        first = survivors[0] if survivors else len(acked)
        last = survivors[-1] if survivors else -1
        for i, a in enumerate(acked):
            if present[i]:
                got = seq_of[a.value]
                if got == a.seq:
                    rep.ok += 1
                else:
                    rep.wrong += 1
                    _note(rep, "wrong", f"writer {w} {a.value!r}: acked seq {a.seq}, found at {got}")
                continue
            if i > last:  # also every loss of a writer with no survivor
                rep.lost_postfix += 1
            elif i < first:
                rep.lost_prefix += 1
            else:
                rep.lost_middle += 1
            _note(rep, "lost", f"writer {w} {a.value!r} (acked seq {a.seq})")
        stored = [seq_of[a.value] for a in acked if a.value in seq_of]
        for x, y in zip(stored, stored[1:], strict=False):
            if y <= x:
                rep.reordered += 1
                _note(rep, "reordered", f"writer {w}: seq {y} after {x}")
    return rep


def merge(reports: Iterable[QueueReport]) -> QueueReport:
    """Sum of several rounds' reports (examples: the first few of each bucket)."""
    total = QueueReport()
    for rep in reports:
        for f in msgspec.structs.fields(QueueReport):
            if f.name == "examples":
                for k, v in rep.examples.items():
                    for what in v:
                        _note(total, k, what)
            else:
                setattr(total, f.name, getattr(total, f.name) + getattr(rep, f.name))
    return total
