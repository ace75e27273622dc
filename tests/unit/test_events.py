"""The Event recorder: which posts are one Event, and how few writes they cost."""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from typing import Any

import pytest

from bolna_sip_operator.events import (
    MESSAGE_LIMIT,
    NAME_LIMIT,
    EventAggregator,
    EventRecorder,
    ObjectRef,
    cap_text,
    event_body,
)

NOW = datetime.datetime(2026, 11, 26, 12, 0, tzinfo=datetime.UTC)
REF = ObjectRef("sip.bolna.ai/v1alpha1", "SipTrunk", "team", "twilio", "uid-1")
OTHER = ObjectRef("sip.bolna.ai/v1alpha1", "SipTrunk", "team", "plivo", "uid-2")


def _observe(aggregator: EventAggregator, at: float, message: str = "Bolna said 503",
             ref: ObjectRef = REF, type_: str = "Warning", reason: str = "ReconcileError"
             ) -> Any:
    return aggregator.observe(ref, type_, reason, message, now=at,
                              wall=NOW + datetime.timedelta(seconds=at))


# --- the pure aggregation ------------------------------------------------------------

def test_a_repeat_continues_the_series() -> None:
    aggregator = EventAggregator()
    first = _observe(aggregator, 0)
    again = _observe(aggregator, 3)
    assert again is first
    assert first.count == 2
    assert first.first_seen == NOW
    assert first.last_seen == NOW + datetime.timedelta(seconds=3)
    assert len(aggregator) == 1


@pytest.mark.parametrize("change", [
    {"message": "Bolna said 500"}, {"ref": OTHER}, {"type_": "Normal"}, {"reason": "Other"},
])
def test_any_part_of_the_key_differing_is_another_event(change: dict[str, Any]) -> None:
    aggregator = EventAggregator()
    first = _observe(aggregator, 0)
    other = _observe(aggregator, 1, **change)
    assert other is not first
    assert other.name != first.name
    assert (first.count, other.count) == (1, 1)


def test_the_window_counts_from_the_last_sighting() -> None:
    aggregator = EventAggregator(window=600)
    first = _observe(aggregator, 0)
    assert _observe(aggregator, 500) is first
    assert _observe(aggregator, 1099) is first  # 599 s after the last one
    later = _observe(aggregator, 1700)  # 601 s of silence: a new Event
    assert later is not first
    assert later.count == 1
    assert len(aggregator) == 1  # the old series was forgotten


def test_memory_is_capped_least_recently_seen_first() -> None:
    aggregator = EventAggregator(max_entries=3)
    series = [_observe(aggregator, i, message=f"m{i}") for i in range(3)]
    _observe(aggregator, 3, message="m0")  # m0 is now the most recent
    _observe(aggregator, 4, message="m3")  # m1 goes
    assert len(aggregator) == 3
    assert {s.message for s in aggregator} == {"m0", "m2", "m3"}
    assert _observe(aggregator, 5, message="m1") is not series[1]


def test_event_names_are_object_name_dot_hex_nanoseconds_and_unique() -> None:
    aggregator = EventAggregator()
    a = aggregator.event_name(REF, NOW)
    b = aggregator.event_name(REF, NOW)  # the same instant: still another name
    prefix, _, digits = a.rpartition(".")
    assert prefix == "twilio"
    assert int(digits, 16) == int(NOW.timestamp()) * 1_000_000_000
    assert b != a
    assert int(b.rpartition(".")[2], 16) > int(digits, 16)


def test_a_long_object_name_still_gives_a_valid_event_name() -> None:
    long_ref = ObjectRef("v1", "SipTrunk", "team", "a" * 235 + "-b" + "c" * 16, "u")
    name = EventAggregator().event_name(long_ref, NOW)
    assert len(name) <= NAME_LIMIT
    assert "-." not in name and ".." not in name


def test_messages_are_capped_at_1024_bytes_without_splitting_characters() -> None:
    assert cap_text("short", MESSAGE_LIMIT) == "short"
    assert cap_text("x" * 1024, MESSAGE_LIMIT) == "x" * 1024
    long = cap_text("x" * 5000, MESSAGE_LIMIT)
    assert len(long) == 1024
    assert long.endswith("...")
    wide = cap_text("é" * 1000, MESSAGE_LIMIT)  # 2000 bytes
    assert len(wide.encode()) <= 1024
    assert wide.endswith("...")
    assert wide[:-3] == "é" * len(wide[:-3])


