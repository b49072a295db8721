"""The SSRF guard on real aiohttp sessions (the private-address fault at the HTTP-client level).

Every test spies on the event loop's ``sock_connect``: the spy records the address and, unless
it is 127.0.0.1, raises instead of connecting. So a guard that failed would be seen (the spy
records a call) and would still never send a packet to 10.0.0.1 or 169.254.169.254. Allowed
requests go only to a real aiohttp server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver

from newsalert.adapters.http_guard import (
    GuardedResolver,
    TargetBlockedError,
    blocked_reason,
    guarded_connector,
    guarded_session,
    guarded_socket_factory,
)
from newsalert.config import Settings
from newsalert.domain.delivery.ssrf import AddressPolicy, parse_networks

TIMEOUT = aiohttp.ClientTimeout(total=10, connect=5)


@pytest.fixture
async def server():
    """A local receiver on 127.0.0.1 counting the requests it got; yields (port, hits)."""
    hits: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        yield port, hits
    finally:
        await runner.cleanup()


@pytest.fixture
async def connects(monkeypatch):
    """Record every socket connect of the running loop; only 127.0.0.1 is really connected."""
    loop = asyncio.get_running_loop()
    seen: list[str] = []
    real = loop.sock_connect

    async def spy(sock, address):
        seen.append(address[0])
        if address[0] != "127.0.0.1":
            raise ConnectionRefusedError(f"test spy: no connection to {address[0]} from tests")
        return await real(sock, address)

    monkeypatch.setattr(loop, "sock_connect", spy)
    return seen


def settings(**values) -> Settings:
    return Settings(_env_file=None, **values)


async def post(session: aiohttp.ClientSession, url: str) -> int:
    async with session.post(url, data=b"{}", allow_redirects=False) as resp:
        return resp.status


@pytest.mark.parametrize(
    "host, fragment",
    [
        ("127.0.0.1", "127.0.0.1 is a loopback address"),
        ("10.0.0.1", "10.0.0.1 is a private address (RFC 1918)"),
        ("169.254.169.254", "169.254.169.254 is the cloud metadata service address"),
        ("[::1]", "::1 is a loopback address"),
        ("[::ffff:10.0.0.1]", "an IPv4-mapped address of 10.0.0.1, a private address"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("[fd00::1]", "unique-local"),
        ("0.0.0.0", "the unspecified address"),
    ],
)
async def test_literal_targets_are_refused_before_any_connect(host, fragment, connects, server):
    port, hits = server
    async with guarded_session(settings(), TIMEOUT) as session:
        with pytest.raises(aiohttp.ClientConnectorError) as info:
            await post(session, f"http://{host}:{port}/hook")
    reason = blocked_reason(info.value)
    assert reason is not None and reason.startswith("refused by SSRF guard: ")
    assert fragment in reason
    assert "NEWSALERT_ALLOW_PRIVATE_TARGETS" in reason
    assert connects == [] and hits == []


async def test_a_name_resolving_to_loopback_is_refused_with_the_name(connects, server):
    port, hits = server
    async with guarded_session(settings(), TIMEOUT) as session:
        with pytest.raises(aiohttp.ClientConnectorError) as info:
            await post(session, f"http://localhost:{port}/hook")
    reason = blocked_reason(info.value)
    assert reason is not None and "(resolved from localhost) is a loopback address" in reason
    assert connects == [] and hits == []


async def test_legacy_numeric_ipv4_does_not_slip_through(connects, server):
    port, hits = server
    async with guarded_session(settings(), TIMEOUT) as session:
        for host in ("2130706433", "127.1", "0x7f000001"):
            with pytest.raises(aiohttp.ClientError):
                await post(session, f"http://{host}:{port}/hook")
    assert connects == [] and hits == []


async def test_allow_private_targets_lets_loopback_through(connects, server):
    port, hits = server
    async with guarded_session(settings(allow_private_targets=True), TIMEOUT) as session:
        assert await post(session, f"http://127.0.0.1:{port}/hook") == 200
    assert connects == ["127.0.0.1"] and hits == ["/hook"]


async def test_allowed_networks_open_only_what_they_list(connects, server):
    port, hits = server
    config = settings(allowed_target_networks="127.0.0.1/32")
    async with guarded_session(config, TIMEOUT) as session:
        assert await post(session, f"http://127.0.0.1:{port}/in") == 200
        for host in ("[::1]", "10.0.0.1", "169.254.169.254", "127.0.0.2"):
            with pytest.raises(aiohttp.ClientConnectorError) as info:
                await post(session, f"http://{host}:{port}/out")
            assert blocked_reason(info.value) is not None
    assert connects == ["127.0.0.1"] and hits == ["/in"]


class ScriptedResolver(AbstractResolver):
    """Answers every lookup with the next list of addresses (a DNS server under someone's control)."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.lookups = 0

    async def resolve(self, host, port=0, family=socket.AF_INET):
        addresses = self.answers[min(self.lookups, len(self.answers) - 1)]
        self.lookups += 1
        return [
            {"hostname": host, "host": a, "port": port, "family": socket.AF_INET6 if ":" in a else socket.AF_INET, "proto": 0, "flags": 0}
            for a in addresses
        ]

    async def close(self):
        pass


async def test_only_vetted_addresses_of_a_name_are_tried(connects, server):
    port, hits = server
    policy = AddressPolicy(allowed=parse_networks("127.0.0.1/32"))
    dns = ScriptedResolver(["10.0.0.1", "169.254.169.254", "127.0.0.1"])
    connector = guarded_connector(settings(), policy=policy, resolver=dns)
    async with aiohttp.ClientSession(connector=connector, timeout=TIMEOUT, trust_env=False) as session:
        assert await post(session, f"http://hooks.test:{port}/hook") == 200
    assert connects == ["127.0.0.1"] and hits == ["/hook"]


async def test_dns_rebinding_is_checked_on_every_resolution(connects, server):
    port, hits = server
    policy = AddressPolicy(allowed=parse_networks("127.0.0.1/32"))
    dns = ScriptedResolver(["127.0.0.1"], ["10.0.0.1"])  # first vetted, then rebound to a private address
    connector = guarded_connector(settings(), policy=policy, resolver=dns, use_dns_cache=False, force_close=True)
    async with aiohttp.ClientSession(connector=connector, timeout=TIMEOUT, trust_env=False) as session:
        assert await post(session, f"http://rebind.test:{port}/first") == 200
        with pytest.raises(aiohttp.ClientConnectorError) as info:
            await post(session, f"http://rebind.test:{port}/second")
    assert "10.0.0.1 (resolved from rebind.test) is a private address" in blocked_reason(info.value)
    assert dns.lookups == 2
    assert connects == ["127.0.0.1"] and hits == ["/first"]


async def test_socket_factory_alone_refuses_the_address_actually_connected_to(connects, server):
    """The second layer: even if a resolver handed back a refused address, no socket is made."""
    port, hits = server
    unfiltered = ScriptedResolver(["10.0.0.1"])
    connector = aiohttp.TCPConnector(resolver=unfiltered, socket_factory=guarded_socket_factory(AddressPolicy()))
    async with aiohttp.ClientSession(connector=connector, timeout=TIMEOUT, trust_env=False) as session:
        with pytest.raises(aiohttp.ClientConnectorError) as info:
            await post(session, f"http://evil.test:{port}/hook")
    assert "refused by SSRF guard: 10.0.0.1 is a private address" in blocked_reason(info.value)
    assert connects == [] and hits == []


async def test_resolver_refusal_is_a_typed_error():
    dns = GuardedResolver(AddressPolicy(), ScriptedResolver(["127.0.0.1", "::1"]))
    with pytest.raises(TargetBlockedError) as info:
        await dns.resolve("localhost", 80)
    assert info.value.refusal.address == "127.0.0.1" and info.value.host == "localhost"
    assert str(info.value).startswith("refused by SSRF guard: 127.0.0.1 (resolved from localhost)")


async def test_guarded_session_ignores_proxy_environment(monkeypatch, connects, server):
    port, hits = server
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    async with guarded_session(settings(), TIMEOUT) as session:
        with pytest.raises(aiohttp.ClientConnectorError):
            await post(session, "http://10.0.0.1/hook")
    assert connects == [] and hits == []
    with pytest.raises(ValueError):
        guarded_session(settings(), TIMEOUT, trust_env=True)


def test_blocked_reason_is_none_for_other_errors():
    assert blocked_reason(ConnectionRefusedError("nope")) is None
    assert blocked_reason(asyncio.TimeoutError()) is None
