"""The SIP edge's protection counters: Kamailio's stats.fetch answer to Prometheus counters."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from bolna_sip_operator.edge.counters import COUNTERS, EdgeCounters, parse_stats

A, B = "http://10.0.1.5:5090/RPC", "http://10.0.1.6:5090/RPC"


def scrape(counters: EdgeCounters) -> str:
    registry = CollectorRegistry()
    registry.register(counters)
    return generate_latest(registry).decode()


def test_the_known_counters_are_parsed_and_anything_else_ignored() -> None:
    assert parse_stats({"script.edge_flood_bans": "3", "script.edge_flood_drops": "1200",
                        "script.edge_scanner_drops": "7", "script.other": "1",
                        "script.edge_call_limit_refusals": "not a number"}) == {
        "edge_flood_bans": 3, "edge_flood_drops": 1200, "edge_scanner_drops": 7}
    assert parse_stats([]) == {}
    assert parse_stats(None) == {}


def test_every_counter_is_exported_per_replica_as_a_counter() -> None:
    counters = EdgeCounters()
    counters.update([A, B], {A: dict.fromkeys(COUNTERS, 1), B: {"edge_flood_bans": 4}})
    text = scrape(counters)
    for name, _ in COUNTERS.values():
        assert f"# TYPE {name}_total counter" in text or f"# TYPE {name} counter" in text
        assert f'{name}_total{{replica="{A}"}} 1.0' in text
    assert f'bolna_sip_edge_flood_bans_total{{replica="{B}"}} 4.0' in text
    assert f'bolna_sip_edge_flood_drops_total{{replica="{B}"}}' not in text


def test_a_silent_replica_keeps_its_values_and_a_gone_one_loses_them() -> None:
    counters = EdgeCounters()
    counters.update([A, B], {A: {"edge_flood_bans": 1}, B: {"edge_flood_bans": 2}})
    counters.update([A, B], {A: {"edge_flood_bans": 5}})  # B did not answer
    text = scrape(counters)
    assert f'bolna_sip_edge_flood_bans_total{{replica="{A}"}} 5.0' in text
    assert f'bolna_sip_edge_flood_bans_total{{replica="{B}"}} 2.0' in text
    counters.update([A], {})  # B's pod is gone
    assert B not in scrape(counters)