def test_the_written_event_names_the_operator_and_the_object() -> None:
    series = _observe(EventAggregator(), 0)
    body = event_body(series, 7, component="bolna-sip-operator", instance="pod-1")
    assert body["metadata"] == {"name": series.name, "namespace": "team"}
    assert body["involvedObject"] == {
        "apiVersion": "sip.bolna.ai/v1alpha1", "kind": "SipTrunk", "namespace": "team",
        "name": "twilio", "uid": "uid-1"}
    assert body["count"] == 7
    assert body["source"] == {"component": "bolna-sip-operator"}
    assert body["reportingComponent"] == "bolna-sip-operator"
    assert body["reportingInstance"] == "pod-1"
    assert body["firstTimestamp"] == "2026-11-26T12:00:00Z"


def test_object_ref_from_a_body() -> None:
    body = {"apiVersion": "sip.bolna.ai/v1alpha1", "kind": "SipTrunk",
            "metadata": {"namespace": "team", "name": "twilio", "uid": "uid-1"}}
    assert ObjectRef.from_body(body) == REF


# --- the recorder, on a fake apiserver ----------------------------------------------

class FakeEvents:
    """Creates and patches, recorded; optionally failing."""

    def __init__(self) -> None:
        self.events: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str, int]] = []
        self.fail_with: Exception | None = None
        self.conflicts = 0
        """How many creates to answer "name taken" (409)."""

    async def create_event(self, namespace: str, event: dict[str, Any]) -> bool:
        name = event["metadata"]["name"]
        self.calls.append(("create", name, event["count"]))
        await asyncio.sleep(0.01)
        if self.fail_with is not None:
            raise self.fail_with
        if self.conflicts or name in self.events:
            self.conflicts = max(0, self.conflicts - 1)
            return False
        self.events[name] = dict(event)
        return True

    async def patch_event(self, namespace: str, name: str, patch: dict[str, Any]) -> bool:
        self.calls.append(("patch", name, patch["count"]))
        await asyncio.sleep(0.01)
        if self.fail_with is not None:
            raise self.fail_with
        if name not in self.events:
            return False
        self.events[name].update(patch)
        return True


