"""Planning: the fewest Bolna calls, and never a write that would repeat forever."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bolna_sip_operator.model.spec import SipTrunkSpec
from bolna_sip_operator.reconcile.desired import desired_trunk
from bolna_sip_operator.reconcile.plan import immutable_mismatches, plan_trunk
from tests.corpus import VALID_SPECS


def _spec(**changes: Any) -> SipTrunkSpec:
    return SipTrunkSpec.model_validate({**VALID_SPECS["numbers-and-names"], **changes})


def _as_bolna_returns(spec: SipTrunkSpec, name: str = "trunk") -> dict[str, Any]:
    """The trunk JSON Bolna would hold after creating this spec."""
    desired = desired_trunk(spec, name)
    body = desired.create_body()
    trunk = {**body, "id": "01TRUNK", "created_at": "2026-01-01T00:00:00Z",
             "is_active": desired.fields["is_active"]}
    trunk["gateways"] = [{**g, "id": f"01GW{i}"} for i, g in enumerate(body["gateways"])]
    trunk["phone_numbers"] = [{**n, "id": f"01NUM{i}", "deleted": False}
                              for i, n in enumerate(body.get("phone_numbers", []))]
    return trunk


def test_create_body_carries_numbers_and_bolna_field_names() -> None:
    body = desired_trunk(_spec(), "obj").create_body()
    assert body["name"] == "Twilio (Mumbai) — primary"
    assert body["auth_type"] == "userpass"
    assert body["gateways"] == [{"gateway_address": "your-trunk.pstn.twilio.com",
                                 "port": 5060, "priority": 1}]
    assert body["phone_numbers"] == [{"phone_number": "+14155550123", "name": "Sales"},
                                     {"phone_number": "919876543210"}]
    assert "auth_password" not in body


def test_is_active_is_not_a_create_field_and_is_patched_after() -> None:
    spec = _spec(active=False)
    assert "is_active" not in desired_trunk(spec, "t").create_body()
    created = _as_bolna_returns(_spec(active=True))
    assert plan_trunk(desired_trunk(spec, "t"), created).patch == {"is_active": False}


def test_name_defaults_to_the_object_name_and_port_to_the_transport() -> None:
    spec = SipTrunkSpec.model_validate(VALID_SPECS["tls-default-ports"])
    body = desired_trunk(spec, "object-name").create_body()
    assert body["name"] == "object-name"
    assert [g["port"] for g in body["gateways"]] == [5061, 5060]


def test_an_equal_trunk_needs_no_call() -> None:
    spec = _spec()
    assert plan_trunk(desired_trunk(spec, "t"), _as_bolna_returns(spec)).empty


def test_a_changed_field_is_one_partial_patch() -> None:
    observed = _as_bolna_returns(_spec())
    plan = plan_trunk(desired_trunk(_spec(transport="transport-tcp", active=False), "t"),
                      observed)
    assert plan.patch == {"transport": "transport-tcp", "is_active": False}
    assert plan.calls == 1


def test_gateways_are_sent_whole_and_compared_regardless_of_order() -> None:
    spec = _spec(gateways=[{"gatewayAddress": "a.example.com"},
                           {"gatewayAddress": "b.example.com", "priority": 2}])
    observed = _as_bolna_returns(spec)
    observed["gateways"].reverse()
    assert plan_trunk(desired_trunk(spec, "t"), observed).empty
    changed = _spec(gateways=[{"gatewayAddress": "a.example.com", "priority": 3},
                              {"gatewayAddress": "b.example.com", "priority": 2}])
    plan = plan_trunk(desired_trunk(changed, "t"), observed)
    assert plan.patch["gateways"] == [
        {"gateway_address": "a.example.com", "port": 5060, "priority": 3},
        {"gateway_address": "b.example.com", "port": 5060, "priority": 2}]


def test_numbers_are_a_set_keyed_by_digits() -> None:
    observed = _as_bolna_returns(_spec())
    spec = _spec(phoneNumbers=[{"phoneNumber": "14155550123"},
                               {"phoneNumber": "+441234567890"}])
    plan = plan_trunk(desired_trunk(spec, "t"), observed)
    assert [n.phone_number for n in plan.add_numbers] == ["+441234567890"]
    assert [(n.id, n.phone_number) for n in plan.remove_numbers] == [("01NUM1", "919876543210")]
    assert plan.patch == {}


def test_fields_bolna_does_not_return_are_never_patched_on_a_guess() -> None:
    observed = _as_bolna_returns(_spec(allow="opus,ulaw"))
    for missing in ("allow", "direct_media", "phone_numbers"):
        del observed[missing]
    assert plan_trunk(desired_trunk(_spec(), "t"), observed).empty


def test_unmanaged_description_is_left_alone() -> None:
    observed = _as_bolna_returns(_spec())
    observed["description"] = "set in the dashboard"
    assert plan_trunk(desired_trunk(_spec(description=None), "t"), observed).empty


def test_a_rotated_password_is_sent_without_other_changes() -> None:
    spec = _spec()
    plan = plan_trunk(desired_trunk(spec, "t"), _as_bolna_returns(spec), password_changed=True)
    assert plan.send_password and plan.patch == {} and plan.calls == 1
    assert plan.summary() == "the password"


def test_a_different_provider_cannot_be_patched() -> None:
    observed = _as_bolna_returns(_spec())
    observed["provider"] = "plivo"
    assert immutable_mismatches(desired_trunk(_spec(), "t"), observed) == ["provider"]


_changes = st.fixed_dictionaries({}, optional={
    "transport": st.sampled_from(["transport-udp", "transport-tcp"]),
    "qualifyFrequency": st.integers(0, 3600),
    "active": st.booleans(),
    "allow": st.sampled_from(["ulaw,alaw", "alaw", "opus,ulaw"]),
    "phoneNumbers": st.lists(st.sampled_from(["919876543210", "+14155550123", "123456789"]),
                             unique=True).map(lambda ns: [{"phoneNumber": n} for n in ns]),
})


@given(before=_changes, after=_changes)
def test_applying_the_plan_converges_in_one_step(before: dict[str, Any],
                                                 after: dict[str, Any]) -> None:
    observed = _as_bolna_returns(_spec(**before))
    desired = desired_trunk(_spec(**after), "trunk")
    plan = plan_trunk(desired, observed)
    applied = copy.deepcopy(observed)
    applied.update(plan.patch)
    removed = {n.id for n in plan.remove_numbers}
    applied["phone_numbers"] = [n for n in applied["phone_numbers"] if n["id"] not in removed]
    applied["phone_numbers"] += [{"phone_number": n.phone_number, "id": f"new{i}"}
                                 for i, n in enumerate(plan.add_numbers)]
    assert plan_trunk(desired, applied).empty
