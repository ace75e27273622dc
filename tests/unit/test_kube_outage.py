"""An unreachable Kubernetes API is logged once and once back: ``KubeOutage`` on a fake
clock, and the filter that folds Kopf's own failed attempts into it."""

from __future__ import annotations

import logging

import aiohttp
import pytest

from bolna_sip_operator.kube_api import ApiError
from bolna_sip_operator.kube_outage import (
    MARKER,
    KopfRequestFilter,
    KubeOutage,
    is_unreachable,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _outage() -> tuple[KubeOutage, Clock, list[tuple[int, str]]]:
    lines: list[tuple[int, str]] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append((record.levelno, record.getMessage()))

    logger = logging.getLogger("test_kube_outage")
    logger.handlers[:] = [Collect()]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    clock = Clock()
    return KubeOutage(clock, logger), clock, lines


def test_what_counts_as_unreachable() -> None:
    assert is_unreachable(aiohttp.ServerDisconnectedError())
    assert is_unreachable(aiohttp.ClientPayloadError("cut"))
    assert is_unreachable(TimeoutError())
    assert is_unreachable(ApiError(503, "ServiceUnavailable", ""))
    assert not is_unreachable(ApiError(500, "InternalError", "failed calling webhook"))
    assert not is_unreachable(ApiError(404, "NotFound", ""))
    assert not is_unreachable(ValueError("a bug"))


def test_an_outage_is_one_warning_and_one_info_however_many_calls_fail() -> None:
    outage, clock, lines = _outage()
    for _ in range(50):
        started = clock()
        clock.now += 0.1
        outage.failed(aiohttp.ServerDisconnectedError(), started=started)
    assert outage.down and outage.failures == 50
    outage.succeeded(started=clock.now - 10)  # began before the outage: no news
    assert outage.down
    clock.now += 40
    outage.succeeded(started=clock.now - 0.5)
    assert not outage.down
    assert [level for level, _ in lines] == [logging.WARNING, logging.INFO]
    assert lines[0][1].startswith(MARKER) and lines[0][1].endswith("; retrying")
    assert "reachable again after 45 s (50 failed call(s)" in lines[1][1]


def test_a_call_that_began_during_the_outage_and_fails_after_it_opens_none() -> None:
    outage, clock, lines = _outage()
    begun = clock()
    outage.failed(TimeoutError(), started=begun)
    clock.now += 5
    outage.succeeded(started=clock.now - 1)
    clock.now += 1
    assert not outage.failed(TimeoutError(), started=begun)
    assert not outage.down and len(lines) == 2
    assert outage.failed(TimeoutError(), started=clock.now)  # a new call: a new outage
    assert outage.outages == 2


def test_work_held_back_runs_once_the_api_is_back() -> None:
    outage, clock, _ = _outage()
    ran: list[str] = []
    outage.after_recovery(lambda: ran.append("at once"))
    outage.failed(TimeoutError())
    outage.after_recovery(lambda: ran.append("first"))
    outage.after_recovery(lambda: ran.append("second"))
    assert ran == ["at once"]
    outage.succeeded(started=clock.now)
    assert ran == ["at once", "first", "second"]
    outage.failed(TimeoutError())
    outage.succeeded(started=clock.now)
    assert ran == ["at once", "first", "second"]  # each only once


@pytest.mark.parametrize(("message", "kept", "opens"), [
    ("Request attempt #2/9 failed; will retry: PATCH https://10.0.0.1/apis/x -> "
     "ClientConnectorError(ConnectionKey(host='10.0.0.1'), ConnectionRefusedError(111))",
     False, True),
    ("Request attempt #1/9 failed; will retry: GET https://a/b -> "
     "APIServerError('etcd', {...})", True, False),
    ("Request attempt #9/9 failed; escalating: GET https://a/b -> ClientConnectorError()",
     True, False),
    (f"Handler 'reconcile_trunk' failed temporarily: {MARKER} (TimeoutError)",
     False, False),
    ("Handler 'reconcile_trunk' failed temporarily: Bolna is rate limiting", True, False),
])
def test_kopfs_failed_attempts_are_folded_into_the_outage(message: str, kept: bool,
                                                          opens: bool) -> None:
    outage, _, lines = _outage()
    record = logging.LogRecord("kopf.objects", logging.ERROR, __file__, 1, message, None,
                               None)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.INFO)
    try:
        assert KopfRequestFilter(outage).filter(record) is kept
    finally:
        root.setLevel(level)
    assert outage.down is opens
    assert (record.levelno == logging.ERROR) is kept  # demoted to DEBUG when folded
    assert len(lines) == (1 if opens else 0)
