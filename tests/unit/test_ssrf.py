"""The SSRF address policy (pure): each refused category, embedded IPv4, the escape hatches,
the settings that feed it, and the load-time URL checks of the rule file."""

from __future__ import annotations

import ipaddress

import pytest
from pydantic import ValidationError

from newsalert.config import Settings
from newsalert.domain.delivery.ssrf import AddressPolicy, effective_address, parse_networks
from newsalert.domain.rulefile import load_rule_text
from newsalert.errors import RuleFileError

DEFAULT = AddressPolicy()


@pytest.mark.parametrize(
    "address, fragment",
    [
        ("127.0.0.1", "a loopback address"),
        ("127.255.255.254", "a loopback address"),
        ("::1", "a loopback address"),
        ("[::1]", "a loopback address"),
        ("10.0.0.1", "a private address (RFC 1918)"),
        ("172.16.0.1", "a private address (RFC 1918)"),
        ("172.31.255.255", "a private address (RFC 1918)"),
        ("192.168.1.10", "a private address (RFC 1918)"),
        ("169.254.169.254", "the cloud metadata service address (link-local)"),
        ("169.254.1.1", "a link-local address"),
        ("100.64.0.1", "a carrier-grade NAT address"),
        ("100.127.255.255", "a carrier-grade NAT address"),
        ("224.0.0.1", "a multicast address"),
        ("239.255.255.250", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("240.0.0.1", "a reserved address"),
        ("255.255.255.255", "the broadcast address"),
        ("0.0.0.0", "the unspecified address"),
        ("0.1.2.3", "'this network' address"),
        ("::", "the unspecified address"),
        ("fc00::1", "unique-local"),
        ("fd12:3456:789a::1", "unique-local"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("192.0.2.5", "documentation"),
        ("198.51.100.7", "documentation"),
        ("203.0.113.9", "documentation"),
        ("2001:db8::1", "documentation"),
        ("198.18.0.1", "benchmarking"),
        ("fec0::1", "site-local"),
    ],
)
def test_special_addresses_are_refused_with_their_category(address, fragment):
    refusal = DEFAULT.refusal(address)
    assert refusal is not None, address
    assert fragment in refusal.reason
    message = refusal.message()
    assert message.startswith(f"refused by SSRF guard: {address} is ")
    assert "NEWSALERT_ALLOW_PRIVATE_TARGETS" in message and "NEWSALERT_ALLOWED_TARGET_NETWORKS" in message


def test_the_message_reads_as_documented():
    assert DEFAULT.refusal("10.0.0.1").message() == (
        "refused by SSRF guard: 10.0.0.1 is a private address (RFC 1918); "
        "set NEWSALERT_ALLOW_PRIVATE_TARGETS or NEWSALERT_ALLOWED_TARGET_NETWORKS to allow"
    )


@pytest.mark.parametrize(
    "address",
    ["93.184.216.34", "8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "192.169.0.1", "2606:4700:4700::1111", "2a00:1450:4001::1"],
)
def test_public_addresses_pass(address):
    assert DEFAULT.refusal(address) is None


@pytest.mark.parametrize(
    "address, via, fragment",
    [
        ("::ffff:127.0.0.1", "IPv4-mapped", "loopback"),
        ("::ffff:10.0.0.1", "IPv4-mapped", "RFC 1918"),
        ("::ffff:a9fe:a9fe", "IPv4-mapped", "metadata"),  # 169.254.169.254 written in hex
        ("::ffff:100.64.1.1", "IPv4-mapped", "carrier-grade NAT"),
        ("64:ff9b::10.0.0.1", "NAT64", "RFC 1918"),
        ("2002:7f00:1::", "6to4", "loopback"),  # 6to4 of 127.0.0.1
    ],
)
def test_embedded_ipv4_is_judged_by_the_address_it_leads_to(address, via, fragment):
    refusal = DEFAULT.refusal(address)
    assert refusal is not None
    assert via in refusal.reason and fragment in refusal.reason


def test_embedded_public_ipv4_passes():
    assert DEFAULT.refusal("::ffff:8.8.8.8") is None
    assert DEFAULT.refusal("64:ff9b::808:808") is None
    assert effective_address(ipaddress.ip_address("::ffff:8.8.8.8")) == (ipaddress.ip_address("8.8.8.8"), "an IPv4-mapped address")


def test_deprecated_ipv4_compatible_and_local_nat64_are_refused():
    assert DEFAULT.refusal("::10.0.0.1") is not None
    assert DEFAULT.refusal("64:ff9b:1::8.8.8.8") is not None


def test_names_are_not_addresses():
    refusal = DEFAULT.refusal("localhost")
    assert refusal is not None and "not an IP address" in refusal.reason


def test_allow_private_lets_everything_through():
    policy = AddressPolicy(allow_private=True)
    for address in ("127.0.0.1", "10.0.0.1", "169.254.169.254", "::1", "fd00::1", "::ffff:10.0.0.1"):
        assert policy.refusal(address) is None


def test_allow_list_opens_only_its_networks():
    policy = AddressPolicy(allowed=parse_networks("10.1.2.0/24, 127.0.0.1, fd00:1::/64"))
    assert policy.refusal("10.1.2.200") is None
    assert policy.refusal("::ffff:10.1.2.3") is None  # the mapped form reaches the same host
    assert policy.refusal("127.0.0.1") is None
    assert policy.refusal("fd00:1::5") is None
    assert policy.refusal("10.1.3.1") is not None
    assert policy.refusal("127.0.0.2") is not None
    assert policy.refusal("0.0.0.0") is not None  # reaches the local host on Linux: not 127.0.0.1/32
    assert policy.refusal("::1") is not None
    assert policy.refusal("169.254.169.254") is not None
    assert policy.refusal("fd00:2::1") is not None


@pytest.mark.parametrize("text", ["10.1.2.3/8", "10.0.0.0/33", "bogus", "fd00::/129"])
def test_bad_networks_are_refused_naming_the_item(text):
    with pytest.raises(ValueError, match="allowed target network"):
        parse_networks(f"10.0.0.0/8, {text}")


def test_empty_allow_list_is_empty():
    assert parse_networks("") == () and parse_networks(" , ") == ()


def test_settings_refuse_a_bad_allow_list_at_startup(monkeypatch):
    monkeypatch.setenv("NEWSALERT_ALLOWED_TARGET_NETWORKS", "10.0.0.0/8,not-a-net")
    with pytest.raises(ValidationError, match="not-a-net"):
        Settings()
    monkeypatch.setenv("NEWSALERT_ALLOWED_TARGET_NETWORKS", "10.0.0.0/8, ::1")
    assert Settings().allowed_target_networks == "10.0.0.0/8, ::1"


def test_settings_default_to_refusing():
    settings = Settings(_env_file=None)
    assert settings.allow_private_targets is False and settings.allowed_target_networks == ""


# --- load-time URL checks (rule file): the other half of the guard --------------------------------
SECRET = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODkw"


def _problems(url: str) -> list:
    text = f"subscribers:\n  - id: s\n    url: '{url}'\n    secret: {SECRET}\nrules: []\n"
    with pytest.raises(RuleFileError) as info:
        load_rule_text(text, "rules.yaml")
    return info.value.problems


@pytest.mark.parametrize(
    "url, fragment",
    [
        ("https://bob@hooks.example.org/h", "credentials"),
        ("https://:pw@hooks.example.org/h", "credentials"),
        ("https://bob:pw@hooks.example.org/h", "credentials"),
        ("gopher://hooks.example.org/h", "scheme must be http or https"),
        ("javascript:alert(1)", "scheme must be http or https"),
        ("file:///etc/passwd", "scheme must be http or https"),
        ("dict://127.0.0.1:11211/", "scheme must be http or https"),
    ],
)
def test_rule_file_refuses_credentials_and_other_schemes_with_the_line(url, fragment):
    (problem,) = _problems(url)
    assert problem.line == 3 and problem.file == "rules.yaml"
    assert fragment in problem.message
    assert "pw@" not in problem.render()


def test_rule_file_accepts_an_http_url_to_a_private_host():
    # Addresses are judged at delivery time (names may resolve anywhere later), not at load time.
    ruleset = load_rule_text(
        f"subscribers:\n  - id: s\n    url: http://10.0.0.1/h\n    secret: {SECRET}\nrules: []\n", "rules.yaml"
    )
    assert "s" in ruleset.subscribers
