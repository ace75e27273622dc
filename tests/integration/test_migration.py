"""Migrating a SipTrunk to a CarrierTrunk, step by step as README.md's "Migrating a
SipTrunk to a CarrierTrunk" writes it, with no number ever unrouted.

Real parts: the operator process with the SIP edge on, a real kube-apiserver, Kamailio
with the project's config, two sipp gateways, and the Bolna emulator holding both of
Bolna's APIs for one account: the legacy ``/sip-trunks`` (the SipTrunk) and the newer
``/trunk`` (the CarrierTrunk). Both objects are named ``acme``, as a migration usually
names them.

"Live" means what Bolna routes: the number is listed on an active trunk. Bolna keeps
the two APIs apart (a number may be live on one trunk of each API at once, never on two
trunks of one API), which is what lets every number be added to the CarrierTrunk before
it leaves the SipTrunk. Two checks hold that invariant:

- after every step, each number is read over both of Bolna's APIs, as the operator's
  account (``GET /sip-trunks/trunks/{id}`` and ``GET /trunk/trunks/{id}``), and must be
  live on at least one of the two trunks, and both objects must be Ready for their
  current generation;
- all along, a thread reads the emulator's whole state (``/_emulator/state``: not rate
  limited, not in the request log) every 100 ms and records any moment a number was live
  on neither API; another samples both objects' conditions and records any moment one
  was Stalled, or not Ready for a reason other than working towards a new generation.

The carrier's own changes (allowlisting Bolna's new addresses, its origination URI) and
the agents' telephony provider are outside Bolna's trunk APIs and the operator; the
test says where they happen and checks what the operator shows for them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from bolna_devenv.control_plane import ControlPlane
from bolna_devenv.kamailio import Kamailio
from bolna_devenv.operator_process import OperatorProcess
from bolna_devenv.sip_peer import SipPeer, place_call
from bolna_emulator.process import EmulatorProcess
from tests.carrier_corpus import carrier_manifest
from tests.corpus import IP_BASED_SPEC, manifest
from tests.integration.apiserver import GROUP, VERSION, Trunks, create_namespace
from tests.integration.helpers import condition, exists, wait_condition, wait_for, warm_up

pytestmark = pytest.mark.integration

TOKEN = "migration-token"
PREFIX = "opmig"
READY_TIMEOUT = 60.0
PASSWORD = "carrier-digest-password"

AGENTS = ("agent-sales", "agent-support", "agent-billing")


@dataclass(frozen=True)
class Numbers:
    """One migration's three numbers (each run has its own: a number can be live on one
    ``/trunk`` trunk of the account only, and the runs share the emulator)."""

    base: int

    @property
    def agents(self) -> dict[str, str]:
        """Each number, as digits (what "the same number" means across the two APIs),
        with the agent that answers it today."""
        return {f"1415555{self.base + i:04d}": agent for i, agent in enumerate(AGENTS)}

    @property
    def digits(self) -> list[str]:
        return sorted(self.agents)

    def legacy(self) -> list[dict[str, str]]:
        """As the SipTrunk holds them: digits, the second with its +, each named."""
        return [{"phoneNumber": ("+" if i == 1 else "") + digits, "name": agent}
                for i, (digits, agent) in enumerate(self.agents.items())]

    def carrier(self, digits: str) -> dict[str, str]:
        """As the CarrierTrunk holds one: E.164, with its agent."""
        return {"e164": f"+{digits}", "agentId": self.agents[digits]}

# Ready=False while the operator works towards a new generation: not a failure.
PROGRESS_REASONS = {"Creating", "Updating", "Loading", "Probing"}


# ---- the stack -------------------------------------------------------------------------


@dataclass
class Stack:
    operator: OperatorProcess
    bolna: EmulatorProcess
    kamailio: Kamailio
    gateways: tuple[SipPeer, SipPeer]
    workdir: Path


@pytest.fixture(scope="module")
def stack(control_plane: ControlPlane, crd: None,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The operator with the SIP edge on (one Kamailio, two gateways) and the emulator,
    watching ``opmig-*``."""
    workdir = tmp_path_factory.mktemp("migration")
    with Kamailio(workdir / "kamailio", ping_interval=1, probing_threshold=2,
                  fr_timer_ms=1000, reload_delta=1) as kamailio, \
            SipPeer(workdir / "peers", name="gw1") as gw1, \
            SipPeer(workdir / "peers", name="gw2") as gw2, \
            EmulatorProcess(tokens=[TOKEN], log_file=workdir / "emulator.log") as bolna:
        operator = OperatorProcess(
            kubeconfig=control_plane.kubeconfig, bolna_url=bolna.url, token=TOKEN,
            log_path=workdir / "operator.log", drift_interval=3,
            extra_args=("--namespace", f"{PREFIX}-*", "--kamailio-rpc", kamailio.rpc_url,
                        "--dispatcher-file", str(kamailio.dispatcher_file),
                        "--address-file", str(kamailio.address_file),
                        "--reload-delta", "1", "--health-interval", "1",
                        "--probe-settle", "4"))
        operator.start()
        try:
            warm_up(control_plane, bolna, prefix=PREFIX, spec={
                **IP_BASED_SPEC, "qualifyFrequency": 1,
                "gateways": [{"gatewayAddress": "127.0.0.1", "port": gw1.port}]})
            yield Stack(operator, bolna, kamailio, (gw1, gw2), workdir)
        finally:
            operator.stop()


