"""The monitoring HTTP endpoints (natsd.server.monitor) against a live server.

Each wire test starts a server process with ``-m <port>`` (natsd by default;
``NATSD_WIRE_SERVER=go`` runs the same expectations against the Go
nats-server, which is how they were checked), drives it with nats-py and reads
the endpoints over HTTP. Counts are taken as deltas or filtered to the test's
own connections and subjects, because the Go server also counts its system
account's internal subscriptions.

The formatting helpers (Go JSON, RFC 3339, durations) are unit-tested below.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
import urllib.error
import urllib.request

import nats
import pytest

from natsd.oracle.wire import HOST, RawClient, wait_until
from natsd.server.monitor import dumps, go_duration, my_uptime, rfc3339

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")
UPTIME = re.compile(r"^(\d+y)?(\d+d)?(\d+h)?(\d+m)?\d+s$")


# --------------------------------------------------------------------------- helpers


def _get(port: int, path: str) -> tuple[int, str, dict]:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), dict(e.headers)


async def get(srv, path: str) -> tuple[int, str, dict]:
    return await asyncio.to_thread(_get, srv.http_port, path)


async def get_json(srv, path: str) -> dict:
    status, body, _ = await get(srv, path)
    assert status == 200, (path, status, body)
    return json.loads(body)


@pytest.fixture
def msrv(start_server):
    """A server with the monitoring port open and answering."""
    srv = start_server(monitor=True)
    deadline = time.monotonic() + 10
    while True:  # the HTTP listener may come up a moment after the client port
        try:
            if _get(srv.http_port, "/healthz")[0] == 200:
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError("monitor port did not answer /healthz")
        time.sleep(0.02)
    return srv


@contextlib.asynccontextmanager
async def clients(srv, *names: str):
    ncs = []
    try:
        for name in names:
            ncs.append(await nats.connect(srv.url, name=name, allow_reconnect=False, connect_timeout=5))
        yield ncs
    finally:
        for nc in ncs:
            with contextlib.suppress(Exception):
                await nc.close()


def by_name(connz: dict, name: str) -> dict:
    found = [c for c in connz["connections"] if c.get("name") == name]
    assert len(found) == 1, (name, [c.get("name") for c in connz["connections"]])
    return found[0]


# --------------------------------------------------------------------------- wire tests


@pytest.mark.asyncio
async def test_healthz_answers_ok_compact_json(msrv):
    status, body, headers = await get(msrv, "/healthz")
    assert status == 200
    assert body == '{"status":"ok"}'
    assert headers["Content-Type"] == "application/json"
    assert headers["Access-Control-Allow-Origin"] == "*"
    status, body, _ = await get(msrv, "/healthz?stream=s")
    assert status == 400
    assert json.loads(body) == {"status": "error",
                                "error": '"account" must not be empty when checking stream health'}


@pytest.mark.asyncio
async def test_unknown_path_is_go_404(msrv):
    for path in ("/nope", "/varz/", "/VARZ"):
        status, body, _ = await get(msrv, path)
        assert (status, body) == (404, "404 page not found\n"), path


@pytest.mark.asyncio
async def test_index_links_every_endpoint(msrv):
    status, body, headers = await get(msrv, "/")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    for p in ("varz", "connz", "subsz", "routez", "gatewayz", "leafz", "accountz", "jsz", "healthz"):
        assert f"href=./{p}>" in body


@pytest.mark.asyncio
async def test_varz_is_pretty_printed_with_go_fields(msrv):
    status, body, _ = await get(msrv, "/varz")
    assert status == 200
    assert body.startswith('{\n  "server_id": "N')
    v = json.loads(body)
    for key in ("server_id", "server_name", "version", "proto", "go", "host", "port", "max_connections",
                "ping_interval", "ping_max", "http_host", "http_port", "http_base_path", "https_port",
                "auth_timeout", "max_control_line", "max_payload", "max_pending", "cluster", "gateway",
                "leaf", "mqtt", "websocket", "jetstream", "tls_timeout", "write_deadline", "start", "now",
                "uptime", "mem", "cores", "gomaxprocs", "cpu", "connections", "total_connections", "routes",
                "remotes", "leafnodes", "in_msgs", "in_bytes", "in_client_msgs", "in_client_bytes",
                "out_msgs", "out_bytes", "out_client_msgs", "out_client_bytes", "slow_consumers",
                "stale_connections", "stalled_clients", "subscriptions", "http_req_stats",
                "config_load_time", "config_digest", "slow_consumer_stats", "stale_connection_stats",
                "disk_io_wait_stats"):
        assert key in v, key
    for empty in ("cluster", "gateway", "leaf", "mqtt", "websocket", "jetstream"):
        assert v[empty] == {}
    assert v["port"] == msrv.port
    assert v["http_port"] == msrv.http_port
    assert v["ping_interval"] == 120_000_000_000 and v["write_deadline"] == 10_000_000_000
    assert v["auth_timeout"] == 2 and '"auth_timeout": 2,' in body  # a float printed without ".0"
    assert RFC3339.match(v["start"]) and RFC3339.match(v["now"]) and UPTIME.match(v["uptime"])
    assert v["mem"] > 0 and v["cores"] >= 1
    assert v["slow_consumer_stats"] == {"clients": 0, "routes": 0, "gateways": 0, "leafs": 0}


@pytest.mark.asyncio
async def test_varz_counts_requests_connections_and_messages(msrv):
    before = await get_json(msrv, "/varz")
    async with clients(msrv, "sub", "pub") as (sub_nc, pub_nc):
        got = []

        async def on_msg(m):
            got.append(m)

        await sub_nc.subscribe("v.x", cb=on_msg)
        await sub_nc.flush()
        for _ in range(3):
            await pub_nc.publish("v.x", b"hello")
        await pub_nc.publish("v.nobody", b"12")
        await pub_nc.flush()
        await wait_until(lambda: len(got) == 3, what="3 deliveries")

        async def counted():
            v = await get_json(msrv, "/varz")
            return v if v["out_msgs"] - before["out_msgs"] >= 3 else None

        v = await wait_until(counted, what="varz out_msgs")
        assert v["connections"] == before["connections"] + 2
        assert v["total_connections"] == before["total_connections"] + 2
        assert v["in_msgs"] - before["in_msgs"] == 4
        assert v["in_bytes"] - before["in_bytes"] == 17
        assert v["out_msgs"] - before["out_msgs"] == 3
        assert v["out_bytes"] - before["out_bytes"] == 15
        assert v["in_client_msgs"] == v["in_msgs"] and v["out_client_bytes"] == v["out_bytes"]
        assert v["subscriptions"] == before["subscriptions"] + 1
        assert v["http_req_stats"]["/varz"] >= 2
        assert v["http_req_stats"]["/healthz"] >= 1
    # counters of closed connections stay in the server totals
    v = await wait_until(lambda: _closed_all(msrv, before), what="clients gone")
    assert v["in_msgs"] - before["in_msgs"] == 4
    assert v["out_msgs"] - before["out_msgs"] == 3


async def _closed_all(srv, before):
    v = await get_json(srv, "/varz")
    return v if v["connections"] == before["connections"] else None


@pytest.mark.asyncio
async def test_connz_lists_clients_with_subscriptions(msrv):
    async with clients(msrv, "alpha", "beta") as (a, b):
        await a.subscribe("foo.bar")
        await a.subscribe("foo.*", queue="q")
        sub = await b.subscribe("baz")
        await sub.unsubscribe(5)
        await a.flush()
        await b.flush()
        for _ in range(3):
            await b.publish("foo.bar", b"hello")
        await b.flush()

        async def delivered():
            cz = await get_json(msrv, "/connz?subs=1")
            return cz if by_name(cz, "alpha")["out_msgs"] == 6 else None

        cz = await wait_until(delivered, what="alpha receives 6")
        assert cz["offset"] == 0 and cz["limit"] == 1024
        assert cz["num_connections"] == len(cz["connections"]) == cz["total"]
        alpha, beta = by_name(cz, "alpha"), by_name(cz, "beta")
        assert sorted(alpha["subscriptions_list"]) == ["foo.*", "foo.bar"]
        assert beta["subscriptions_list"] == ["baz"]
        assert alpha["kind"] == "Client" and alpha["type"] == "nats"
        assert alpha["ip"] == "127.0.0.1" and alpha["port"] > 0
        assert alpha["lang"] == "python3" and alpha["version"]
        assert (alpha["subscriptions"], alpha["out_msgs"], alpha["out_bytes"]) == (2, 6, 30)
        assert (beta["in_msgs"], beta["in_bytes"], beta["out_msgs"]) == (3, 15, 0)
        assert alpha["pending_bytes"] == 0
        for key in ("start", "last_activity"):
            assert RFC3339.match(alpha[key])
        assert UPTIME.match(alpha["uptime"]) and UPTIME.match(alpha["idle"])
        assert "rtt" in alpha and "stop" not in alpha and "reason" not in alpha
        assert "authorized_user" not in alpha and "subscriptions_list_detail" not in alpha

        cz = await get_json(msrv, "/connz?subs=detail")
        detail = sorted(by_name(cz, "alpha")["subscriptions_list_detail"], key=lambda d: d["sid"])
        cid = by_name(cz, "alpha")["cid"]
        assert detail == [
            {"subject": "foo.bar", "sid": "1", "msgs": 3, "cid": cid},
            {"subject": "foo.*", "qgroup": "q", "sid": "2", "msgs": 3, "cid": cid},
        ]
        (bd,) = by_name(cz, "beta")["subscriptions_list_detail"]
        assert bd["max"] == 5 and bd["msgs"] == 0
        assert "subscriptions_list" not in by_name(cz, "alpha")

        cz = await get_json(msrv, "/connz")
        assert "subscriptions_list" not in by_name(cz, "alpha")
        cz = await get_json(msrv, f"/connz?cid={cid}")
        assert cz["limit"] == 1 and [c["cid"] for c in cz["connections"]] == [cid]


@pytest.mark.asyncio
async def test_connz_closed_connections_keep_reason_and_subjects(msrv):
    async with clients(msrv, "stay") as (stay,):
        # A raw client reads everything and half-closes, so the server sees EOF:
        # nats-py may leave a line unread, and a reset is reported as "Read Error".
        gone = await RawClient.connect(msrv.port)
        gone_cid = gone.info["client_id"]
        await gone.handshake({"name": "gone"})
        await gone.send(b"SUB x.y 1\r\nPUB x.y 3\r\nabc\r\nPING\r\n")
        assert await gone.expect(b"MSG x.y 1 3") and await gone.expect(b"abc")
        await gone.expect(b"PONG")
        gone.writer.write_eof()
        assert await gone.read_until_closed() == []
        await gone.close()

        async def closed():
            cz = await get_json(msrv, "/connz?state=closed&subs=1")
            mine = [c for c in cz["connections"] if c.get("name") == "gone"]
            return mine[0] if mine else None

        c = await wait_until(closed, what="closed connection listed")
        assert c["cid"] == gone_cid
        assert c["reason"] == "Client Closed"
        assert RFC3339.match(c["stop"]) and c["stop"] >= c["start"]
        assert c["subscriptions"] == 1 and c["subscriptions_list"] == ["x.y"]
        assert (c["in_msgs"], c["in_bytes"], c["out_msgs"], c["out_bytes"]) == (1, 3, 1, 3)

        open_cz = await get_json(msrv, "/connz")
        assert "gone" not in [x.get("name") for x in open_cz["connections"]]
        assert "stay" in [x.get("name") for x in open_cz["connections"]]
        any_cz = await get_json(msrv, "/connz?state=any")
        closed_cz = await get_json(msrv, "/connz?state=closed")
        assert any_cz["total"] == open_cz["total"] + closed_cz["total"]
        cz = await get_json(msrv, f"/connz?state=closed&cid={gone_cid}")
        assert [x["cid"] for x in cz["connections"]] == [gone_cid]
        cz = await get_json(msrv, "/connz?state=closed&sort=stop")
        stops = [x["stop"] for x in cz["connections"]]
        assert stops == sorted(stops, reverse=True)
        await stay.flush()


@pytest.mark.asyncio
async def test_connz_sort_offset_limit(msrv):
    async with clients(msrv, "one", "two", "three") as ncs:
        for i, nc in enumerate(ncs):
            for j in range(i + 1):
                await nc.subscribe(f"s.{i}.{j}")
            await nc.flush()

        async def all_subscribed():
            cz = await get_json(msrv, "/connz?sort=subs")
            mine = [c for c in cz["connections"] if c.get("name") in ("one", "two", "three")]
            return mine if sum(c["subscriptions"] for c in mine) == 6 else None

        mine = await wait_until(all_subscribed, what="subscriptions registered")
        assert [c["name"] for c in mine] == ["three", "two", "one"]

        cz = await get_json(msrv, "/connz?sort=cid")
        cids = [c["cid"] for c in cz["connections"]]
        assert cids == sorted(cids)
        page = await get_json(msrv, "/connz?sort=cid&offset=1&limit=1")
        assert (page["offset"], page["limit"], page["num_connections"]) == (1, 1, 1)
        assert page["total"] == cz["total"]
        assert [c["cid"] for c in page["connections"]] == cids[1:2]
        past = await get_json(msrv, "/connz?offset=1000")
        assert past["connections"] == [] and past["num_connections"] == 0

        status, body, _ = await get(msrv, "/connz?sort=bogus")
        assert (status, body) == (400, "invalid sorting option: bogus")
        status, body, _ = await get(msrv, "/connz?sort=stop")
        assert (status, body) == (400, "sort by stop only valid on closed connections")
        status, body, _ = await get(msrv, "/connz?state=maybe")
        assert (status, body) == (400, "Error decoding state for maybe")
        status, body, _ = await get(msrv, "/connz?limit=abc")
        assert status == 400
        assert body == """Error decoding int for 'limit': strconv.Atoi: parsing "abc": invalid syntax"""
        status, body, _ = await get(msrv, "/connz?subs=maybe")
        assert status == 400 and body.startswith("Error decoding boolean for 'subs'")


@pytest.mark.asyncio
async def test_subsz_counts_and_test_filter(msrv):
    before = await get_json(msrv, "/subsz")
    async with clients(msrv, "subs") as (nc,):
        for subj in ("foo.bar", "foo.*", "foo.>", "foo.baz", "other"):
            await nc.subscribe(subj)
        await nc.flush()

        async def counted():
            s = await get_json(msrv, "/subsz")
            return s if s["num_subscriptions"] == before["num_subscriptions"] + 5 else None

        s = await wait_until(counted, what="5 more subscriptions")
        for key in ("server_id", "now", "num_subscriptions", "num_cache", "num_inserts", "num_removes",
                    "num_matches", "cache_hit_rate", "max_fanout", "avg_fanout", "total", "offset", "limit"):
            assert key in s, key
        assert "subscriptions_list" not in s and s["total"] == 0
        assert s["num_inserts"] - before["num_inserts"] == 5

        t = await get_json(msrv, "/subsz?subs=1&test=foo.bar")
        assert sorted(d["subject"] for d in t["subscriptions_list"]) == ["foo.*", "foo.>", "foo.bar"]
        assert t["total"] == 3
        d = next(d for d in t["subscriptions_list"] if d["subject"] == "foo.bar")
        assert d["account"] == "$G" and d["account_tag"] == "$G" and d["msgs"] == 0 and "qgroup" not in d

        full = await get_json(msrv, "/subsz?subs=1")
        mine = [d for d in full["subscriptions_list"] if not d["subject"].startswith("$")]
        assert len(mine) == 5
        page = await get_json(msrv, "/subsz?subs=1&limit=2&offset=1")
        assert len(page["subscriptions_list"]) == 2 and page["total"] == full["total"]
        alias = await get_json(msrv, "/subscriptionsz")
        assert alias["num_subscriptions"] == s["num_subscriptions"]

        status, body, _ = await get(msrv, "/subsz?test=foo.*")
        assert (status, body) == (400, "invalid test subject, must be valid publish subject: foo.*")
    v = await get_json(msrv, "/varz")
    assert v["http_req_stats"]["/subsz"] >= 6  # /subscriptionsz counts as /subsz


@pytest.mark.asyncio
async def test_single_server_answers_for_cluster_endpoints(msrv):
    r = await get_json(msrv, "/routez")
    assert (r["num_routes"], r["routes"]) == (0, [])
    assert r["server_id"] and r["server_name"]
    g = await get_json(msrv, "/gatewayz")
    assert (g["outbound_gateways"], g["inbound_gateways"]) == ({}, {})
    lz = await get_json(msrv, "/leafz")
    assert (lz["leafnodes"], lz["leafs"]) == (0, [])
    a = await get_json(msrv, "/accountz")
    assert "$G" in a["accounts"]
    d = await get_json(msrv, "/accountz?acc=$G")
    assert d["account_detail"]["account_name"] == "$G"
    status, body, _ = await get(msrv, "/accountz?acc=nope")
    assert (status, body) == (400, "Account nope does not exist")
    j = await get_json(msrv, "/jsz")
    assert j["disabled"] is True
    assert j["config"] == {"max_memory": 0, "max_storage": 0}
    assert j["api"] == {"level": 0, "total": 0, "errors": 0}
    assert (j["streams"], j["consumers"], j["messages"], j["bytes"], j["total"]) == (0, 0, 0, 0, 0)


@pytest.mark.asyncio
async def test_jsz_reports_config_when_jetstream_enabled(start_server):
    srv = start_server(["-js", "-sd", "{dir}/store"], monitor=True)
    j = await wait_until(lambda: _try_json(srv, "/jsz"), what="/jsz")
    assert "disabled" not in j
    assert j["config"]["store_dir"].endswith("/store/jetstream")
    assert j["config"]["max_memory"] > 0 and j["config"]["max_storage"] > 0
    assert j["api"]["level"] >= 1 and j["total"] == 1
    v = await get_json(srv, "/varz")
    assert set(v["jetstream"]) >= {"config", "stats"}


async def _try_json(srv, path):
    try:
        status, body, _ = await get(srv, path)
    except OSError:
        return None
    return json.loads(body) if status == 200 else None


# --------------------------------------------------------------------------- formatting


def test_dumps_matches_go_marshal_indent():
    v = {"a": 1, "b": [], "c": {}, "d": [1, {"x": None}], "e": 2.0, "f": 0.16666666666666666,
         "g": True, "h": "<&>", "i": "µs"}
    assert dumps(v) == (
        '{\n  "a": 1,\n  "b": [],\n  "c": {},\n  "d": [\n    1,\n    {\n      "x": null\n    }\n  ],\n'
        '  "e": 2,\n  "f": 0.16666666666666666,\n  "g": true,\n  "h": "\\u003c\\u0026\\u003e",\n'
        '  "i": "µs"\n}'
    )
    assert dumps({"status": "ok"}, indent=False) == '{"status":"ok"}'
    assert dumps([5e-05, 1e-07, 1e21, 123456789012345680.0]) == (
        "[\n  0.00005,\n  1e-7,\n  1e+21,\n  123456789012345680\n]")


def test_rfc3339_nano_trims_trailing_zeros():
    assert rfc3339(0) == "1970-01-01T00:00:00Z"
    assert rfc3339(1_700_000_000_123_400_000) == "2023-11-14T22:13:20.1234Z"
    assert rfc3339(1_700_000_000_000_000_001) == "2023-11-14T22:13:20.000000001Z"


def test_durations_as_go_prints_them():
    assert [go_duration(n) for n in (0, 999, 692_000, 1_500_000, 2 * 10**9, 62 * 10**9, 3600 * 10**9,
                                     3_723_500_000_000)] == \
        ["0s", "999ns", "692µs", "1.5ms", "2s", "1m2s", "1h0m0s", "1h2m3.5s"]
    sec = 10**9
    assert [my_uptime(n * sec) for n in (0, 59, 62, 3600, 90000, 366 * 86400)] == \
        ["0s", "59s", "1m2s", "1h0m0s", "1d1h0m0s", "1y1d0h0m0s"]
