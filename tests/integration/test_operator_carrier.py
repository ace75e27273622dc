"""The operator keeps Bolna's ``/trunk`` API equal to CarrierTrunks: a real apiserver,
the operator process and the Bolna emulator over real HTTP, as for SipTrunks in
``test_operator_bolna.py``. Assertions read what a user would: the CarrierTrunk's status,
conditions and Events, what Bolna stores (through its own API), and the emulator's
request log (every call the operator made, with its JSON body, passwords redacted).

This module: create, settings and sub-resource changes, and drift.
``test_operator_carrier_errors.py``: adoption, deletion, refusals, faults, Secrets,
Bolna's health, and the status as kubectl, kstatus and Argo CD read it. Each test starts from an
empty Bolna and leaves no CarrierTrunk behind (the next test's reset would otherwise
make the drift check recreate its trunk in Bolna).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, cast

import httpx
import pytest
from kubernetes import client

from bolna_devenv.control_plane import ControlPlane
from bolna_devenv.operator_process import OperatorProcess
from bolna_emulator.process import EmulatorProcess
from tests.carrier_corpus import carrier_manifest
from tests.integration.apiserver import CARRIER_PLURAL, GROUP, VERSION, Trunks, create_namespace
from tests.integration.helpers import (
    condition,
    running_operator,
    wait_condition,
    wait_for,
)

pytestmark = pytest.mark.integration

TOKEN = "carrier-canary-token-4d1e7a-DEFAULT"
OTHER_TOKEN = "carrier-canary-token-93c0b5-OTHER"
PASSWORD = "carrier-canary-password-a1b2c3-1"
ROTATED = "carrier-canary-password-a1b2c3-2"
CANARIES = (TOKEN, OTHER_TOKEN, PASSWORD, ROTATED)
DRIFT_INTERVAL = 3.0
TRUNK_ID = "sip.bolna.ai/trunk-id"

GW_A = {"host": "sip-a.carrier.example", "priority": 1}
GW_B = {"host": "sip-b.carrier.example", "port": 5080, "priority": 2}
GW_C = {"host": "sip-c.carrier.example", "priority": 1}
N1, N2, N3 = "+14155550110", "+14155550111", "+14155550112"
CREDENTIALS = {"authUsername": "bolna-outbound",
               "authPasswordSecretRef": {"name": "carrier-sip"}}


# ---- fixtures ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorProcess]:
    """Bolna, for two accounts, keeping each request's body (passwords redacted)."""
    with EmulatorProcess(tokens=[TOKEN, OTHER_TOKEN], record_bodies=True) as bolna:
        yield bolna


