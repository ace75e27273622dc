"""The ``/trunk`` wire models: read what Bolna documents, keep what it adds, say "not
said" (None) for what it leaves out, and map its health in one place that never fails."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from bolna_sip_operator.bolna import (
    HEALTH_STATES,
    BolnaHealth,
    CallRecord,
    ConnectionDetails,
    GatewayRecord,
    HealthState,
    IpAclRecord,
    NumberRecord,
    TrunkRecord,
    live_numbers,
    read_health,
)
from bolna_sip_operator.bolna.trunk_wire import (
    MAX_REPORTED_LENGTH,
    CallList,
    TrunkList,
    read_count,
    read_port_range,
)

TRUNK_ID = "3f2b8c1e-6d4a-4f7b-9e2c-1a5d7b9c0e21"

# Bolna's own examples, as far as its pages show them (bolna-trunk-api.md), completed
# with the fields the contract assumes after ``transport``.
NUMBER = {
    "id": "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9",
    "trunk_id": TRUNK_ID,
    "e164": "+12025550143",
    "destination_key": "12025550143",
    "agent_id": "123e4567-e89b-12d3-a456-426614174000",
    "last_inbound_at": None,
    "last_outbound_at": "2026-05-09T10:00:00Z",
    "created_at": "2026-05-09T10:00:00Z",
    "updated_at": "2026-05-09T10:00:00Z",
    "is_deleted": False,
    "deleted_at": None,
}

TRUNK: dict[str, Any] = {
    "id": TRUNK_ID,
    "name": "Telnyx production",
    "description": None,
    "preset": "telnyx",
    "is_active": True,
    "inbound_enabled": True,
    "outbound_enabled": True,
    "channels": 20,
    "default_inbound_agent_id": None,
    "auth_username": "bolna-outbound",
    "transport": "udp",
    "codecs": "PCMA,PCMU",
    "outbound_leading_plus_enabled": False,
    "gateways": [{"id": "g1", "host": "sip.example.com", "port": 5060, "priority": 1}],
    "ip_acls": [{"id": "a1", "cidr": "198.51.100.0/28"}],
    "numbers": [NUMBER],
    "health": "waiting_for_carrier",
    "active_calls": 0,
    "created_at": "2026-05-09T10:00:00Z",
    "updated_at": "2026-05-09T10:00:00Z",
}


# Records

def test_a_whole_trunk_reads_every_field() -> None:
    trunk = TrunkRecord.model_validate(TRUNK)
    assert trunk.id == TRUNK_ID
    assert trunk.name == "Telnyx production"
    assert trunk.preset == "telnyx"
    assert trunk.is_active is True
    assert trunk.channels == 20
    assert trunk.auth_username == "bolna-outbound"
    assert trunk.transport == "udp"
    assert trunk.codecs == "PCMA,PCMU"
    assert trunk.codec_list() == ["PCMA", "PCMU"]
    assert trunk.outbound_leading_plus_enabled is False
    assert trunk.gateways == [GatewayRecord(id="g1", host="sip.example.com", port=5060,
                                            priority=1)]
    assert trunk.ip_acls == [IpAclRecord(id="a1", cidr="198.51.100.0/28")]
    assert trunk.numbers is not None and trunk.numbers[0].e164 == "+12025550143"
    assert trunk.health == BolnaHealth("WaitingForCarrier", "waiting_for_carrier")
    assert trunk.active_calls == 0
    assert trunk.created_at == datetime(2026, 5, 9, 10, 0, tzinfo=UTC)


def test_an_empty_object_is_a_trunk_of_which_nothing_is_said() -> None:
    """Every field is optional and None means "Bolna did not say", never a default."""
    trunk = TrunkRecord.model_validate({})
    assert all(getattr(trunk, name) is None for name in TrunkRecord.model_fields)
    assert trunk.live_numbers() is None
    assert trunk.codec_list() is None


def test_null_is_not_said() -> None:
    trunk = TrunkRecord.model_validate(dict.fromkeys(TRUNK))
    assert all(getattr(trunk, name) is None for name in TrunkRecord.model_fields)


def test_unknown_fields_are_kept_at_every_level() -> None:
    raw = {**TRUNK, "region": "ap-south-1",
           "gateways": [{**TRUNK["gateways"][0], "transport": "tcp"}],
           "ip_acls": [{"id": "a1", "cidr": "10.0.0.1/32", "note": "edge"}],
           "numbers": [{**NUMBER, "label": "support"}]}
    trunk = TrunkRecord.model_validate(raw)
    assert trunk.model_extra == {"region": "ap-south-1"}
    assert trunk.gateways is not None and trunk.gateways[0].model_extra == {"transport": "tcp"}
    assert trunk.ip_acls is not None and trunk.ip_acls[0].model_extra == {"note": "edge"}
    assert trunk.numbers is not None and trunk.numbers[0].model_extra == {"label": "support"}
    assert trunk.model_dump(mode="json")["region"] == "ap-south-1"


def test_the_delete_answer_is_a_trunk_without_children_or_live_status() -> None:
    settings = {key: TRUNK[key] for key in list(TRUNK)[:10]}
    trunk = TrunkRecord.model_validate(settings)
    assert trunk.id == TRUNK_ID
    assert (trunk.gateways, trunk.ip_acls, trunk.numbers) == (None, None, None)
    assert (trunk.health, trunk.active_calls) == (None, None)


def test_records_are_frozen() -> None:
    trunk = TrunkRecord.model_validate(TRUNK)
    with pytest.raises(ValidationError):
        trunk.name = "other"  # type: ignore[misc]


def test_ids_sent_as_numbers_are_read_as_text() -> None:
    trunk = TrunkRecord.model_validate({"id": 42, "numbers": [{"id": 7, "trunk_id": 42}]})
    assert trunk.id == "42"
    assert trunk.numbers is not None and trunk.numbers[0].trunk_id == "42"


def test_a_settings_field_of_the_wrong_type_fails_the_answer() -> None:
    """A guessed value in a field the reconciler compares would drive a wrong PATCH."""
    with pytest.raises(ValidationError) as caught:
        TrunkRecord.model_validate({**TRUNK, "channels": "ten"})
    assert "ten" not in str(caught.value)  # errors do not echo Bolna's input


def test_an_unreadable_timestamp_is_not_said() -> None:
    number = NumberRecord.model_validate({**NUMBER, "created_at": "last Tuesday"})
    assert number.created_at is None
    assert number.last_outbound_at == datetime(2026, 5, 9, 10, 0, tzinfo=UTC)


def test_codecs_sent_as_a_list_read_as_the_update_bodys_string() -> None:
    trunk = TrunkRecord.model_validate({"codecs": ["PCMU", "PCMA"]})
    assert trunk.codecs == "PCMU,PCMA"
    assert TrunkRecord.model_validate({"codecs": " pcma , PCMU"}).codec_list() == [
        "PCMA", "PCMU"]


# Numbers: deleted ones are kept in the model, the helper gives the live ones

def test_deleted_numbers_are_kept_but_not_live() -> None:
    deleted = {**NUMBER, "id": "n2", "e164": "+12025550144", "is_deleted": True,
               "deleted_at": "2026-05-10T10:00:00Z"}
    trunk = TrunkRecord.model_validate({**TRUNK, "numbers": [NUMBER, deleted]})
    assert trunk.numbers is not None and len(trunk.numbers) == 2
    live = trunk.live_numbers()
    assert live is not None and [n.id for n in live] == [NUMBER["id"]]
    assert live_numbers(trunk.numbers) == live


@pytest.mark.parametrize(("is_deleted", "deleted_at", "live"), [
    (False, None, True),
    (True, "2026-05-10T10:00:00Z", False),
    (True, None, False),
    (None, None, True),
    (None, "2026-05-10T10:00:00Z", False),
    (False, "2026-05-10T10:00:00Z", True),  # Bolna's is_deleted wins when given
])
def test_a_number_is_live_unless_bolna_says_deleted(
        is_deleted: bool | None, deleted_at: str | None, live: bool) -> None:
    number = NumberRecord.model_validate(
        {"id": "n", "is_deleted": is_deleted, "deleted_at": deleted_at})
    assert number.is_live is live


def test_a_whole_number_reads_every_field() -> None:
    number = NumberRecord.model_validate(NUMBER)
    assert number.trunk_id == TRUNK_ID
    assert number.destination_key == "12025550143"
    assert number.agent_id == "123e4567-e89b-12d3-a456-426614174000"
    assert number.last_inbound_at is None
    assert number.is_deleted is False and number.is_live


# List answers: bare or wrapped

@pytest.mark.parametrize("wrap", [
    lambda items: items,
    lambda items: {"trunks": items},
    lambda items: {"data": items, "total": 1},
    lambda items: {"items": items},
])
def test_the_trunk_list_is_read_bare_or_wrapped(wrap: Any) -> None:
    trunks = TypeAdapter(TrunkList).validate_json(json.dumps(wrap([TRUNK])))
    assert [t.id for t in trunks] == [TRUNK_ID]


def test_a_wrapper_without_a_list_is_not_a_trunk_list() -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(TrunkList).validate_python({"trunks": None, "count": 0})


def test_calls_are_read_bare_or_wrapped() -> None:
    call = {"execution_id": "ex-1", "direction": "outbound", "outcome": "failed",
            "sip_code": 503, "created_at": "2026-05-09T10:00:00Z", "cause": "busy"}
    for answer in ([call], {"calls": [call]}, {"data": [call]}):
        (read,) = TypeAdapter(CallList).validate_python(answer)
        assert read == CallRecord.model_validate(call)
        assert (read.execution_id, read.direction, read.outcome, read.sip_code) == (
            "ex-1", "outbound", "failed", 503)
        assert read.model_extra == {"cause": "busy"}


# read_health: the one mapping

@pytest.mark.parametrize(("raw", "state"), [
    ("waiting_for_carrier", "WaitingForCarrier"),
    ("healthy", "Healthy"),
    ("degraded", "Degraded"),
    ("disabled", "Disabled"),
    ("unknown", "Unknown"),
    ("Waiting for carrier", "WaitingForCarrier"),
    ("Healthy", "Healthy"),
    ("Degraded", "Degraded"),
    ("Disabled", "Disabled"),
    ("WAITING_FOR_CARRIER", "WaitingForCarrier"),
    ("waiting-for-carrier", "WaitingForCarrier"),
    ("WaitingForCarrier", "WaitingForCarrier"),
    ("  Degraded\n", "Degraded"),
    ("Waiting\u00a0for carrier", "WaitingForCarrier"),
])
def test_snake_case_values_and_dashboard_labels_in_any_case(raw: str, state: str) -> None:
    assert read_health(raw) == BolnaHealth(state, raw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("raw", "state", "reported"), [
    ({"status": "degraded"}, "Degraded", "degraded"),
    ({"state": "Healthy", "since": "2026-05-09"}, "Healthy", "Healthy"),
    ({"label": "Waiting for carrier"}, "WaitingForCarrier", "Waiting for carrier"),
    ({"status": "ok", "label": "Disabled"}, "Disabled", "Disabled"),
    ({"status": {"label": "healthy"}}, "Healthy", "healthy"),
])
def test_an_object_carrying_status_state_or_label(raw: object, state: str,
                                                  reported: str) -> None:
    assert read_health(raw) == BolnaHealth(state, reported)  # type: ignore[arg-type]


@pytest.mark.parametrize(("raw", "reported"), [
    (None, None),
    ("", ""),
    ("ok", "ok"),
    ("not healthy", "not healthy"),
    ("healthy!", "healthy!"),
    ("h\u0435althy", "h\u0435althy"),  # a Cyrillic e: not our word
    (True, "true"),
    (3, "3"),
    (1.5, "1.5"),
    (["healthy"], '["healthy"]'),
    ({"status": "ok"}, '{"status":"ok"}'),
    ({"value": "healthy"}, '{"value":"healthy"}'),
    ({"status": {"status": {"status": {"status": "healthy"}}}},
     '{"status":{"status":{"status":{"status":"healthy"}}}}'),
])
def test_anything_else_is_unknown_with_the_raw_value_as_text(raw: object,
                                                             reported: str | None) -> None:
    assert read_health(raw) == BolnaHealth("Unknown", reported)


def test_a_long_value_is_reported_cut() -> None:
    health = read_health("x" * 10_000)
    assert health.state == "Unknown"
    assert health.reported is not None and len(health.reported) == MAX_REPORTED_LENGTH
    assert health.reported.endswith("...")


def test_the_record_maps_health_through_read_health() -> None:
    for raw in ("Degraded", {"status": "disabled"}, "sideways", 7):
        assert TrunkRecord.model_validate({"health": raw}).health == read_health(raw)
    assert TrunkRecord.model_validate({"health": None}).health is None


@given(st.text())
def test_any_string_maps_to_exactly_one_state(raw: str) -> None:
    health = read_health(raw)
    assert health.state in HEALTH_STATES
    assert health.reported == (raw if len(raw) <= MAX_REPORTED_LENGTH
                               else raw[:MAX_REPORTED_LENGTH - 3] + "...")


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["status", "state", "label", "x"]) | st.text(),
                      children, max_size=4),
    max_leaves=20)


@given(_JSON)
def test_any_json_value_maps_to_one_state_and_a_bounded_report(raw: object) -> None:
    health = read_health(raw)
    assert health.state in HEALTH_STATES
    assert raw is None or health.reported is not None
    assert health.reported is None or len(health.reported) <= MAX_REPORTED_LENGTH


_LABELS: dict[HealthState, list[str]] = {
    "WaitingForCarrier": ["waiting", "for", "carrier"],
    "Healthy": ["healthy"],
    "Degraded": ["degraded"],
    "Disabled": ["disabled"],
}


@given(st.sampled_from(sorted(_LABELS)), st.data())
def test_a_known_label_in_any_case_and_separators_is_its_state(
        state: HealthState, data: st.DataObject) -> None:
    words = _LABELS[state]
    cased = [data.draw(st.sampled_from([w, w.upper(), w.title(), w.swapcase()]))
             for w in words]
    separators = [data.draw(st.sampled_from(["", " ", "_", "-", "  ", "\t"]))
                  for _ in words[1:]]
    text = cased[0] + "".join(sep + word for sep, word in zip(separators, cased[1:],
                                                                strict=True))
    assert read_health(text).state == state
    assert read_health({"status": text}).state == state


# active_calls

@pytest.mark.parametrize(("raw", "count"), [
    (0, 0), (3, 3), ("3", 3), (" 12 ", 12), (None, None), ("", None), ("three", None),
    (-1, None), ("-1", None), (1.0, None), ("1.5", None), (True, None), (False, None),
    ([], None), ({}, None), ("\u0663", None), ("9" * 40, None),
])
def test_active_calls_is_a_count_or_not_said(raw: object, count: int | None) -> None:
    assert read_count(raw) == count
    assert TrunkRecord.model_validate({"active_calls": raw}).active_calls == count


@given(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(),
                 st.lists(st.integers())))
def test_active_calls_never_fails_an_answer(raw: object) -> None:
    count = TrunkRecord.model_validate({"active_calls": raw}).active_calls
    assert count is None or (isinstance(count, int) and count >= 0)


# Connection details

def test_the_guides_connection_details() -> None:
    pop = ConnectionDetails.model_validate({
        "sip_domain": "trunk.bolna.ai", "port": 5060, "transports": ["udp", "tcp"],
        "ips": ["15.252.21.46", "13.206.230.198"], "rtp_ports": "30000-40000"})
    assert pop.sip_domain == "trunk.bolna.ai"
    assert pop.port == 5060
    assert pop.transports == ["udp", "tcp"]
    assert pop.ips == ["15.252.21.46", "13.206.230.198"]
    assert pop.rtp_ports == "30000-40000"


@pytest.mark.parametrize("raw", [
    "30000-40000", " 30000 - 40000 ", "30000\u201340000", "30000..40000",
    {"start": 30000, "end": 40000}, {"min": 30000, "max": 40000},
    {"start": "30000", "end": "40000", "protocol": "udp"},
    [30000, 40000], ["30000", "40000"],
])
def test_rtp_ports_in_every_accepted_shape_normalise_to_one_string(raw: object) -> None:
    assert read_port_range(raw) == "30000-40000"
    assert ConnectionDetails.model_validate({"rtp_ports": raw}).rtp_ports == "30000-40000"


@pytest.mark.parametrize(("raw", "read"), [
    (None, None),
    ("", None),
    ("   ", None),
    ("UDP 30000 to 40000", "UDP 30000 to 40000"),  # a string is kept as Bolna wrote it
    ("40000-30000", "40000-30000"),
    ({"start": 40000, "end": 30000}, None),
    ({"start": 30000}, None),
    ({"from": 30000, "to": 40000}, None),
    ({"start": 0, "end": 10}, None),
    ([30000, 70000], None),
    ([30000], None),
    ([30000, 35000, 40000], None),
    ([True, 40000], None),
    (30000, None),
])
def test_rtp_ports_that_are_no_range(raw: object, read: str | None) -> None:
    assert read_port_range(raw) == read


@given(st.one_of(st.none(), st.integers(), st.text(), st.lists(st.integers()),
                 st.dictionaries(st.sampled_from(["start", "end", "min", "max"]),
                                 st.integers() | st.text())))
def test_rtp_ports_never_fail_the_answer(raw: object) -> None:
    read = ConnectionDetails.model_validate({"rtp_ports": raw}).rtp_ports
    assert read is None or isinstance(read, str)


def test_connection_details_are_read_with_fallbacks() -> None:
    pop = ConnectionDetails.model_validate({
        "port": "5060", "transports": "UDP, tcp udp", "ips": "15.252.21.46,13.206.230.198",
        "rtp_ports": {"min": 30000, "max": 40000}, "tls_port": 5061})
    assert pop.port == 5060
    assert pop.transports == ["udp", "tcp"]
    assert pop.ips == ["15.252.21.46", "13.206.230.198"]
    assert pop.model_extra == {"tls_port": 5061}
    odd = ConnectionDetails.model_validate({"sip_domain": ["x"], "port": "sip",
                                            "transports": 5, "ips": [1, "a"]})
    assert (odd.sip_domain, odd.port, odd.transports, odd.ips) == (None, None, None, ["a"])
    assert ConnectionDetails.model_validate({"sip_domain": " trunk.bolna.ai "}).sip_domain == (
        "trunk.bolna.ai")
    assert ConnectionDetails.model_validate({}) == ConnectionDetails()