# ---- reading Bolna over both APIs ---------------------------------------------------------


def _digits(number: str) -> str:
    return number.removeprefix("+")


def live_over_the_apis(bolna: EmulatorProcess, legacy_id: str | None,
                       carrier_id: str | None) -> dict[str, set[str]]:
    """The numbers live on each of the two trunks, read over Bolna's APIs as the
    operator's account: ``{"sip-trunks": {...}, "trunk": {...}}``, as digits. A trunk
    that is gone (404) or inactive routes nothing."""
    live: dict[str, set[str]] = {"sip-trunks": set(), "trunk": set()}
    with bolna.client(TOKEN) as api:
        if legacy_id is not None:
            answer = api.get(f"/sip-trunks/trunks/{legacy_id}")
            assert answer.status_code in (200, 404), answer.text
            if answer.status_code == 200 and answer.json()["is_active"]:
                live["sip-trunks"] = {_digits(n["phone_number"])
                                      for n in answer.json()["phone_numbers"]}
        if carrier_id is not None:
            answer = api.get(f"/trunk/trunks/{carrier_id}")
            assert answer.status_code in (200, 404), answer.text
            if answer.status_code == 200 and answer.json()["is_active"]:
                live["trunk"] = {_digits(n["e164"]) for n in answer.json()["numbers"]}
    return live


def live_in_state(state: dict[str, Any]) -> set[str]:
    """Every number live on an active trunk of either API, from the emulator's state."""
    live: set[str] = set()
    for account in state["accounts"].values():
        for trunk in account["trunks"]:
            if trunk["is_active"]:
                live |= {_digits(n["phone_number"]) for n in trunk["phone_numbers"]}
    for account in state["trunk"]["accounts"].values():
        for trunk in account["trunks"]:
            if trunk["is_active"]:
                live |= {_digits(n["e164"]) for n in trunk["numbers"]}
    return live