class HttpError(Exception):
    """Like the client's ApiException: its text carries the response body."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"({status}) body: {body}")
        self.status, self.reason = status, "Internal Server Error"


def test_a_burst_of_identical_posts_is_one_create() -> None:
    fake = FakeEvents()

    async def scenario() -> None:
        recorder = EventRecorder(fake, instance="pod-1")
        for _ in range(30):
            recorder.post(REF, "Warning", "ReconcileError", "Bolna said 503")
        await recorder.aclose()

    asyncio.run(scenario())
    assert [(kind, count) for kind, _, count in fake.calls] == [("create", 30)]
    (event,) = fake.events.values()
    assert event["count"] == 30


def test_repeats_over_time_are_coalesced_and_the_final_count_is_written() -> None:
    fake = FakeEvents()

    async def scenario() -> tuple[EventRecorder, float]:
        recorder = EventRecorder(fake, instance="pod-1", min_interval=0.3)
        started = time.monotonic()
        for _ in range(30):
            recorder.post(REF, "Warning", "ReconcileError", "Bolna said 503")
            await asyncio.sleep(0.02)  # 30 posts over ~0.6 s
        elapsed = time.monotonic() - started
        await recorder.aclose()
        return recorder, elapsed

    recorder, elapsed = asyncio.run(scenario())
    kinds = [kind for kind, _, _ in fake.calls]
    assert kinds[0] == "create"
    assert set(kinds[1:]) == {"patch"}
    # The create, at most a patch per 0.3 s, the flush at close.
    assert 2 <= len(fake.calls) <= 2 + elapsed / 0.3
    assert recorder.calls == len(fake.calls)
    (event,) = fake.events.values()
    assert event["count"] == 30
    assert fake.calls[-1][2] == 30


def test_two_messages_are_two_events() -> None:
    fake = FakeEvents()

    async def scenario() -> None:
        recorder = EventRecorder(fake, instance="pod-1")
        recorder.post(REF, "Warning", "ReconcileError", "Bolna said 503")
        recorder.post(REF, "Warning", "ReconcileError", "Bolna said 500")
        recorder.post(REF, "Warning", "ReconcileError", "Bolna said 503")
        await recorder.aclose()

    asyncio.run(scenario())
    assert sorted((e["message"], e["count"]) for e in fake.events.values()) == [
        ("Bolna said 500", 1), ("Bolna said 503", 2)]


def test_failures_are_logged_without_the_answer_and_retried_at_close(
        caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeEvents()
    fake.fail_with = HttpError(500, '{"message": "THE-EVENT-MESSAGE"}')

    async def scenario() -> None:
        recorder = EventRecorder(fake, instance="pod-1", min_interval=60)
        recorder.post(REF, "Warning", "ReconcileError", "THE-EVENT-MESSAGE")  # no raise
        await asyncio.sleep(0.05)
        recorder.post(REF, "Warning", "ReconcileError", "THE-EVENT-MESSAGE")
        await asyncio.sleep(0.05)
        assert len(fake.calls) == 1  # the second waits out the interval
        fake.fail_with = None
        await recorder.aclose()

    with caplog.at_level(logging.WARNING, logger="bolna_sip_operator.events"):
        asyncio.run(scenario())
    assert "HTTP 500" in caplog.text
    assert "THE-EVENT-MESSAGE" not in caplog.text
    assert [(kind, count) for kind, _, count in fake.calls] == [("create", 1), ("create", 2)]
    assert [e["count"] for e in fake.events.values()] == [2]


def test_an_event_gone_is_created_again_with_the_whole_count() -> None:
    fake = FakeEvents()

    async def scenario() -> None:
        recorder = EventRecorder(fake, instance="pod-1", min_interval=0.05)
        recorder.post(REF, "Warning", "ReconcileError", "Bolna said 503")
        while not fake.events:
            await asyncio.sleep(0.01)
        fake.events.clear()  # expired (event TTL) or deleted by someone
        recorder.post(REF, "Warning", "ReconcileError", "Bolna said 503")
        await recorder.aclose()

    asyncio.run(scenario())
    assert [(kind, count) for kind, _, count in fake.calls] == [
        ("create", 1), ("patch", 2), ("create", 2)]
    assert fake.calls[0][1] != fake.calls[2][1]
    assert [e["count"] for e in fake.events.values()] == [2]


def test_a_taken_name_gets_another() -> None:
    fake = FakeEvents()

    async def scenario() -> None:
        recorder = EventRecorder(fake, instance="pod-1")
        fake.conflicts = 1
        recorder.post(REF, "Normal", "Created", "created in Bolna")
        await recorder.aclose()

    asyncio.run(scenario())
    assert [kind for kind, _, _ in fake.calls] == ["create", "create"]
    assert fake.calls[0][1] != fake.calls[1][1]
    assert len(fake.events) == 1


def test_posting_without_a_loop_or_after_close_never_raises() -> None:
    fake = FakeEvents()
    recorder = EventRecorder(fake, instance="pod-1")
    recorder.post(REF, "Warning", "ReconcileError", "no loop here")

    async def scenario() -> None:
        await recorder.aclose()
        recorder.post(REF, "Warning", "ReconcileError", "after close")
        await asyncio.sleep(0.02)

    asyncio.run(scenario())
    assert fake.calls == []


def test_posts_from_a_thread_are_handed_to_the_loop() -> None:
    fake = FakeEvents()

    async def scenario() -> None:
        recorder = EventRecorder(fake, instance="pod-1")

        def handler() -> None:  # a synchronous Kopf handler, in Kopf's thread pool
            for _ in range(3):
                recorder.post(REF, "Normal", "Created", "created in Bolna")

        await asyncio.to_thread(handler)
        await asyncio.sleep(0.02)  # the handed-over posts run on the loop
        await recorder.aclose()

    asyncio.run(scenario())
    assert [e["count"] for e in fake.events.values()] == [3]


def test_the_instance_defaults_to_the_pod_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POD_NAME", "bolna-sip-operator-7d9f-abcde")
    assert EventRecorder(FakeEvents()).instance == "bolna-sip-operator-7d9f-abcde"
    monkeypatch.delenv("POD_NAME")
    assert EventRecorder(FakeEvents()).instance  # the host name
