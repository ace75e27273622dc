"""Benchmark: the operator's Bolna client against answers too big or too slow.

A misbehaving HTTP server on loopback (a child process) answers 30 MB: an error whose
JSON body is a huge validation list (what took the operator to 1.1 GB), a success list
with and without a Content-Length, a gzip bomb; and an answer trickled one byte a
second that never ends. Each scenario runs in a fresh process that makes the client as
the operator does, with the default limits, warms it up on a small answer, then takes
the scenario ``--repeats`` times and reports its resident memory before, at the peak
(VmHWM, reset after the warm-up) and after (gc run, nothing trimmed), from /proc; then
after glibc's ``malloc_trim``, which gives back what the allocator holds free: what is
left then is held by live objects.

The same scenarios run "before": the client as it was, emulated exactly (httpx reads
the whole body, then the error message is parsed from all of it, or the list
validated), for the figures to compare.

    .venv/bin/python bench/bolna_answer_bounds.py --record

Prints a JSON summary and, with --record, appends it with the command to
bench/results/bolna_answer_bounds.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import datetime as dt
import gc
import gzip
import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

CHUNK = 64 * 1024
BIG = 30 * 1024 * 1024
SCENARIOS = ("error-json-30mb", "success-30mb", "success-30mb-chunked", "gzip-bomb",
             "trickle", "list-1000-trunks")


# The server (a child process)

def _trunk(index: int) -> dict[str, Any]:
    stamp = "2026-01-15T10:30:00Z"
    return {
        "id": f"01HQ{index:022d}", "name": f"bench-{index:05d}-sip-trunk",
        "provider": "twilio", "auth_type": "userpass", "auth_username": f"user{index}",
        "gateways": [{"id": f"01GW{index:018d}{g:04d}", "port": 5060, "priority": g + 1,
                      "gateway_address": f"gw{index}-{g}.sip.carrier-example.com",
                      "created_at": stamp} for g in range(2)],
        "ip_identifiers": [],
        "phone_numbers": [{"id": f"01PN{index:018d}{n:04d}",
                           "phone_number": f"+91{index:08d}{n:02d}", "name": f"line {n}",
                           "deleted": False, "created_at": stamp} for n in range(2)],
        "allow": "ulaw,alaw", "disallow": "all", "transport": "transport-udp",
        "media_encryption": "no", "qualify_frequency": 60, "is_active": True,
        "created_at": stamp, "updated_at": stamp,
    }


def _bodies() -> dict[str, tuple[int, dict[str, str], bytes]]:
    """Status, headers and body of each scenario."""
    item = json.dumps({"loc": ["body", 0], "msg": "invalid"}, separators=(",", ":")
                      ).encode()  # FastAPI's validation list, one short entry per item
    count = BIG // (len(item) + 1)
    error = b'{"detail": [' + b",".join([item] * count) + b"]}"
    trunk = json.dumps(_trunk(0)).encode()
    success = b"[" + b",".join([trunk] * (BIG // (len(trunk) + 1))) + b"]"
    listed = json.dumps([_trunk(i) for i in range(1000)]).encode()
    packed = gzip.compress(b"[" + b" " * BIG + b"]", compresslevel=9)
    json_type = {"Content-Type": "application/json"}
    return {
        "error-json-30mb": (422, json_type, error),
        "success-30mb": (200, json_type, success),
        "success-30mb-chunked": (200, {**json_type, "Transfer-Encoding": "chunked"},
                                 success),
        "gzip-bomb": (200, {**json_type, "Content-Encoding": "gzip"}, packed),
        "list-1000-trunks": (200, json_type, listed),
        "small": (200, json_type, b"[" + json.dumps(_trunk(1)).encode() + b"]"),
    }


async def _serve(port_file: Path) -> None:
    bodies = _bodies()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            head = await reader.readuntil(b"\r\n\r\n")
            scenario = head.split(b" ", 2)[1].decode().strip("/")
            if scenario == "trickle":
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4096\r\n\r\n[")
                while True:  # a byte a second, for ever: each read well within a timeout
                    await writer.drain()
                    await asyncio.sleep(1.0)
                    writer.write(b" ")
            status, headers, body = bodies[scenario]
            chunked = headers.get("Transfer-Encoding") == "chunked"
            lines = [f"HTTP/1.1 {status} Bench", "Connection: close",
                     *(f"{k}: {v}" for k, v in headers.items())]
            if not chunked:
                lines.append(f"Content-Length: {len(body)}")
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
            view = memoryview(body)
            for start in range(0, len(body), CHUNK):
                piece = view[start:start + CHUNK]
                writer.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                await writer.drain()
            if chunked:
                writer.write(b"0\r\n\r\n")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port_file.write_text(str(server.sockets[0].getsockname()[1]))
    async with server:
        await server.serve_forever()


# One measurement (a child process)

def _memory() -> tuple[float, float]:
    """(VmRSS, VmHWM) in MB."""
    fields = dict(line.split(":", 1) for line in
                  Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024)


async def _measure(url: str, scenario: str, mode: str, repeats: int, watch: float
                   ) -> dict[str, Any]:
    import httpx
    from pydantic import TypeAdapter

    from bolna_sip_operator import handlers  # noqa: F401  (the operator's imports)
    from bolna_sip_operator.bolna import ApiPaths, BolnaClient, BolnaError, Redactor, Trunk
    from bolna_sip_operator.bolna.errors import error_from_response

    trunks: TypeAdapter[list[Trunk]] = TypeAdapter(list[Trunk])
    bounded = BolnaClient("bench-token", base_url=url, paths=ApiPaths(f"/{scenario}"))
    warm = BolnaClient("bench-token", base_url=url, paths=ApiPaths("/small"))
    before = httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(10.0))

    async def call_before(path: str) -> str:
        """The client as it was: the whole body read, then parsed whole."""
        response = await before.request("GET", path)
        if response.is_success:
            return f"{len(trunks.validate_json(response.content))} trunks"
        error = error_from_response(
            status=response.status_code, body=response.content,
            reason=response.reason_phrase, retry_after=None, method="GET", path=path,
            redactor=Redactor(["bench-token"]))
        return f"{type(error).__name__}: {str(error)[:120]}"

    async def call() -> str:
        if mode == "before":
            return await call_before(f"/{scenario}")
        try:
            return f"{len(await bounded.list_trunks())} trunks"
        except BolnaError as error:
            return f"{type(error).__name__}: {str(error)[:200]}"

    await warm.list_trunks()
    await call_before("/small")
    gc.collect()
    baseline, _ = _memory()
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM starts again from here
    outcomes, elapsed = [], []
    for _ in range(repeats):
        started = time.monotonic()
        try:
            outcomes.append(await asyncio.wait_for(call(), watch))
        except TimeoutError:
            outcomes.append(f"still reading after {watch:g}s: given up by the benchmark")
        elapsed.append(round(time.monotonic() - started, 2))
    gc.collect()
    after, peak = _memory()
    ctypes.CDLL(None).malloc_trim(0)  # what the allocator holds, free, goes back
    trimmed, _ = _memory()
    received = bounded.counts.bytes_received if mode == "bounded" else None
    await bounded.aclose()
    await warm.aclose()
    await before.aclose()
    return {"scenario": scenario, "client": mode, "outcome": sorted(set(outcomes)),
            "seconds_per_call": elapsed, "bytes_received": received,
            "rss_baseline_mb": round(baseline, 1), "rss_peak_mb": round(peak, 1),
            "rss_after_mb": round(after, 1), "peak_over_baseline_mb": round(peak - baseline, 1),
            "after_over_baseline_mb": round(after - baseline, 1),
            "after_malloc_trim_over_baseline_mb": round(trimmed - baseline, 1)}


# The driver

def run(repeats: int, watch: float, scenarios: list[str]) -> dict[str, Any]:
    """Start the server, measure each scenario in a fresh process; return the figures."""
    port_file = Path(f"/tmp/bolna-answer-bounds-{time.time_ns()}.port")
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port_file)])
    try:
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text():
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("the misbehaving server did not start")
            time.sleep(0.1)
        url = f"http://127.0.0.1:{port_file.read_text()}"
        results = []
        for scenario in scenarios:
            for mode in ("bounded", "before"):
                print(f"{scenario} ({mode})", file=sys.stderr)
                times = 1 if scenario == "trickle" else repeats  # each takes a deadline
                child = subprocess.run(
                    [sys.executable, __file__, "--measure", scenario, "--client", mode,
                     "--url", url, "--repeats", str(times), "--watch", str(watch)],
                    capture_output=True, text=True, check=True)
                results.append(json.loads(child.stdout))
    finally:
        server.terminate()
        server.wait(10)
        port_file.unlink(missing_ok=True)
    from bolna_sip_operator.bolna.client import DEFAULT_DEADLINE, DEFAULT_MAX_ANSWER_BYTES
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {subprocess.getoutput('nproc')} cores",
        "python": platform.python_version(),
        "max_answer_bytes": DEFAULT_MAX_ANSWER_BYTES,
        "request_deadline_seconds": DEFAULT_DEADLINE,
        "repeats": repeats,
        "results": results,
    }


def main() -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3,
                        help="calls per scenario, in one process (default 3; the trickle "
                             "is called once)")
    parser.add_argument("--watch", type=float, default=60.0,
                        help="give up on one call after this long (default 60 s: the "
                             "'before' client never ends a trickled answer)")
    parser.add_argument("--scenario", action="append", choices=SCENARIOS,
                        help="only this scenario (repeatable; default all)")
    parser.add_argument("--record", action="store_true",
                        help="append the result to bench/results/bolna_answer_bounds.md")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--measure", choices=SCENARIOS, help=argparse.SUPPRESS)
    parser.add_argument("--client", choices=("bounded", "before"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        asyncio.run(_serve(args.serve))
        return 0
    if args.measure is not None:
        print(json.dumps(asyncio.run(_measure(args.url, args.measure, args.client,
                                              args.repeats, args.watch))))
        return 0
    result = run(args.repeats, args.watch, args.scenario or list(SCENARIOS))
    print(json.dumps(result, indent=2))
    if args.record:
        from bolna_devenv.benchmarks import record
        record("bolna_answer_bounds", result, "30 MB and trickled answers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
