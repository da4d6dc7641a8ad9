"""Priority groups of pull consumers: the request checks and the overflow policy.

Mirrors server/consumer.go ``processNextMsgRequest`` (the checks of a request's
priority group, in Go's order) and ``nextWaiting`` (policy overflow: a request
with min_pending / min_ack_pending is passed over while neither threshold is
met), and policy pinned_client (``processNextMsgRequest``'s pin id check,
``nextWaiting``'s pin assignment, ``setPinnedTimer``, ``unassignPinId``).

Pinned clients: the consumer holds at most one pin id (``Consumer.pin_id``;
the model names them P1, P2, ... where Go draws a random nuid, and the
harnesses mask both alike). The first request that gets a message while no
pin is held claims a new one; its messages carry ``Nats-Pin-Id``. While a pin
is held, a new request with another id is refused (423 Nats-Pin-Id mismatch),
one without an id is passed over, and a queued one holding a stale id is
dropped (423 Nats-Wrong-Pin-Id). A request with the pin id restarts the pin's
priority_timeout; when that runs out, or on CONSUMER.UNPIN, the pin is released.
"""

from __future__ import annotations

from typing import Any

__all__ = ["overflow_passes_over", "pin_refusal", "pinned_passes_over", "priority_refusal"]


def priority_refusal(cfg: dict, group: dict | None) -> tuple[str | None, list[str]]:
    """The status a request's priority group gets (None: accepted) and the
    spec rules the check went through. ``group`` is the JSON request (None for
    a plain batch size: Go then has no priority group)."""
    if group is None:
        return None, []
    policy = cfg["priority_policy"]
    min_pending, min_ack = group.get("min_pending") or 0, group.get("min_ack_pending") or 0
    rules: list[str] = []
    if (min_pending or min_ack) and policy != "overflow":
        return "400 Bad Request - Not a Overflow Priority consumer", ["consumer.priority.overflow"]
    if group.get("id") and policy != "pinned_client":
        return "400 Bad Request - Not a Pinned Client Priority consumer", ["consumer.priority.pinned_id_other_policy"]
    priority = group.get("priority") or 0
    if priority < 0 or priority > 9:
        return "400 Bad Request - Priority must be between 0 and 9", ["consumer.priority.prioritized"]
    if policy != "none":
        rules.append("consumer.priority.group_required")
        name = group.get("group") or ""
        if not name:
            return "400 Bad Request - Priority Group missing", rules
        if name not in (cfg["priority_groups"] or []):
            return "400 Bad Request - Invalid Priority Group", rules
        if policy == "prioritized":
            rules.append("consumer.priority.prioritized")
    return None, rules


def overflow_passes_over(cfg: dict, wr: Any, npc: int, num_ack_pending: int) -> bool:
    """Go ``nextWaiting`` with policy overflow: the request waits while neither
    min_pending (against the running num_pending before this message was
    taken, Go's ``o.npc+1``) nor min_ack_pending is reached."""
    if cfg["priority_policy"] != "overflow" or not (wr.min_pending > 0 or wr.min_ack_pending > 0):
        return False
    met = ((wr.min_pending > 0 and wr.min_pending <= npc + 1)
           or (wr.min_ack_pending > 0 and wr.min_ack_pending <= num_ack_pending))
    return not met


def pin_refusal(o: Any, group: dict | None, now: int) -> str | None:
    """Go ``processNextMsgRequest`` with a pin held and a priority policy (a
    consumer updated to policy none skips this check, its pin held or not):
    the pin's own id restarts its timer (``setPinnedTimer``), another id is refused."""
    if group is None or o.cfg["priority_policy"] == "none" or not o.pin_id:
        return None
    pid = group.get("id") or ""
    if pid == o.pin_id:
        o.pin_ttl = now + o.cfg["priority_timeout"]
    elif pid:
        return "423 Nats-Pin-Id mismatch"
    return None


def pinned_passes_over(o: Any, wr: Any) -> str:
    """Go ``nextWaiting`` for one waiting request: "" (serve it), "assign"
    (policy pinned_client and no pin held: it claims a new one), "wrong" (it
    holds a stale id: 423 Nats-Wrong-Pin-Id) or "cycle" (another pin is held).
    A pin held is honoured whatever the policy: Go's updateConfig leaves
    ``currentPinId`` alone, so a consumer updated from pinned_client to none
    keeps passing over requests without the id until the pin is released (its
    timer; CONSUMER.UNPIN only where the new config still names the group)."""
    if not o.pin_id:
        if o.cfg["priority_policy"] != "pinned_client":
            return ""
        return "wrong" if wr.pin else "assign"
    if wr.pin == o.pin_id:
        return ""
    return "wrong" if wr.pin else "cycle"
