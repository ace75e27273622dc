"""The plan for a CarrierTrunk over Bolna's ``/trunk`` API: pure, so every rule of it is
checked here without I/O, the sub-resource rules over any start and end state."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bolna_sip_operator.bolna.trunk_wire import TrunkRecord
from bolna_sip_operator.model.carrier_spec import CarrierTrunkSpec
from bolna_sip_operator.reconcile.carrier_desired import (
    DesiredGateway,
    desired_carrier_trunk,
)
from bolna_sip_operator.reconcile.carrier_plan import (
    MAX_GATEWAYS,
    AddCarrierIp,
    AddGateway,
    AddNumber,
    AssignAgent,
    RemoveCarrierIp,
    RemoveGateway,
    RemoveNumber,
    gateway_key,
    gateway_steps,
    not_applied,
    plan_carrier_trunk,
)

SPEC: dict[str, Any] = {
    "preset": "telnyx", "channels": 20, "transport": "udp", "codecs": ["PCMA", "PCMU"],
    "gateways": [{"host": "sip.telnyx.com"}, {"host": "sip2.telnyx.com", "priority": 2}],
    "ipAcls": [{"cidr": "192.76.120.10"}, {"cidr": "64.16.250.0/24"}],
    "numbers": [{"e164": "+14155550123"}, {"e164": "+14155550124", "agentId": "agent-1"}],
}


def _desired(**changes: Any) -> Any:
    return desired_carrier_trunk(CarrierTrunkSpec.model_validate({**SPEC, **changes}),
                                 "telnyx-prod")


def _trunk(**fields: Any) -> TrunkRecord:
    base: dict[str, Any] = {
        "id": "t-1", "name": "telnyx-prod", "preset": "telnyx", "is_active": True,
        "inbound_enabled": True, "outbound_enabled": True, "channels": 20,
        "transport": "udp", "codecs": "PCMA,PCMU", "gateways": [
            {"id": "g-1", "host": "sip.telnyx.com", "port": 5060, "priority": 1},
            {"id": "g-2", "host": "sip2.telnyx.com", "port": 5060, "priority": 2}],
        "ip_acls": [{"id": "a-1", "cidr": "192.76.120.10/32"},
                    {"id": "a-2", "cidr": "64.16.250.0/24"}],
        "numbers": [{"id": "n-1", "e164": "+14155550123", "destination_key": "14155550123"},
                    {"id": "n-2", "e164": "+14155550124", "destination_key": "14155550124",
                     "agent_id": "agent-1"}]}
    return TrunkRecord.model_validate({**base, **fields})


def test_a_trunk_equal_to_spec_needs_no_call() -> None:
    assert plan_carrier_trunk(_desired(), _trunk()).empty


def test_create_body_holds_only_the_fields_bolna_documents_for_create() -> None:
    body = _desired(authUsername="bolna", authPasswordSecretRef={"name": "s"},
                    isActive=False).create_body()
    assert body == {"name": "telnyx-prod", "preset": "telnyx", "inbound_enabled": True,
                    "outbound_enabled": True, "channels": 20}


def test_settings_are_one_partial_patch_and_unmanaged_fields_are_left_alone() -> None:
    plan = plan_carrier_trunk(_desired(channels=30, codecs=["PCMU"]),
                              _trunk(description="set in the dashboard"))
    assert plan.patch == {"channels": 30, "codecs": "PCMU"}
    assert not plan.steps and not plan.send_password


def test_credentials_go_together_on_a_username_change_and_on_rotation() -> None:
    desired = _desired(authUsername="bolna", authPasswordSecretRef={"name": "s"})
    rotated = plan_carrier_trunk(desired, _trunk(auth_username="bolna"),
                                 password_changed=True)
    assert rotated.patch == {"auth_username": "bolna"} and rotated.send_password
    renamed = plan_carrier_trunk(desired, _trunk(auth_username="old"))
    assert renamed.patch == {"auth_username": "bolna"} and renamed.send_password
    assert plan_carrier_trunk(desired, _trunk(auth_username="bolna")).empty


def test_a_field_bolna_did_not_return_is_sent_on_a_first_look_only() -> None:
    trunk = _trunk()
    sparse = TrunkRecord.model_validate(
        {k: v for k, v in trunk.model_dump(exclude_unset=True).items() if k != "codecs"})
    assert plan_carrier_trunk(_desired(), sparse, first_look=True).patch == {
        "codecs": "PCMA,PCMU"}
    assert plan_carrier_trunk(_desired(), sparse, first_look=False).empty


def test_fields_bolna_did_not_take_are_not_sent_again_for_the_generation() -> None:
    plan = plan_carrier_trunk(_desired(channels=30), _trunk(), skip={"channels"})
    assert plan.empty
    sent = plan_carrier_trunk(_desired(channels=30), _trunk())
    assert not_applied(sent, _desired(channels=30), _trunk(), ()) == ["channels"]
    assert not_applied(sent, _desired(channels=30), _trunk(channels=30), ()) == []


def test_a_changed_gateway_is_added_before_the_old_one_goes() -> None:
    plan = plan_carrier_trunk(
        _desired(gateways=[{"host": "sip.telnyx.com"}, {"host": "sip3.telnyx.com"}]),
        _trunk())
    assert plan.steps == [AddGateway(DesiredGateway("sip3.telnyx.com", 5060, 1)),
                          RemoveGateway("g-2", "sip2.telnyx.com:5060")]


def test_carrier_ips_compare_as_networks_and_new_ones_come_first() -> None:
    plan = plan_carrier_trunk(
        _desired(ipAcls=[{"cidr": "192.76.120.10/32"}, {"cidr": "64.16.251.0/24"}]),
        _trunk())
    assert plan.steps == [AddCarrierIp("64.16.251.0/24"),
                          RemoveCarrierIp("a-2", "64.16.250.0/24")]


def test_numbers_are_a_set_by_e164_with_agents_assigned_in_place() -> None:
    plan = plan_carrier_trunk(_desired(numbers=[
        {"e164": "+14155550123", "agentId": "agent-2"},
        {"e164": "+14155550125", "destinationKey": "5550125"}]), _trunk())
    [add] = [s for s in plan.steps if isinstance(s, AddNumber)]
    assert add.number.e164 == "+14155550125" and add.number.destination_key == "5550125"
    assert AssignAgent("n-1", "+14155550123", "agent-2") in plan.steps
    assert plan.steps[-1] == RemoveNumber("n-2", "+14155550124")


def test_a_number_whose_destination_key_changed_is_removed_then_added() -> None:
    plan = plan_carrier_trunk(_desired(numbers=[
        {"e164": "+14155550123", "destinationKey": "5550123"},
        {"e164": "+14155550124", "agentId": "agent-1"}]), _trunk())
    assert [type(s) for s in plan.steps] == [RemoveNumber, AddNumber]


def test_children_bolna_did_not_list_are_not_planned_on_a_guess() -> None:
    plan = plan_carrier_trunk(_desired(), _trunk(gateways=None, ip_acls=None, numbers=None))
    assert plan.empty


_hosts = st.sampled_from([f"gw{i}.example.com" for i in range(12)])
_gateways = st.lists(st.tuples(_hosts, st.sampled_from([5060, 5080]),
                               st.integers(1, 3)), max_size=MAX_GATEWAYS, unique=True)


@given(_gateways, _gateways)
def test_gateway_steps_reach_the_spec_within_bolnas_limit_and_never_leave_none(
        held: list[tuple[str, int, int]], wanted: list[tuple[str, int, int]]) -> None:
    observed = [TrunkRecord.model_validate({"id": "t", "gateways": [
        {"id": f"g{i}", "host": h, "port": p, "priority": q}
        for i, (h, p, q) in enumerate(held)]}).gateways or []][0]
    desired = [DesiredGateway(h, p, q) for h, p, q in wanted]
    state = {g.id: gateway_key(g) for g in observed}
    for step in gateway_steps(desired, observed):
        if isinstance(step, AddGateway):
            state[f"new-{len(state)}-{step.gateway.key}"] = step.gateway.key
        else:
            assert isinstance(step, RemoveGateway)
            del state[step.id]
        assert len(state) <= MAX_GATEWAYS
        if held and wanted:
            assert state, "a trunk that needs gateways was left with none"
    assert sorted(state.values()) == sorted(g.key for g in desired)