@pytest.fixture(scope="module")
def operator(control_plane: ControlPlane, crd: None, emulator: EmulatorProcess,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    """``bolna-sip-operator run`` for ``ct-*``, warmed up."""
    with running_operator(control_plane, emulator, tmp_path_factory.mktemp("operator"),
                          token=TOKEN, prefix="ct",
                          drift_interval=DRIFT_INTERVAL) as process:
        yield process


@pytest.fixture
def namespace(api_client: client.ApiClient, carrier_trunks: Trunks,
              operator: OperatorProcess, emulator: EmulatorProcess) -> Iterator[str]:
    """An empty Bolna and a fresh ``ct-*`` namespace; its CarrierTrunks go at the end."""
    emulator.reset()
    name = create_namespace(api_client, "ct")
    yield name
    remove_carrier_trunks(carrier_trunks, name)


# ---- helpers (also used by test_operator_carrier_errors.py) ---------------------------

def remove_carrier_trunks(carrier_trunks: Trunks, namespace: str) -> None:
    """Delete every CarrierTrunk of the namespace and wait for the operator to finish.
    One still there after 30 s is an error (of the test that made it): it loses its
    finalizers, so the next test's reset does not have its trunk created again."""
    api = carrier_trunks.api

    def names() -> list[str]:
        listed = cast(dict[str, Any], api.list_namespaced_custom_object(
            GROUP, VERSION, namespace, CARRIER_PLURAL))
        return [item["metadata"]["name"] for item in listed["items"]]

    for name in names():
        try:
            api.delete_namespaced_custom_object(GROUP, VERSION, namespace, CARRIER_PLURAL,
                                                name)
        except client.ApiException as error:
            if error.status != 404:
                raise
    try:
        wait_for("the namespace's CarrierTrunks to go", lambda: not names())
    except pytest.fail.Exception:
        stuck = names()
        for name in stuck:
            carrier_trunks.patch(namespace, name, {"metadata": {"finalizers": None}})
        pytest.fail(f"CarrierTrunks {stuck} in {namespace} were not deleted within 30 s")


def carrier(object_name: str, /, **spec: Any) -> dict[str, Any]:
    """A CarrierTrunk document (``name=`` is spec.name, Bolna's name of the trunk)."""
    return carrier_manifest(spec, name=object_name)


def adopting(document: dict[str, Any], trunk_id: str) -> dict[str, Any]:
    """The document with the adoption annotation naming ``trunk_id``."""
    document["metadata"]["annotations"] = {TRUNK_ID: trunk_id}
    return document


def secret(core: client.CoreV1Api, namespace: str, name: str, **data: str) -> None:
    """Create a Secret (an existing one is left as it is)."""
    try:
        core.create_namespaced_secret(namespace, client.V1Secret(
            metadata=client.V1ObjectMeta(name=name), string_data=data))
    except client.ApiException as error:
        if error.status != 409:
            raise


def create_ready(carrier_trunks: Trunks, core: client.CoreV1Api, namespace: str,
                 document: dict[str, Any]) -> dict[str, Any]:
    """Create the password Secret ``carrier-sip`` and the CarrierTrunk; wait for Ready."""
    secret(core, namespace, "carrier-sip", password=PASSWORD)
    carrier_trunks.create(namespace, document)
    return wait_condition(carrier_trunks, namespace, document["metadata"]["name"], "Ready",
                          "True")


def bolna(emulator: EmulatorProcess, method: str, path: str, body: Any = None,
          token: str = TOKEN) -> Any:
    """One call to Bolna's API, as a person with the account's token makes it."""
    answer = httpx.request(method, emulator.url + path, json=body, timeout=10,
                           headers={"Authorization": f"Bearer {token}"})
    answer.raise_for_status()
    return answer.json()


def bolna_trunks(emulator: EmulatorProcess, token: str = TOKEN) -> list[dict[str, Any]]:
    """Every ``/trunk`` trunk of the account, as Bolna lists them."""
    return list(bolna(emulator, "GET", "/trunk/trunks", token=token))


def bolna_trunk(emulator: EmulatorProcess, trunk_id: str, token: str = TOKEN
                ) -> dict[str, Any] | None:
    """One trunk as Bolna returns it, or None when Bolna has none by that ID."""
    answer = httpx.get(f"{emulator.url}/trunk/trunks/{trunk_id}", timeout=10,
                       headers={"Authorization": f"Bearer {token}"})
    if answer.status_code == 404:
        return None
    answer.raise_for_status()
    return dict(answer.json())


def held_trunk(emulator: EmulatorProcess, trunk_id: str, token: str = TOKEN
               ) -> dict[str, Any]:
    """The trunk, which Bolna must have."""
    held = bolna_trunk(emulator, trunk_id, token)
    assert held is not None, f"Bolna has no trunk {trunk_id}"
    return held


def gateway_keys(trunk: dict[str, Any]) -> set[tuple[str, int, int]]:
    return {(g["host"], g["port"], g["priority"]) for g in trunk["gateways"]}


def by_e164(trunk: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["e164"]: n for n in trunk["numbers"]}


def admin_trunk(emulator: EmulatorProcess, trunk_id: str) -> dict[str, Any]:
    """The trunk in the emulator's admin view (with its password's SHA-256)."""
    for account in emulator.state()["trunk"]["accounts"].values():
        for trunk in account["trunks"]:
            if trunk["id"] == trunk_id:
                return dict(trunk)
    raise AssertionError(f"the emulator holds no trunk {trunk_id}")


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def last_seq(emulator: EmulatorProcess) -> int:
    """The request log's latest entry: requests after it are newer."""
    entries = emulator.requests()
    return int(entries[-1]["seq"]) if entries else 0


def writes(emulator: EmulatorProcess, since: int = 0) -> list[dict[str, Any]]:
    """POST, PATCH and DELETE requests after ``since``, oldest first."""
    return [r for r in emulator.requests(since) if r["method"] != "GET"]


def calls(entries: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(r["method"], r["path"]) for r in entries]


def lists_since(emulator: EmulatorProcess, since: int) -> int:
    """``GET /trunk/trunks`` calls after ``since``: the drift check's one list a round."""
    return len([r for r in emulator.requests(since)
                if r["method"] == "GET" and r["path"] == "/trunk/trunks"])


def wait_drift_rounds(emulator: EmulatorProcess, since: int, rounds: int = 3) -> None:
    """Until the drift check has listed the account's trunks ``rounds`` times after
    ``since`` (it lists once per round while a trunk of the account is in sync)."""
    wait_for(f"{rounds} drift rounds", lambda: lists_since(emulator, since) >= rounds,
             timeout=DRIFT_INTERVAL * (rounds + 3))


def events(core: client.CoreV1Api, namespace: str) -> list[tuple[str, str, str]]:
    """(type, reason, message) of the namespace's Events."""
    return [(str(e.type), str(e.reason), e.message or "")
            for e in core.list_namespaced_event(namespace).items]


def reasons(core: client.CoreV1Api, namespace: str) -> list[str]:
    return [reason for _, reason, _ in events(core, namespace)]


def posted(core: client.CoreV1Api, namespace: str, reason: str) -> int:
    """How many times an Event with that reason was posted (repeats are aggregated into
    one Event's count)."""
    return sum(e.count or 1 for e in core.list_namespaced_event(namespace).items
               if e.reason == reason)


def wait_event(core: client.CoreV1Api, namespace: str, reason: str,
               timeout: float = 30.0) -> tuple[str, str, str]:
    """The first Event with that reason, once there is one."""
    found = wait_for(f"a {reason} Event", lambda: [
        e for e in events(core, namespace) if e[1] == reason], timeout=timeout)
    return found[0]  # type: ignore[no-any-return]


def wait_status(carrier_trunks: Trunks, namespace: str, name: str, what: str,
                check: Callable[[dict[str, Any]], bool], timeout: float = 30.0
                ) -> dict[str, Any]:
    """The CarrierTrunk once ``check(trunk)`` holds."""
    def found() -> dict[str, Any] | None:
        trunk = carrier_trunks.get(namespace, name)
        return trunk if check(trunk) else None
    return wait_for(f"{namespace}/{name}: {what}", found, timeout)  # type: ignore[no-any-return]


def status_numbers(trunk: dict[str, Any]) -> dict[str, str]:
    return {n["e164"]: n["id"] for n in trunk["status"].get("numbers") or ()}


# ---- create and update -----------------------------------------------------------------

def test_create_makes_one_trunk_with_exactly_its_children(
        operator: OperatorProcess, emulator: EmulatorProcess, carrier_trunks: Trunks,
        core: client.CoreV1Api, namespace: str) -> None:
    document = carrier(
        "full", description="created by the test", preset="telnyx", channels=20,
        transport="tcp", codecs=["PCMA"], outboundLeadingPlusEnabled=True, **CREDENTIALS,
        gateways=[GW_A, GW_B], ipAcls=[{"cidr": "192.0.2.10"}],
        numbers=[{"e164": N1, "agentId": "agent-support"},
                 {"e164": N2, "destinationKey": "0014155550111"}])
    trunk = create_ready(carrier_trunks, core, namespace, document)
    [held] = bolna_trunks(emulator)
    trunk_id = held["id"]
    status = trunk["status"]
    assert status["trunkId"] == trunk_id
    assert trunk["metadata"]["annotations"][TRUNK_ID] == trunk_id
    assert "createStartedAt" not in status

    # Bolna holds exactly the spec.
    assert {k: held[k] for k in (
        "name", "description", "preset", "is_active", "inbound_enabled", "outbound_enabled",
        "channels", "auth_username", "transport", "codecs",
        "outbound_leading_plus_enabled")} == {
        "name": "full", "description": "created by the test", "preset": "telnyx",
        "is_active": True, "inbound_enabled": True, "outbound_enabled": True,
        "channels": 20, "auth_username": "bolna-outbound", "transport": "tcp",
        "codecs": "PCMA", "outbound_leading_plus_enabled": True}
    assert gateway_keys(held) == {("sip-a.carrier.example", 5060, 1),
                                  ("sip-b.carrier.example", 5080, 2)}
    assert [a["cidr"] for a in held["ip_acls"]] == ["192.0.2.10/32"]
    assert {e: (n["destination_key"], n["agent_id"]) for e, n in by_e164(held).items()} == {
        N1: ("14155550110", "agent-support"), N2: ("0014155550111", None)}
    assert admin_trunk(emulator, trunk_id)["auth_password_sha256"] == sha256(PASSWORD)

    # Status: the numbers' IDs, Bolna's health, the carrier's allowlist, conditions.
    assert status_numbers(trunk) == {e: n["id"] for e, n in by_e164(held).items()}
    assert status["numberCount"] == 2
    bolna_status = status["bolna"]
    assert (bolna_status["health"], bolna_status["reportedHealth"],
            bolna_status["activeCalls"]) == ("WaitingForCarrier", "waiting_for_carrier", 0)
    assert bolna_status["observedAt"].endswith("Z")
    pop = emulator.faults()
    assert status["carrierAllowlist"] == {
        "sipDomain": pop["trunk_pop_sip_domain"], "port": pop["trunk_pop_port"],
        "transports": list(pop["trunk_pop_transports"]),
        "signallingIps": list(pop["trunk_pop_ips"]), "rtpPorts": pop["trunk_pop_rtp_ports"]}
    assert status["passwordSecretVersion"]
    assert condition(trunk, "Synced")["reason"] == "Synced"
    assert condition(trunk, "Ready")["reason"] == "Available"
    assert condition(trunk, "Stalled")["status"] == "False"
    assert condition(trunk, "Reconciling")["status"] == "False"

    # The calls: the documented create fields, then one PATCH with the rest and the
    # credentials, then one call per child; nothing twice.
    made = writes(emulator)
    base = f"/trunk/trunks/{trunk_id}"
    assert calls(made) == [("POST", "/trunk/trunks"), ("PATCH", base),
                           ("POST", f"{base}/gateways"), ("POST", f"{base}/gateways"),
                           ("POST", f"{base}/ip-acls"), ("POST", f"{base}/numbers"),
                           ("POST", f"{base}/numbers")]
    assert {r["status"] for r in made} == {200}
    assert made[0]["body"] == {"name": "full", "description": "created by the test",
                               "preset": "telnyx", "inbound_enabled": True,
                               "outbound_enabled": True, "channels": 20}
    assert made[1]["body"] == {"auth_username": "bolna-outbound", "auth_password": "REDACTED",
                               "transport": "tcp", "codecs": "PCMA",
                               "outbound_leading_plus_enabled": True}
    assert [r["body"] for r in made[2:4]] == [
        {"host": "sip-a.carrier.example", "port": 5060, "priority": 1},
        {"host": "sip-b.carrier.example", "port": 5080, "priority": 2}]
    assert made[4]["body"] == {"cidr": "192.0.2.10/32"}
    assert [r["body"] for r in made[5:]] == [
        {"e164": N1, "destination_key": "14155550110", "agent_id": "agent-support"},
        {"e164": N2, "destination_key": "0014155550111"}]
    assert ("GET", "/trunk/pop") in calls(emulator.requests())
    created = [e for e in events(core, namespace) if e[1] == "Created"]
    assert created and trunk_id in created[0][2] and created[0][0] == "Normal"


def test_a_settings_change_patches_only_the_changed_fields(
        operator: OperatorProcess, emulator: EmulatorProcess, carrier_trunks: Trunks,
        core: client.CoreV1Api, namespace: str) -> None:
    trunk = create_ready(carrier_trunks, core, namespace, carrier(
        "settings", preset="telnyx", description="before", gateways=[GW_A]))
    trunk_id = trunk["status"]["trunkId"]
    # Fields this spec leaves out are not managed: set in the dashboard, they stay.
    unmanaged = {"transport": "tcp", "outbound_leading_plus_enabled": True,
                 "default_inbound_agent_id": "dashboard-agent", "codecs": "PCMA"}
    bolna(emulator, "PATCH", f"/trunk/trunks/{trunk_id}", unmanaged)
    since = last_seq(emulator)
    carrier_trunks.patch(namespace, "settings", {"spec": {"channels": 25,
                                                           "description": "after"}})
    wait_condition(carrier_trunks, namespace, "settings", "Synced", "True")
    made = writes(emulator, since)
    assert calls(made) == [("PATCH", f"/trunk/trunks/{trunk_id}")]
    assert made[0]["body"] == {"channels": 25, "description": "after"}
    held = held_trunk(emulator, trunk_id)
    assert (held["channels"], held["description"]) == (25, "after")
    assert {key: held[key] for key in unmanaged} == unmanaged
    assert held["preset"] == "telnyx" and gateway_keys(held) == {
        ("sip-a.carrier.example", 5060, 1)}

    # Taking a field out of the spec stops managing it: Bolna keeps its value.
    since = last_seq(emulator)
    carrier_trunks.patch(namespace, "settings", {"spec": {"description": None}})
    wait_condition(carrier_trunks, namespace, "settings", "Synced", "True")
    assert writes(emulator, since) == []
    assert held_trunk(emulator, trunk_id)["description"] == "after"
    updated = [m for _, r, m in events(core, namespace) if r == "Updated"]
    assert any("fields channels, description" in m for m in updated), updated
    assert "DriftCorrected" not in reasons(core, namespace)


# ---- gateways, carrier IPs and numbers as sets ------------------------------------------

def test_a_changed_gateway_is_added_before_the_old_one_is_removed(
        operator: OperatorProcess, emulator: EmulatorProcess, carrier_trunks: Trunks,
        core: client.CoreV1Api, namespace: str) -> None:
    trunk_id = create_ready(carrier_trunks, core, namespace, carrier(
        "gateways", gateways=[GW_A, GW_B]))["status"]["trunkId"]
    base = f"/trunk/trunks/{trunk_id}"
    ids = {g["host"]: g["id"] for g in held_trunk(emulator, trunk_id)["gateways"]}

    since = last_seq(emulator)
    carrier_trunks.patch(namespace, "gateways", {"spec": {"gateways": [GW_C, GW_B]}})
    wait_condition(carrier_trunks, namespace, "gateways", "Synced", "True")
    made = writes(emulator, since)
    assert calls(made) == [("POST", f"{base}/gateways"),
                           ("DELETE", f"{base}/gateways/{ids['sip-a.carrier.example']}")]
    assert made[0]["body"] == {"host": "sip-c.carrier.example", "port": 5060, "priority": 1}
    held = held_trunk(emulator, trunk_id)
    assert gateway_keys(held) == {("sip-c.carrier.example", 5060, 1),
                                  ("sip-b.carrier.example", 5080, 2)}
    assert ids["sip-b.carrier.example"] in {g["id"] for g in held["gateways"]}, \
        "an unchanged gateway was replaced"

    # A new priority is a new gateway too (Bolna has no gateway update): add, then remove.
    since = last_seq(emulator)
    carrier_trunks.patch(namespace, "gateways", {"spec": {"gateways": [
        GW_C, {**GW_B, "priority": 3}]}})
    wait_condition(carrier_trunks, namespace, "gateways", "Synced", "True")
    made = writes(emulator, since)
    assert calls(made) == [("POST", f"{base}/gateways"),
                           ("DELETE", f"{base}/gateways/{ids['sip-b.carrier.example']}")]
    assert made[0]["body"] == {"host": "sip-b.carrier.example", "port": 5080, "priority": 3}
    assert gateway_keys(held_trunk(emulator, trunk_id)) == {
        ("sip-c.carrier.example", 5060, 1), ("sip-b.carrier.example", 5080, 3)}
    updated = [m for _, r, m in events(core, namespace) if r == "Updated"]
    assert any("1 gateway(s) added; 1 gateway(s) removed" in m for m in updated), updated


def test_at_bolnas_eight_gateways_a_changed_one_is_removed_first(
        operator: OperatorProcess, emulator: EmulatorProcess, carrier_trunks: Trunks,
        core: client.CoreV1Api, namespace: str) -> None:
    """Bolna refuses a ninth gateway, so a full trunk makes room before it adds."""
    eight = [{"host": f"gw{index}.carrier.example"} for index in range(8)]
    trunk_id = create_ready(carrier_trunks, core, namespace, carrier(
        "full-house", gateways=eight))["status"]["trunkId"]
    base = f"/trunk/trunks/{trunk_id}"
    ids = {g["host"]: g["id"] for g in held_trunk(emulator, trunk_id)["gateways"]}
    since = last_seq(emulator)
    carrier_trunks.patch(namespace, "full-house", {"spec": {"gateways": [
        *eight[:7], {"host": "gw-new.carrier.example"}]}})
    wait_condition(carrier_trunks, namespace, "full-house", "Synced", "True")
    made = writes(emulator, since)
    assert calls(made) == [("DELETE", f"{base}/gateways/{ids['gw7.carrier.example']}"),
                           ("POST", f"{base}/gateways")]
    assert {r["status"] for r in made} == {200}
    hosts = sorted(g["host"] for g in held_trunk(emulator, trunk_id)["gateways"])
    assert hosts == sorted([f"gw{index}.carrier.example" for index in range(7)]
                           + ["gw-new.carrier.example"])


def test_a_changed_carrier_ip_is_added_before_the_old_one_is_removed(
        operator: OperatorProcess, emulator: EmulatorProcess, carrier_trunks: Trunks,
        core: client.CoreV1Api, namespace: str) -> None:
    trunk_id = create_ready(carrier_trunks, core, namespace, carrier(
        "carrier-ips", ipAcls=[{"cidr": "192.0.2.10"}, {"cidr": "2001:db8::1"}]))[
        "status"]["trunkId"]
    base = f"/trunk/trunks/{trunk_id}"
    held = held_trunk(emulator, trunk_id)
    ids = {a["cidr"]: a["id"] for a in held["ip_acls"]}
    assert set(ids) == {"192.0.2.10/32", "2001:db8::1/128"}

    since = last_seq(emulator)
    # Host bits do not count: 198.51.100.7/28 is the network 198.51.100.0/28.
    carrier_trunks.patch(namespace, "carrier-ips", {"spec": {"ipAcls": [
        {"cidr": "198.51.100.7/28"}, {"cidr": "2001:db8::1/128"}]}})
    wait_condition(carrier_trunks, namespace, "carrier-ips", "Synced", "True")
    made = writes(emulator, since)
    assert calls(made) == [("POST", f"{base}/ip-acls"),
                           ("DELETE", f"{base}/ip-acls/{ids['192.0.2.10/32']}")]
    assert made[0]["body"] == {"cidr": "198.51.100.0/28"}
    held = held_trunk(emulator, trunk_id)
    assert {a["cidr"]: a["id"] for a in held["ip_acls"]}["2001:db8::1/128"] == ids[
        "2001:db8::1/128"]
    assert sorted(a["cidr"] for a in held["ip_acls"]) == ["198.51.100.0/28",
                                                          "2001:db8::1/128"]


def test_numbers_are_a_set_an_agent_is_one_call_and_a_new_key_a_replacement(
        operator: OperatorProcess, emulator: EmulatorProcess, carrier_trunks: Trunks,
        core: client.CoreV1Api, namespace: str) -> None:
    trunk_id = create_ready(carrier_trunks, core, namespace, carrier(
        "numbers", numbers=[{"e164": N1}, {"e164": N2}]))["status"]["trunkId"]
    base = f"/trunk/trunks/{trunk_id}"
    ids = {e: n["id"] for e, n in by_e164(held_trunk(emulator, trunk_id)).items()}

    # One number in, one out: an add and a remove, nothing else.
    since = last_seq(emulator)
    carrier_trunks.patch(namespace, "numbers", {"spec": {"numbers": [{"e164": N1},
                                                                     {"e164": N3}]}})
    trunk = wait_condition(carrier_trunks, namespace, "numbers", "Synced", "True")
    made = writes(emulator, since)
    assert calls(made) == [("POST", f"{base}/numbers"),
                           ("DELETE", f"{base}/numbers/{ids[N2]}")]
    assert made[0]["body"] == {"e164": N3, "destination_key": N3[1:]}
    held = by_e164(held_trunk(emulator, trunk_id))
    assert set(held) == {N1, N3} and held[N1]["id"] == ids[N1]
    assert status_numbers(trunk) == {e: n["id"] for e, n in held.items()}
    assert trunk["status"]["numberCount"] == 2
    ids[N3] = held[N3]["id"]

    # A new agent is one assign call on the number, which keeps its ID; so is clearing it.
    for agent in ("agent-sales", None):
        since = last_seq(emulator)
        carrier_trunks.patch(namespace, "numbers", {"spec": {"numbers": [
            {"e164": N1, "agentId": agent} if agent else {"e164": N1}, {"e164": N3}]}})
        wait_condition(carrier_trunks, namespace, "numbers", "Synced", "True")
        made = writes(emulator, since)
        assert calls(made) == [("PATCH", f"/trunk/numbers/{ids[N1]}")]
        assert made[0]["body"] == {"agent_id": agent}
        held = by_e164(held_trunk(emulator, trunk_id))
        assert (held[N1]["id"], held[N1]["agent_id"]) == (ids[N1], agent)

    # Bolna cannot change a destination key: the number is removed, then added again.
    since = last_seq(emulator)
    carrier_trunks.patch(namespace, "numbers", {"spec": {"numbers": [
        {"e164": N1}, {"e164": N3, "destinationKey": "0014155550112"}]}})
    trunk = wait_condition(carrier_trunks, namespace, "numbers", "Synced", "True")
    made = writes(emulator, since)
    assert calls(made) == [("DELETE", f"{base}/numbers/{ids[N3]}"),
                           ("POST", f"{base}/numbers")]
    assert made[1]["body"] == {"e164": N3, "destination_key": "0014155550112"}
    held = by_e164(held_trunk(emulator, trunk_id))
    assert held[N3]["destination_key"] == "0014155550112" and held[N3]["id"] != ids[N3]
    assert status_numbers(trunk)[N3] == held[N3]["id"]


def test_a_number_moved_between_two_trunks_in_one_apply_lands_on_the_new_one(
        operator: OperatorProcess, emulator: EmulatorProcess, carrier_trunks: Trunks,
        core: client.CoreV1Api, namespace: str) -> None:
    """Add before remove across objects: the new trunk may ask first and Bolna answers
    409 (the number is live on the old one). That is a wait, not a refusal: the new
    trunk retries (NumberTaken) and holds the number once the old one lets it go."""
    old_id = create_ready(carrier_trunks, core, namespace, carrier(
        "old", numbers=[{"e164": N1}]))["status"]["trunkId"]
    new_id = create_ready(carrier_trunks, core, namespace, carrier(
        "new", numbers=[]))["status"]["trunkId"]
    carrier_trunks.patch(namespace, "new", {"spec": {"numbers": [{"e164": N1}]}})
    wait_event(core, namespace, "NumberTaken")
    assert condition(carrier_trunks.get(namespace, "new"), "Stalled")["status"] == "False"
    carrier_trunks.patch(namespace, "old", {"spec": {"numbers": []}})
    wait_for("the moved number on the new trunk",
             lambda: N1 in by_e164(held_trunk(emulator, new_id)), timeout=90)
    trunk = wait_condition(carrier_trunks, namespace, "new", "Ready", "True")
    assert set(status_numbers(trunk)) == {N1}
    assert N1 not in by_e164(held_trunk(emulator, old_id))


# ---- drift ----------------------------------------------------------------------------

def _without_mine(made: list[dict[str, Any]], mine: list[tuple[str, str, Any]]
                  ) -> list[tuple[str, str, Any]]:
    """The writes that are not the test's own (each of those taken out once)."""
    left = [(r["method"], r["path"], r.get("body")) for r in made]
    for call in mine:
        left.remove(call)
    return left


def test_drift_of_the_trunk_and_its_children_is_put_back_and_reported(
        operator: OperatorProcess, emulator: EmulatorProcess, carrier_trunks: Trunks,
        core: client.CoreV1Api, namespace: str) -> None:
    trunk_id = create_ready(carrier_trunks, core, namespace, carrier(
        "drift", channels=12, gateways=[GW_A, GW_B], ipAcls=[{"cidr": "192.0.2.10"}],
        numbers=[{"e164": N1, "agentId": "agent-one"}, {"e164": N2}]))["status"]["trunkId"]
    base = f"/trunk/trunks/{trunk_id}"
    held = held_trunk(emulator, trunk_id)
    gateway_b = next(g["id"] for g in held["gateways"] if g["host"] == GW_B["host"])
    numbers = by_e164(held)
    before = last_seq(emulator)
    updates = posted(core, namespace, "Updated")  # the create's children

    # Someone changes the trunk and each kind of child in Bolna, over its API.
    mine: list[tuple[str, str, Any]] = [
        ("PATCH", base, {"channels": 99, "is_active": False}),
        ("DELETE", f"{base}/gateways/{gateway_b}", None),
        ("POST", f"{base}/ip-acls", {"cidr": "203.0.113.0/24"}),
        ("DELETE", f"{base}/numbers/{numbers[N2]['id']}", None),
        ("PATCH", f"/trunk/numbers/{numbers[N1]['id']}", {"agent_id": "intruder"}),
    ]
    answers = [bolna(emulator, method, path, body) for method, path, body in mine]
    intruder_acl = answers[2]["id"]

    def restored() -> bool:
        now = held_trunk(emulator, trunk_id)
        found = by_e164(now)
        return (now["channels"] == 12 and now["is_active"] is True
                and gateway_keys(now) == gateway_keys(held)
                and [a["cidr"] for a in now["ip_acls"]] == ["192.0.2.10/32"]
                and set(found) == {N1, N2} and found[N1]["agent_id"] == "agent-one")

    wait_for("the drift check to put Bolna back", restored, timeout=DRIFT_INTERVAL * 5)
    kind, _, message = wait_event(core, namespace, "DriftCorrected")
    assert kind == "Warning" and trunk_id in message
    assert posted(core, namespace, "Updated") == updates  # drift, not a spec change

    # Exactly one corrective call per change, whichever drift round made it.
    fixed = _without_mine(writes(emulator, before), mine)
    expected = [
        ("PATCH", base, {"channels": 12, "is_active": True}),
        ("POST", f"{base}/gateways", {"host": GW_B["host"], "port": 5080, "priority": 2}),
        ("DELETE", f"{base}/ip-acls/{intruder_acl}", None),
        ("POST", f"{base}/numbers", {"e164": N2, "destination_key": N2[1:]}),
        ("PATCH", f"/trunk/numbers/{numbers[N1]['id']}", {"agent_id": "agent-one"}),
    ]
    assert Counter(json.dumps(c, sort_keys=True) for c in fixed) == Counter(
        json.dumps(c, sort_keys=True) for c in expected), fixed
    new_n2 = by_e164(held_trunk(emulator, trunk_id))[N2]["id"]
    trunk = wait_status(carrier_trunks, namespace, "drift", "the re-added number's ID",
                        lambda t: status_numbers(t).get(N2) == new_n2)
    assert condition(trunk, "Ready")["status"] == "True"


def test_a_drift_check_that_finds_no_drift_writes_nothing(
        operator: OperatorProcess, emulator: EmulatorProcess, carrier_trunks: Trunks,
        core: client.CoreV1Api, namespace: str) -> None:
    # Values Bolna stores in another form than the spec's (a bare address as /32, an
    # IPv6 address, a host in capitals, a codec list) must compare equal.
    create_ready(carrier_trunks, core, namespace, carrier(
        "quiet", description="x", preset="vonage", isActive=True, channels=7,
        transport="udp", codecs=["PCMU", "PCMA"], outboundLeadingPlusEnabled=False,
        defaultInboundAgentId="agent-default", **CREDENTIALS,
        gateways=[{"host": "SIP-A.Carrier.Example"}, GW_B],
        ipAcls=[{"cidr": "192.0.2.10"}, {"cidr": "2001:DB8::1"}],
        numbers=[{"e164": N1, "agentId": "agent-one"}, {"e164": N2}]))
    # One drift round after Ready: the create's own writes (Kopf's included) are over.
    wait_drift_rounds(emulator, last_seq(emulator), rounds=1)
    since = last_seq(emulator)
    version = carrier_trunks.get(namespace, "quiet")["metadata"]["resourceVersion"]
    seen = {reason: posted(core, namespace, reason) for reason in set(reasons(core, namespace))}
    wait_drift_rounds(emulator, since, rounds=2)
    assert writes(emulator, since) == []
    trunk = carrier_trunks.get(namespace, "quiet")
    assert trunk["metadata"]["resourceVersion"] == version, \
        "a drift check without drift rewrote the CarrierTrunk"
    assert {reason: posted(core, namespace, reason) for reason in set(
        reasons(core, namespace))} == seen and "DriftCorrected" not in seen


def test_a_new_carrier_allowlist_reaches_the_status_of_a_quiet_trunk(
        operator: OperatorProcess, emulator: EmulatorProcess, carrier_trunks: Trunks,
        core: client.CoreV1Api, namespace: str) -> None:
    # Drift checks of an unchanged trunk compare its record; what the carrier must
    # allowlist is the account's (Bolna's POP), read apart from it, and must still move.
    create_ready(carrier_trunks, core, namespace, carrier("allow", gateways=[GW_A]))
    wait_drift_rounds(emulator, last_seq(emulator), rounds=2)  # quiet checks from here
    before = emulator.faults()["trunk_pop_ips"]
    emulator.set_faults(trunk_pop_ips=["203.0.113.7"])
    try:
        wait_for("the new signalling IP in status.carrierAllowlist", lambda: carrier_trunks.get(
            namespace, "allow")["status"]["carrierAllowlist"]["signallingIps"]
            == ["203.0.113.7"], timeout=DRIFT_INTERVAL * 6)
    finally:
        emulator.set_faults(trunk_pop_ips=before)


def test_a_trunk_deleted_in_bolna_is_created_again_with_its_children(
        operator: OperatorProcess, emulator: EmulatorProcess, carrier_trunks: Trunks,
        core: client.CoreV1Api, namespace: str) -> None:
    trunk_id = create_ready(carrier_trunks, core, namespace, carrier(
        "recreate", gateways=[GW_A], ipAcls=[{"cidr": "192.0.2.10"}],
        numbers=[{"e164": N1}]))["status"]["trunkId"]
    bolna(emulator, "DELETE", f"/trunk/trunks/{trunk_id}")
    wait_status(carrier_trunks, namespace, "recreate", "a new trunk ID",
                lambda t: t["status"].get("trunkId") not in (None, trunk_id),
                timeout=DRIFT_INTERVAL * 5)
    trunk = wait_condition(carrier_trunks, namespace, "recreate", "Ready", "True")
    new_id = trunk["status"]["trunkId"]
    assert new_id != trunk_id
    assert trunk["metadata"]["annotations"][TRUNK_ID] == new_id
    [held] = bolna_trunks(emulator)
    assert held["id"] == new_id
    assert gateway_keys(held) == {("sip-a.carrier.example", 5060, 1)}
    assert [a["cidr"] for a in held["ip_acls"]] == ["192.0.2.10/32"]
    assert status_numbers(trunk) == {N1: by_e164(held)[N1]["id"]}
    assert any(r == "DriftCorrected" and trunk_id in m for _, r, m in events(core, namespace))
