"""Which endpoints of Kamailio's Service count as replicas."""

from __future__ import annotations

from typing import Any

from bolna_sip_operator.kamailio.discovery import ready_endpoints, rpc_url


def _slice(port: int | None, *endpoints: dict[str, Any], name: str = "rpc"
           ) -> dict[str, Any]:
    return {"ports": [{"name": "sip-udp", "port": 5060},
                      {"name": name, "port": port}],
            "endpoints": list(endpoints)}


def test_only_ready_or_unknown_endpoints_count() -> None:
    found = ready_endpoints([_slice(
        5090,
        {"addresses": ["10.0.0.1"], "conditions": {"ready": True}},
        {"addresses": ["10.0.0.2"], "conditions": {"ready": False, "terminating": True}},
        {"addresses": ["10.0.0.3"], "conditions": {}},  # unknown: treated as ready
        {"addresses": ["10.0.0.4"]},
    )], "rpc")
    assert found == [("10.0.0.1", 5090), ("10.0.0.3", 5090), ("10.0.0.4", 5090)]


def test_slices_without_the_named_port_or_addresses_are_ignored() -> None:
    found = ready_endpoints([
        _slice(5090, {"addresses": ["10.0.0.1"]}, name="metrics"),
        _slice(None, {"addresses": ["10.0.0.2"]}),
        _slice(5090, {"addresses": [], "conditions": {"ready": True}}),
        {"endpoints": [{"addresses": ["10.0.0.5"]}]},
    ], "rpc")
    assert found == []


def test_an_endpoint_in_two_slices_is_one_replica_and_the_first_address_is_used() -> None:
    endpoint = {"addresses": ["10.0.0.1", "10.0.0.9"], "conditions": {"ready": True}}
    assert ready_endpoints([_slice(5090, endpoint), _slice(5090, endpoint)], "rpc") == [
        ("10.0.0.1", 5090)]


def test_rpc_urls_bracket_ipv6() -> None:
    assert rpc_url("10.0.0.1", 5090) == "http://10.0.0.1:5090/RPC"
    assert rpc_url("fd00::1", 5090) == "http://[fd00::1]:5090/RPC"
    assert rpc_url("kamailio-0.example.org", 5090) == "http://kamailio-0.example.org:5090/RPC"
