"""The SSRF address policy: which IP addresses a webhook may be sent to.

Pure (``ipaddress`` only). ``AddressPolicy.refusal(address)`` refuses every special-purpose
address of the IANA registries (``BLOCKED_NETWORKS``, with the reason shown to operators) and
anything else not globally routable; ``newsalert.adapters.http_guard`` asks it for every address
about to be connected to.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Iterable, Union

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

ALLOW_HINT = "set NEWSALERT_ALLOW_PRIVATE_TARGETS or NEWSALERT_ALLOWED_TARGET_NETWORKS to allow"


def _table(rows: Iterable[tuple[str, str]]) -> tuple[tuple[IPNetwork, str], ...]:
    return tuple((ipaddress.ip_network(cidr), reason) for cidr, reason in rows)


# Checked in order; more specific ranges come before ranges that contain them.
BLOCKED_NETWORKS: tuple[tuple[IPNetwork, str], ...] = _table(
    [
        # --- IPv4 ---
        ("0.0.0.0/32", "the unspecified address"),
        ("0.0.0.0/8", "a 'this network' address (0.0.0.0/8; Linux connects it to the local host)"),
        ("10.0.0.0/8", "a private address (RFC 1918)"),
        ("100.64.0.0/10", "a carrier-grade NAT address (RFC 6598)"),
        ("127.0.0.0/8", "a loopback address"),
        ("169.254.169.254/32", "the cloud metadata service address (link-local)"),
        ("169.254.0.0/16", "a link-local address"),
        ("172.16.0.0/12", "a private address (RFC 1918)"),
        ("192.0.0.0/24", "an IETF protocol assignment address (RFC 6890)"),
        ("192.0.2.0/24", "a documentation address (TEST-NET-1)"),
        ("192.88.99.0/24", "a 6to4 relay anycast address (deprecated)"),
        ("192.168.0.0/16", "a private address (RFC 1918)"),
        ("198.18.0.0/15", "a benchmarking address (RFC 2544)"),
        ("198.51.100.0/24", "a documentation address (TEST-NET-2)"),
        ("203.0.113.0/24", "a documentation address (TEST-NET-3)"),
        ("224.0.0.0/4", "a multicast address"),
        ("255.255.255.255/32", "the broadcast address"),
        ("240.0.0.0/4", "a reserved address (240.0.0.0/4)"),
        # --- IPv6 ---
        ("::/128", "the unspecified address"),
        ("::1/128", "a loopback address"),
        ("::/96", "an IPv4-compatible address (deprecated)"),
        ("64:ff9b:1::/48", "a local-use NAT64 address (RFC 8215)"),
        ("100::/64", "a discard-only address (RFC 6666)"),
        ("2001:db8::/32", "a documentation address"),
        ("2001::/23", "an IETF protocol assignment address (incl. Teredo)"),
        ("3fff::/20", "a documentation address"),
        ("5f00::/16", "a segment-routing SID address (RFC 9602)"),
        ("fc00::/7", "an IPv6 unique-local address (fc00::/7)"),
        ("fe80::/10", "an IPv6 link-local address"),
        ("fec0::/10", "an IPv6 site-local address (deprecated)"),
        ("ff00::/8", "a multicast address"),
    ]
)
"""Refused ranges and the reason shown for each (see the module docstring)."""

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


@dataclass(frozen=True)
class Refusal:
    """Why an address is refused: ``address`` as given, ``reason`` such as ``a loopback address``."""

    address: str
    reason: str

    def message(self, host: str | None = None) -> str:
        """The operator-facing sentence, naming the address (and the ``host`` name it was resolved
        from, if any), the category and the way out."""
        origin = f" (resolved from {host})" if host and host != self.address else ""
        return f"refused by SSRF guard: {self.address}{origin} is {self.reason}; {ALLOW_HINT}"


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses may be connected to (see the module docstring).

    ``allow_private`` lets every address through; ``allowed`` lists networks that pass although
    their addresses are special-purpose.
    """

    allow_private: bool = False
    allowed: tuple[IPNetwork, ...] = ()

    def refusal(self, address: str | IPAddress) -> Refusal | None:
        """None when ``address`` may be connected to, otherwise the ``Refusal`` saying why.

        A string that is not an IP address is refused (the caller must resolve names first).
        """
        shown = str(address)
        try:
            ip = address if isinstance(address, (ipaddress.IPv4Address, ipaddress.IPv6Address)) else parse_address(shown)
        except ValueError:
            return Refusal(shown, "not an IP address (names must be resolved before the check)")
        if self.allow_private:
            return None
        target, via = effective_address(ip)
        if self._allowed(ip) or self._allowed(target):
            return None
        reason = special_reason(target)
        if reason is None:
            return None
        if via:
            reason = f"{via} of {target}, {reason}"
        return Refusal(shown, reason)

    def _allowed(self, ip: IPAddress) -> bool:
        return any(ip.version == net.version and ip in net for net in self.allowed)


def parse_address(text: str) -> IPAddress:
    """``text`` as an IP address; accepts ``[::1]`` brackets and an IPv6 zone (``fe80::1%eth0``)."""
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return ipaddress.ip_address(text)


def effective_address(ip: IPAddress) -> tuple[IPAddress, str]:
    """The address ``ip`` actually leads to, and how (empty when it is itself).

    IPv4-mapped, NAT64 (well-known prefix) and 6to4 IPv6 addresses lead to the IPv4 address they
    embed; every other address leads to itself.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped, "an IPv4-mapped address"
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "a NAT64 address"
        if ip.sixtofour is not None:
            return ip.sixtofour, "a 6to4 address"
    return ip, ""


def special_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` is special-purpose (a phrase such as ``a private address (RFC 1918)``), or None."""
    for net, reason in BLOCKED_NETWORKS:
        if ip.version == net.version and ip in net:
            return reason
    if not ip.is_global:
        return "not a globally routable address"
    return None


def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    """``"10.1.0.0/16, fd00::/8, 127.0.0.1"`` -> networks; a bare address is a one-address network.

    Raises ``ValueError`` naming the item that is not a network (host bits set count as an
    error: ``10.1.2.3/8`` is probably a typo and must not silently widen to ``10.0.0.0/8``).
    """
    networks = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=True))
        except ValueError as exc:
            raise ValueError(f"allowed target network {item!r} is not a network in CIDR notation: {exc}") from None
    return tuple(networks)