@dataclass
class Watch:
    """Two samplers for the whole migration: which numbers Bolna routes, and what the
    two objects' conditions say."""

    bolna: EmulatorProcess
    trunks: Trunks
    carrier_trunks: Trunks
    namespace: str
    numbers: list[str]
    unrouted: list[tuple[float, list[str]]] = field(default_factory=list)
    not_ready: list[tuple[str, int, str, str, str]] = field(default_factory=list)
    bolna_samples: int = 0
    condition_samples: int = 0
    watch_conditions: bool = True
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Watch:
        for target in (self._numbers, self._conditions):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _numbers(self) -> None:
        while not self._stop.is_set():
            missing = sorted(set(self.numbers) - live_in_state(self.bolna.state()))
            self.bolna_samples += 1
            if missing:
                self.unrouted.append((time.monotonic(), missing))
            time.sleep(0.1)

    def _conditions(self) -> None:
        while not self._stop.is_set():
            if self.watch_conditions:
                for trunks in (self.trunks, self.carrier_trunks):
                    self._sample(trunks)
                self.condition_samples += 1
            time.sleep(0.2)

    def _sample(self, trunks: Trunks) -> None:
        if not exists(trunks, self.namespace, "acme"):
            return
        trunk = trunks.get(self.namespace, "acme")
        ready, stalled = condition(trunk, "Ready"), condition(trunk, "Stalled")
        if not ready:
            return  # not seen by the operator yet: nothing to judge
        if stalled.get("status") == "True" or (
                ready["status"] != "True" and ready["reason"] not in PROGRESS_REASONS):
            self.not_ready.append((trunks.plural, trunk["metadata"]["generation"],
                                   ready.get("status", ""), ready.get("reason", ""),
                                   stalled.get("reason", "")))


# ---- the migration ---------------------------------------------------------------------


def _gateways(stack: Stack) -> list[tuple[str, int, int]]:
    gw1, gw2 = stack.gateways
    return [("127.0.0.1", gw1.port, 1), ("127.0.0.1", gw2.port, 2)]


def legacy_siptrunk(stack: Stack, numbers: Numbers, policy: str) -> dict[str, Any]:
    """The SipTrunk being migrated: userpass over two gateways, three numbers."""
    return manifest({
        "name": f"Acme carrier {policy}", "provider": "twilio", "authType": "userpass",
        "authUsername": "acme-bolna", "authPasswordSecretRef": {"name": "acme-sip",
                                                                "key": "password"},
        "gateways": [{"gatewayAddress": host, "port": port, "priority": priority}
                     for host, port, priority in _gateways(stack)],
        "inboundEnabled": True, "allow": "ulaw,alaw", "transport": "transport-udp",
        "qualifyFrequency": 1, "phoneNumbers": numbers.legacy(),
        "deletionPolicy": "Delete"}, name="acme")


def new_carriertrunk(stack: Stack, policy: str) -> dict[str, Any]:
    """The same trunk as a CarrierTrunk, field by field as the README's table maps it,
    with no numbers yet, and a Bolna name of its own so the two read apart in Bolna's
    dashboard."""
    return carrier_manifest({
        "name": f"Acme carrier {policy} (SIP trunks)", "preset": "twilio",
        "authUsername": "acme-bolna", "authPasswordSecretRef": {"name": "acme-sip"},
        "gateways": [{"host": host, "port": port, "priority": priority}
                     for host, port, priority in _gateways(stack)],
        "ipAcls": [{"cidr": "54.172.60.0/30"}, {"cidr": "54.244.51.0/30"}],
        "inboundEnabled": True, "outboundLeadingPlusEnabled": True,
        "codecs": ["PCMU", "PCMA"], "transport": "udp", "channels": 20,
        "numbers": []}, name="acme")


@pytest.mark.parametrize(("policy", "numbers"), [
    pytest.param("Delete", Numbers(100), id="Delete"),
    pytest.param("Orphan", Numbers(200), id="Orphan")])
