"""JetStream's part of /healthz on a standalone server.

Mirrors nats-server server/monitor.go ``healthz`` (the ``cc == nil`` branch):
every stream directory on disk must belong to a stream the server recovered
('could not be recovered' otherwise) whose store has no write error, and the
``account``/``stream``/``consumer`` query names must exist (404). Go scans the
store directory, so only file streams count, as here. Spec rules:
operations.monitor.healthz.jetstream, operations.monitor.healthz.recovery.

natsd addition: a file stream whose recovery cut a torn or corrupt tail (or
dropped damaged blocks, ``FileStore.recovery_report()``) is still healthy, as
Go's (whose file store also truncates and carries on), but /healthz then
carries ``"recovery": [{account, stream, blocks, frames_lost_bytes, ...}]`` next
to ``status`` until the next restart, so an operator can see that data was
lost. The field is absent otherwise, so a clean server's answer is Go's.
"""

from __future__ import annotations

import os

from natsd.jetstream import persist

__all__ = ["check"]

GLOBAL = "$G"


def _error(errors: list, kind: str, text: str, **names: str) -> None:
    errors.append({"type": kind, **{k: v for k, v in names.items() if v}, "error": text})


def _losses(js) -> list[dict]:
    out = []
    for name in sorted(js.streams):
        store = js.streams[name].stream.store
        report = getattr(store, "recovery_report", None)
        if report is None:
            continue
        r = report()
        if r.clean:
            continue
        out.append({"account": GLOBAL, "stream": name,
                    "truncated": [{"block": b.block, "offset": b.offset, "dropped_bytes": b.dropped,
                                   "reason": b.reason} for b in r.truncated],
                    "conflicts": r.conflicts})
    return out


def check(js, *, account: str, stream: str, consumer: str, details: bool) -> tuple[int, dict]:
    """(HTTP status, body) for /healthz once JetStream is known to be enabled."""
    errors: list[dict] = []
    acc_found = stream_found = consumer_found = False
    accounts_dir = os.path.dirname(os.path.dirname(persist.streams_root(js.store_dir))) if js.store_dir else ""
    try:
        accounts = sorted(os.listdir(accounts_dir)) if accounts_dir else []
    except OSError:
        accounts = []
    for acc in accounts:
        if account and acc != account:
            continue
        acc_found = acc_found or bool(account)
        if acc != GLOBAL:
            _error(errors, "ACCOUNT", f"JetStream account '{acc}' could not be resolved", account=acc)
            if not details:
                break
            continue
        try:
            names = sorted(os.listdir(os.path.join(accounts_dir, acc, "streams")))
        except OSError:
            names = []
        for name in names:
            if stream and name != stream:
                continue
            stream_found = stream_found or bool(stream)
            entry = js.streams.get(name)
            if entry is None:
                _error(errors, "STREAM", f"JetStream stream '{acc} > {name}' could not be recovered",
                       account=acc, stream=name)
            else:
                werr = getattr(entry.stream.store, "_write_err", None)
                if werr is not None:
                    _error(errors, "STREAM", f"JetStream stream '{acc} > {name}' write error: {werr}",
                           account=acc, stream=name)
                elif stream_found:
                    if consumer:
                        cs = js.consumer_sets.get(name)
                        consumer_found = cs is not None and consumer in cs.consumers
                    break
            if errors and not details:
                break
        if errors and not details:
            break
        if acc_found:
            break
    code = 503 if errors else 200
    if account and not acc_found:
        code, errors = 404, [{"type": "ACCOUNT", "account": account,
                              "error": f'JetStream account "{account}" not found'}]
    elif stream and not stream_found:
        code, errors = 404, [{"type": "STREAM", "account": account, "stream": stream,
                              "error": f'JetStream stream "{stream}" not found on account "{account}"'}]
    elif consumer and not consumer_found:
        code, errors = 404, [{"type": "CONSUMER", "account": account, "stream": stream, "consumer": consumer,
                              "error": f'JetStream consumer "{consumer}" not found for stream "{stream}" '
                                       f'on account "{account}"'}]
    if details:
        body: dict = {"status": "error" if errors else "ok"}
        if errors:
            body["errors"] = errors
    elif errors:
        body = {"status": "unavailable", "error": errors[0]["error"]}
    else:
        body = {"status": "ok"}
    losses = _losses(js)
    if losses:
        body["recovery"] = losses
    return code, body
