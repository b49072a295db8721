"""The SSRF guard for aiohttp: client sessions that cannot connect to refused addresses.

Every request to a URL from a rule file or a subscription goes through ``guarded_session``. The
pure policy (``newsalert.domain.delivery.ssrf``) is applied twice: by the resolver (only vetted
addresses reach aiohttp, so DNS rebinding cannot slip one in) and by the socket factory (the very
address connected to, literal IPs included). A refusal is a ``TargetBlockedError``;
``blocked_reason(exc)`` finds it inside aiohttp's errors. Nothing is sent to a refused address.
"""

from __future__ import annotations

import socket
from typing import Any, Callable

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from newsalert.config import Settings
from newsalert.domain.delivery.ssrf import AddressPolicy, Refusal, parse_networks

GUARD_MARKER = "refused by SSRF guard"
"""Every refusal message starts with this (also how a message is recognised after wrapping)."""


class TargetBlockedError(OSError):
    """A connection refused by the SSRF guard before it was attempted.

    ``refusal`` says which address and why; ``host`` is the name it was resolved from, if any.
    An ``OSError`` so that aiohttp handles it like any failure to connect (and wraps it).
    """

    def __init__(self, refusal: Refusal, host: str | None = None) -> None:
        self.refusal = refusal
        self.host = host
        super().__init__(None, refusal.message(host))

    def __str__(self) -> str:
        return self.strerror


def policy_from_settings(settings: Settings) -> AddressPolicy:
    """The address policy of ``NEWSALERT_ALLOW_PRIVATE_TARGETS`` and ``NEWSALERT_ALLOWED_TARGET_NETWORKS``."""
    return AddressPolicy(
        allow_private=settings.allow_private_targets,
        allowed=parse_networks(settings.allowed_target_networks),
    )


class GuardedResolver(AbstractResolver):
    """Resolves with ``inner`` and keeps only the addresses ``policy`` accepts (see module docstring)."""

    def __init__(self, policy: AddressPolicy, inner: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._inner = inner if inner is not None else ThreadedResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        """The accepted addresses of ``host``; ``TargetBlockedError`` when none is accepted."""
        results = await self._inner.resolve(host, port, family)
        kept = []
        first_refusal: Refusal | None = None
        for result in results:
            refusal = self._policy.refusal(result["host"])
            if refusal is None:
                kept.append(result)
            elif first_refusal is None:
                first_refusal = refusal
        if not kept and first_refusal is not None:
            raise TargetBlockedError(first_refusal, host)
        return kept

    async def close(self) -> None:
        await self._inner.close()


SocketFactory = Callable[[tuple], socket.socket]


def guarded_socket_factory(policy: AddressPolicy) -> SocketFactory:
    """A ``TCPConnector`` socket factory that refuses (raises) before creating a socket for a
    refused address; otherwise it creates the socket aiohttp would have created."""

    def create(addr_info: tuple) -> socket.socket:
        family, type_, proto, _canonname, sockaddr = addr_info
        refusal = policy.refusal(sockaddr[0])
        if refusal is not None:
            raise TargetBlockedError(refusal)
        return socket.socket(family=family, type=type_, proto=proto)

    return create


def guarded_connector(settings: Settings, *, policy: AddressPolicy | None = None, resolver: AbstractResolver | None = None, **kwargs: Any) -> aiohttp.TCPConnector:
    """A ``TCPConnector`` that applies the SSRF guard; ``kwargs`` go to ``TCPConnector`` (``limit``...).

    ``policy`` defaults to the settings' policy; ``resolver`` is the resolver to filter (the
    threaded system resolver by default). Create it inside a running event loop.
    """
    if "socket_factory" in kwargs:
        raise TypeError("guarded_connector sets socket_factory itself (it is the guard)")
    policy = policy if policy is not None else policy_from_settings(settings)
    return aiohttp.TCPConnector(
        resolver=GuardedResolver(policy, resolver),
        socket_factory=guarded_socket_factory(policy),
        **kwargs,
    )


def guarded_session(settings: Settings, timeout: aiohttp.ClientTimeout | None = None, *, connector_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> aiohttp.ClientSession:
    """A ``ClientSession`` on a guarded connector, with ``trust_env=False`` (a proxy from the
    environment would connect on our behalf to whatever address it likes, past the guard)."""
    if kwargs.get("trust_env"):
        raise ValueError("a guarded session cannot trust proxy settings from the environment")
    kwargs["trust_env"] = False
    connector = guarded_connector(settings, **(connector_kwargs or {}))
    if timeout is not None:
        kwargs["timeout"] = timeout
    return aiohttp.ClientSession(connector=connector, **kwargs)


def blocked_reason(exc: BaseException) -> str | None:
    """The guard's message if ``exc`` (or what it wraps) is an SSRF refusal, else None.

    aiohttp wraps ``TargetBlockedError`` in ``ClientConnectorError`` (``os_error``) and, when
    several addresses fail together, aiohappyeyeballs may merge the errors into one ``OSError``
    whose text holds ours; both are recognised.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, TargetBlockedError):
            return str(current)
        inner = getattr(current, "os_error", None)
        if isinstance(inner, TargetBlockedError):
            return str(inner)
        text = str(current)
        if GUARD_MARKER in text:
            return text[text.index(GUARD_MARKER) :].rstrip("]")
        current = current.__cause__ or current.__context__
    return None
