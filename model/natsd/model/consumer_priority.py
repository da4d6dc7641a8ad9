"""Priority groups of pull consumers: the request checks and the overflow policy.

Mirrors server/consumer.go ``processNextMsgRequest`` (the checks of a request's
priority group, in Go's order) and ``nextWaiting`` (policy overflow: a request
with min_pending / min_ack_pending is passed over while neither threshold is
met). Pinned clients (Nats-Pin-Id, 423 statuses, CONSUMER.UNPIN) are not
modelled: the campaign sends no request to a pinned_client consumer that
would need them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["overflow_passes_over", "priority_refusal"]


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
