"""One validation for both halves: what the Bolna half refuses, the edge does not write."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from bolna_sip_operator.edge import DnsSettings, Edge
from bolna_sip_operator.kamailio.sink import FileSink
from bolna_sip_operator.reconcile.objects import TrunkObject
from bolna_sip_operator.reconcile.status_owner import StatusOwner
from tests.corpus import USERPASS_SPEC


class _Nowhere:
    async def patch_status(self, namespace: str, name: str, status: dict[str, Any],
                           **_: Any) -> None:
        return None


def _trunk(name: str, uid: str, **spec: Any) -> TrunkObject:
    return TrunkObject(namespace="team", name=name, uid=uid, generation=1,
                       spec={**USERPASS_SPEC, **spec}, annotations={}, status={})


def test_a_spec_the_operator_refuses_renders_nothing(tmp_path: Path) -> None:
    sink = FileSink(tmp_path / "dispatcher.list", tmp_path / "address.list")
    hosts = tmp_path / "hosts"  # the gateway's name, resolved without a DNS server
    hosts.write_text("192.0.2.10 your-trunk.pstn.twilio.com\n")
    edge = Edge(sink, [], StatusOwner(_Nowhere(), edge_managed=True), lambda *_: None,
                dns=DnsSettings(servers=("127.0.0.1:9",), hosts_file=hosts))
    # Each passes an older or edited CRD, and each is refused by the operator's rules.
    edge.upsert(_trunk("sdes-over-udp", "u1", mediaEncryption="sdes",
                       transport="transport-udp"))
    edge.upsert(_trunk("twice", "u2", gateways=[{"gatewayAddress": "10.0.0.1"},
                                                {"gatewayAddress": "10.0.0.1"}]))
    edge.upsert(_trunk("typed-wrong", "u3", qualifyFrequency="60"))
    edge.upsert(_trunk("fine", "u4"))

    async def scenario() -> None:
        await edge.sync_once()
        written = (tmp_path / "dispatcher.list").read_text()
        assert "trunk=team/fine" in written
        for refused in ("sdes-over-udp", "twice", "typed-wrong"):
            assert f"trunk=team/{refused}" not in written
        # A trunk that becomes invalid leaves the lists at the next sync.
        edge.upsert(_trunk("fine", "u4", mediaEncryption="sdes", transport="transport-udp"))
        await edge.sync_once()
        assert "trunk=team/fine" not in (tmp_path / "dispatcher.list").read_text()

    asyncio.run(scenario())
