"""Benchmark P4: render and atomically write 10,000 dispatcher destinations, and how long
the real Kamailio takes to reload them.

    .venv/bin/python bench/edge_render.py --trunks 5000 --record

5,000 trunks of 2 gateways each are 10,000 destinations (target: render + write under
100 ms). Kamailio's reload is timed as the ``dispatcher.reload`` call, and until
``dispatcher.list`` reports every destination.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bolna_devenv.benchmarks import record
from bolna_devenv.kamailio import Kamailio
from bolna_sip_operator.edge.views import siptrunk_edge
from bolna_sip_operator.kamailio.render import Renderer, TrunkRoute, render
from bolna_sip_operator.kamailio.rpc import KamailioRpc
from bolna_sip_operator.kamailio.sink import FileSink
from bolna_sip_operator.model.spec import SipTrunkSpec


def _routes(trunks: int) -> list[TrunkRoute]:
    routes = []
    for index in range(trunks):
        spec = SipTrunkSpec.model_validate({
            "provider": "twilio", "authType": "ip-based",
            "ipIdentifiers": [{"ipAddress": f"10.{index // 250}.{index % 250}.0/24"}],
            "gateways": [{"gatewayAddress": f"10.{index // 250}.{index % 250}.1"},
                         {"gatewayAddress": f"10.{index // 250}.{index % 250}.2",
                          "priority": 2}]})
        routes.append(TrunkRoute("bench", f"trunk-{index}", index + 1, siptrunk_edge(spec)))
    return routes


def run(trunks: int, repeats: int, workdir: Path) -> dict[str, Any]:
    """Measure; return the figures."""
    routes = _routes(trunks)
    render_ms, write_ms = [], []
    sink = FileSink(workdir / "dispatcher.list", workdir / "address.list")
    for attempt in range(repeats):
        started = time.perf_counter()
        rendered = render(routes)
        rendered_at = time.perf_counter()
        # A fresh file each time, so every write is a real write.
        (workdir / "dispatcher.list").unlink(missing_ok=True)
        (workdir / "address.list").unlink(missing_ok=True)
        asyncio.run(sink.publish(rendered))
        done = time.perf_counter()
        if attempt:  # the first round warms caches
            render_ms.append((rendered_at - started) * 1000)
            write_ms.append((done - rendered_at) * 1000)
    total = [r + w for r, w in zip(render_ms, write_ms, strict=True)]
    # The sync loop's case: everything rendered before, then one trunk (P4's second
    # figure), or 1% of them, changed; each sample renders and writes the files again.
    renderer = Renderer()
    asyncio.run(sink.publish(renderer.render(routes)))

    def changed_render_ms(every: int, attempt: int) -> float:
        changed = [TrunkRoute(r.namespace, r.name, r.set_id,
                              dataclasses.replace(r.spec, active=attempt % 2 == 1))
                   if i % every == 0 else r for i, r in enumerate(routes)]
        started = time.perf_counter()
        asyncio.run(sink.publish(renderer.render(changed)))
        return (time.perf_counter() - started) * 1000

    one_changed = [changed_render_ms(len(routes), attempt) for attempt in range(repeats)]
    pct_changed = [changed_render_ms(100, attempt) for attempt in range(repeats)]
    with Kamailio(workdir / "kamailio", dispatcher_file=workdir / "dispatcher.list",
                  address_file=workdir / "address.list", ping_interval=3600) as kamailio:
        started = time.perf_counter()
        # Kamailio loaded the file at start; time one more reload of the same 10k lines.
        time.sleep(1.1)
        started = time.perf_counter()
        kamailio.rpc("dispatcher.reload")
        reload_call = time.perf_counter() - started

        async def count() -> int:
            replica = KamailioRpc(kamailio.rpc_url, timeout=30)
            try:
                return len(await replica.dispatcher_list())
            finally:
                await replica.aclose()

        loaded = asyncio.run(count())
        until_listed = time.perf_counter() - started
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{subprocess.getoutput('nproc')} cores",
        "destinations": len(rendered.destinations),
        "address_entries": len(rendered.addresses),
        "render_ms_median": round(statistics.median(render_ms), 1),
        "write_ms_median": round(statistics.median(write_ms), 1),
        "render_plus_write_ms_median": round(statistics.median(total), 1),
        "render_plus_write_ms_max": round(max(total), 1),
        "one_trunk_changed_render_plus_write_ms_median": round(
            statistics.median(one_changed), 1),
        "one_pct_changed_render_plus_write_ms_median": round(
            statistics.median(pct_changed), 1),
        "dispatcher_file_bytes": (workdir / "dispatcher.list").stat().st_size,
        "kamailio_reload_call_ms": round(reload_call * 1000, 1),
        "kamailio_reload_until_listed_ms": round(until_listed * 1000, 1),
        "kamailio_destinations_listed": loaded,
    }


def main() -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trunks", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--record", action="store_true",
                        help="append the result to bench/results/edge_render.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bolna-edge-bench-") as tmp:
        result = run(args.trunks, args.repeats, Path(tmp))
    print(json.dumps(result, indent=2))
    if args.record:
        record("edge_render", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