def test_a_siptrunk_migrates_to_a_carriertrunk_with_every_number_routed_throughout(
        stack: Stack, trunks: Trunks, carrier_trunks: Trunks, core: client.CoreV1Api,
        api_client: client.ApiClient, policy: str, numbers: Numbers) -> None:
    """README.md's seven steps, ending with the SipTrunk deleted under ``policy``:
    ``Delete`` takes the legacy trunk out of Bolna, ``Orphan`` (set just before, as the
    README shows) leaves it there without numbers."""
    namespace = create_namespace(api_client, PREFIX)
    bolna = stack.bolna
    bolna.set_agents(TOKEN, list(AGENTS))
    wanted = numbers.digits  # every number, as digits
    ids: dict[str, str | None] = {"legacy": None, "carrier": None}
    steps: list[str] = []

    def both_ready() -> None:
        """Both objects (those that exist) Ready for their current generation."""
        for kind, trunks_of_kind in (("legacy", trunks), ("carrier", carrier_trunks)):
            if ids[kind] is not None and exists(trunks_of_kind, namespace, "acme"):
                wait_condition(trunks_of_kind, namespace, "acme", "Ready", "True",
                               timeout=READY_TIMEOUT)

    def check(step: str) -> dict[str, set[str]]:
        """After a step: both objects Ready, and each number live on at least one of
        the two trunks, read over Bolna's two APIs."""
        both_ready()
        live = live_over_the_apis(bolna, ids["legacy"], ids["carrier"])
        unrouted = [n for n in wanted if n not in live["sip-trunks"] | live["trunk"]]
        assert not unrouted, f"after {step!r}: {unrouted} live on neither trunk ({live})"
        steps.append(step)
        return live

    # Before: the SipTrunk routes the three numbers.
    core.create_namespaced_secret(namespace, client.V1Secret(
        metadata=client.V1ObjectMeta(name="acme-sip"), string_data={"password": PASSWORD}))
    trunks.create(namespace, legacy_siptrunk(stack, numbers, policy))
    legacy = wait_condition(trunks, namespace, "acme", "Ready", "True", timeout=READY_TIMEOUT)
    ids["legacy"] = legacy["status"]["trunkId"]
    live = check("before: the SipTrunk alone")
    assert live == {"sip-trunks": set(wanted), "trunk": set()}
    watch = Watch(bolna, trunks, carrier_trunks, namespace, wanted).start()
    try:
        # 1. The CarrierTrunk, written from the SipTrunk, without numbers. Ready;
        #    status.carrierAllowlist is what the carrier must allowlist, as Bolna's
        #    GET /trunk/pop says; the edge probes its gateways like the SipTrunk's, as a
        #    set of its own.
        carrier_trunks.create(namespace, new_carriertrunk(stack, policy))
        new = wait_condition(carrier_trunks, namespace, "acme", "Ready", "True",
                             timeout=READY_TIMEOUT)
        ids["carrier"] = new["status"]["trunkId"]
        with bolna.client(TOKEN) as api:
            pop = api.get("/trunk/pop").json()
        assert new["status"]["carrierAllowlist"] == {
            "sipDomain": pop["sip_domain"], "port": pop["port"],
            "transports": pop["transports"], "signallingIps": pop["ips"],
            "rtpPorts": pop["rtp_ports"]}
        assert new["status"]["carrierAllowlist"]["sipDomain"] == "trunk.bolna.ai"
        assert new["status"]["healthyGateways"] == "2/2"
        assert new["status"]["bolna"]["health"] == "WaitingForCarrier"
        legacy_set = legacy["status"]["dispatcher"]["setId"]
        carrier_set = new["status"]["dispatcher"]["setId"]
        assert legacy_set != carrier_set
        assert {legacy_set, carrier_set} <= {t["SET"] for t in
                                             stack.kamailio.dispatcher_targets()}
        state = bolna.state()
        [old_record] = [t for a in state["accounts"].values() for t in a["trunks"]
                        if t["id"] == ids["legacy"]]
        [new_record] = [t for a in state["trunk"]["accounts"].values() for t in a["trunks"]
                        if t["id"] == ids["carrier"]]
        assert new_record["auth_password_sha256"] == old_record["auth_password_sha256"]
        live = check("1: CarrierTrunk Ready without numbers")
        assert live["trunk"] == set()

        # 2. At the carrier: allowlist status.carrierAllowlist's signalling IPs and RTP
        #    ports, keeping the legacy address (outside Bolna and the operator).

        # 3. Each number joins the CarrierTrunk, with the agent that answers it: it is
        #    then live on both trunks.
        added: list[dict[str, str]] = []
        for digits in wanted:
            added.append(numbers.carrier(digits))
            carrier_trunks.patch(namespace, "acme", {"spec": {"numbers": added}})
            live = check(f"3: {digits} added to the CarrierTrunk")
            assert digits in live["trunk"] and digits in live["sip-trunks"]
        new = carrier_trunks.get(namespace, "acme")
        assert new["status"]["numberCount"] == len(wanted)
        with bolna.client(TOKEN) as api:
            held = api.get(f"/trunk/trunks/{ids['carrier']}").json()["numbers"]
        assert {(n["e164"], n["destination_key"], n["agent_id"]) for n in held} == {
            (f"+{d}", d, numbers.agents[d]) for d in wanted}

        # 4-5. The carrier sends to trunk.bolna.ai and the agents move to provider
        #    "trunk" (outside the operator). Calls then cross the new trunk; the
        #    CarrierTrunk's status shows Bolna's view of them.
        bolna.record_call(str(ids["carrier"]), "inbound", True, sip_code=200)
        wait_for("status.bolna.health Healthy", lambda: carrier_trunks.get(
            namespace, "acme")["status"]["bolna"]["health"] == "Healthy", timeout=30)
        check("4-5: calls cross the CarrierTrunk")

        # 6. Each number leaves the SipTrunk, one at a time.
        remaining = numbers.legacy()
        for number in numbers.legacy():
            remaining = [n for n in remaining if n != number]
            trunks.patch(namespace, "acme", {"spec": {"phoneNumbers": remaining}})
            digits = _digits(number["phoneNumber"])
            live = check(f"6: {digits} removed from the SipTrunk")
            assert digits not in live["sip-trunks"] and digits in live["trunk"]
        assert live == {"sip-trunks": set(), "trunk": set(wanted)}
        assert trunks.get(namespace, "acme")["status"]["phoneNumberCount"] == 0

        # 7. The SipTrunk goes: with Delete the legacy trunk leaves Bolna; with Orphan,
        #    set first and observed, it stays there without numbers. Either way its set
        #    leaves Kamailio and the CarrierTrunk stays as it was.
        if policy == "Orphan":
            trunks.patch(namespace, "acme", {"spec": {"deletionPolicy": "Orphan"}})
            check("7: the SipTrunk's deletionPolicy is Orphan")
        watch.watch_conditions = False  # the SipTrunk is Deleting now, by design
        trunks.api.delete_namespaced_custom_object(GROUP, VERSION, namespace, "siptrunks",
                                                   "acme")
        wait_for("the SipTrunk to go", lambda: not exists(trunks, namespace, "acme"),
                 timeout=READY_TIMEOUT)
        with bolna.client(TOKEN) as api:
            answer = api.get(f"/sip-trunks/trunks/{ids['legacy']}")
        if policy == "Delete":
            assert answer.status_code == 404
        else:
            assert answer.status_code == 200 and answer.json()["phone_numbers"] == []
        wait_for("the SipTrunk's set to leave Kamailio", lambda: legacy_set not in {
            t["SET"] for t in stack.kamailio.dispatcher_targets()}, timeout=30)
        live = check("7: SipTrunk deleted")
        assert live == {"sip-trunks": set(), "trunk": set(wanted)}
        new = carrier_trunks.get(namespace, "acme")
        assert new["metadata"]["generation"] == len(wanted) + 1  # nothing else changed
        assert new["status"]["dispatcher"]["setId"] == carrier_set
        # The password Secret both kinds referenced stays for the CarrierTrunk.
        assert (core.read_namespaced_secret("acme-sip", namespace).data or {}).get("password")
    finally:
        watch.stop()

    assert len(steps) == (11 if policy == "Orphan" else 10), steps
    assert watch.bolna_samples > 50 and watch.condition_samples > 20
    assert not watch.unrouted, f"numbers live on neither trunk: {watch.unrouted[:5]}"
    assert not watch.not_ready, f"not Ready and not progressing: {watch.not_ready[:5]}"
    # Calls placed through the edge with the CarrierTrunk's set reach the priority-1
    # gateway, as they did through the SipTrunk's.
    gw1, _ = stack.gateways
    before = gw1.invites_received()
    assert place_call(stack.kamailio.sip_port, carrier_set,
                      workdir=stack.workdir / "calls") == 200
    assert gw1.invites_received() == before + 1
