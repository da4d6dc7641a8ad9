"""Differential raw-protocol test: the same bytes to Go nats-server and to natsd.

One Go server and one natsd server per profile (module scope, started lazily, always
stopped). Every corpus case (``natsd.oracle.protocol_corpus``) is sent to both and
the normalised transcripts must be equal. The Go behaviour per case is tabulated in
``oracle/natsd/oracle/PROTOCOL_FINDINGS.md``.

``NATSD_DIFF_TARGET=go`` compares Go with a second Go instance (harness self-check).
"""

from __future__ import annotations

import importlib.util
import os

import pytest

from natsd.oracle.differential import (
    INFO_MASKED_FIELDS,
    Transcript,
    run_script,
    start_server,
)
from natsd.oracle.procs import ServerProcess, ServerStartError
from natsd.oracle.protocol_corpus import CASES, PROFILES, Case

pytestmark = pytest.mark.differential

TARGET = os.environ.get("NATSD_DIFF_TARGET", "natsd")


class ServerPool:
    """Servers keyed by (kind, profile), started on first use, stopped by close()."""

    def __init__(self) -> None:
        self._servers: dict[tuple[str, str], ServerProcess] = {}
        self._failed: dict[tuple[str, str], str] = {}

    def get(self, kind: str, profile: str) -> ServerProcess:
        key = (kind, profile)
        if key in self._failed:
            pytest.fail(
                f"{kind} ({profile}) could not be started earlier:\n{self._failed[key]}", pytrace=False
            )
        srv = self._servers.get(key)
        if srv is not None and not srv.running():
            log = srv.log_tail()
            srv.stop()
            del self._servers[key]
            pytest.fail(f"{kind} ({profile}) server had exited (during an earlier case); log tail:\n{log}")
        if srv is None:
            try:
                srv = start_server(kind, config=PROFILES[profile])
            except ServerStartError as e:
                self._failed[key] = str(e)
                pytest.fail(f"{kind} ({profile}) failed to start:\n{e}", pytrace=False)
            self._servers[key] = srv
        return srv

    def close(self) -> None:
        errors = []
        for srv in self._servers.values():
            try:
                srv.stop()
            except Exception as e:  # keep stopping the others
                errors.append(e)
        self._servers.clear()
        if errors:
            raise errors[0]


@pytest.fixture(scope="module")
def pool():
    if TARGET == "natsd" and importlib.util.find_spec("natsd.__main__") is None:
        pytest.skip("natsd is not runnable yet (no natsd/__main__.py)")
    p = ServerPool()
    try:
        yield p
    finally:
        p.close()


def _explain(case: Case, ref: Transcript, got: Transcript) -> str:
    sent = b"".join(case.script())
    return (
        f"case {case.name} ({len(case.script())} chunks, profile {case.config})\n"
        f"sent: {sent[:300]!r}{'...' if len(sent) > 300 else ''}\n"
        f"go:     {ref.summary()}  [{ref.stop_reason}]\n"
        f"{TARGET}: {got.summary()}  [{got.stop_reason}]"
    )


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_protocol_case(case: Case, pool: ServerPool) -> None:
    go = pool.get("go", case.config)
    target = pool.get(TARGET, case.config)
    ref = run_script(go.host, go.port, case.script())
    got = run_script(target.host, target.port, case.script())
    assert target.running(), f"{TARGET} server exited while handling {case.name}:\n{target.log_tail()}"
    if got.canonical(case.unordered) != ref.canonical(case.unordered):
        # plain list comparison for pytest's diff, with the whole story in the message
        assert got.render() == ref.render(), _explain(case, ref, got)


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_initial_info(profile: str, pool: ServerPool) -> None:
    """INFO is compared loosely: Go's (unmasked) fields must be present with equal
    values for the protocol-relevant ones."""
    go = pool.get("go", profile)
    target = pool.get(TARGET, profile)
    ref = run_script(go.host, go.port, [], probe=False, quiet_ms=50).info
    got = run_script(target.host, target.port, [], probe=False, quiet_ms=50).info
    missing = sorted(k for k in ref if k not in got and k not in INFO_MASKED_FIELDS)
    assert not missing, f"INFO fields missing in {TARGET}: {missing}\ngo: {ref}\n{TARGET}: {got}"
    for key in ("proto", "headers", "max_payload"):
        assert got.get(key) == ref.get(key), f"INFO {key}: go={ref.get(key)!r} {TARGET}={got.get(key)!r}"
    for key in INFO_MASKED_FIELDS & ref.keys() & {"server_id", "version", "host", "port", "client_id"}:
        assert key in got, f"INFO field {key} missing in {TARGET}"
