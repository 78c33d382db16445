"""Client address behind trusted proxies, and the per-address back-off (issue 13, finding 2)."""

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openkap.core.netaddr import backoff_seconds, client_address, parse_networks

PROXY = parse_networks(["10.0.0.5", "172.16.0.0/12"])


def test_without_a_trusted_proxy_the_forwarded_header_is_ignored():
    # A client writing its own X-Forwarded-For cannot choose its address.
    assert client_address("203.0.113.9", "198.51.100.1", PROXY) == "203.0.113.9"


def test_behind_the_proxy_the_right_most_untrusted_address_is_the_client():
    # nginx appends $remote_addr: "spoofed, real client".
    assert client_address("10.0.0.5", "1.2.3.4, 203.0.113.9", PROXY) == "203.0.113.9"


def test_a_chain_of_trusted_proxies_is_skipped():
    assert client_address("10.0.0.5", "203.0.113.9, 172.16.3.4", PROXY) == "203.0.113.9"


def test_all_hops_trusted_gives_the_left_most():
    assert client_address("10.0.0.5", "172.16.0.1", PROXY) == "172.16.0.1"


def test_a_malformed_hop_stops_at_the_last_trusted_one():
    assert client_address("10.0.0.5", "203.0.113.9, garbage", PROXY) == "10.0.0.5"


def test_ports_and_ipv6_are_understood():
    v6 = parse_networks(["::1"])
    assert client_address("::1", "[2001:db8::7]:5555", v6) == "2001:db8::7"
    assert client_address("10.0.0.5", "203.0.113.9:443", PROXY) == "203.0.113.9"


def test_a_bad_network_is_named():
    with pytest.raises(ValueError, match=r"'10\.0\.0\.300'"):
        parse_networks(["10.0.0.300"])


@given(st.lists(st.ip_addresses(v=4).map(str), min_size=1, max_size=6), st.ip_addresses(v=4).map(str))
def test_the_answer_is_always_the_peer_or_one_of_the_forwarded_hops(hops, peer):
    trusted = parse_networks(["10.0.0.0/8"])
    answer = client_address(peer, ", ".join(hops), trusted)
    assert answer == peer or answer in hops
    # No trusted address is reported while an untrusted one is to its right.
    if ipaddress.ip_address(peer) in trusted[0]:
        untrusted = [h for h in hops if ipaddress.ip_address(h) not in trusted[0]]
        if untrusted:
            assert answer == untrusted[-1]


def test_backoff_is_free_then_doubles_then_caps():
    assert [backoff_seconds(n, free=3) for n in range(0, 8)] == [0, 0, 0, 1, 2, 4, 8, 16]
    assert backoff_seconds(40, free=3) == 900
    assert backoff_seconds(10**6, free=3, cap=60) == 60


@given(st.integers(0, 200), st.integers(1, 50))
def test_backoff_never_decreases_with_more_failures(n, free):
    assert backoff_seconds(n + 1, free=free) >= backoff_seconds(n, free=free)
