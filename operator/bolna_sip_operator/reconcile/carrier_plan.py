"""The calls that make a ``/trunk`` trunk equal to a CarrierTrunk: pure.

Settings are one partial PATCH. Gateways, carrier IPs and numbers are sub-resources that
Bolna adds and removes one at a time, so they are compared as sets and each difference
is one call, in an order that keeps the trunk usable while it changes:

- A changed gateway (another host, port or priority) is a new gateway plus the removal
  of the old one, and the new one is added *first*, so outbound calls always have a
  gateway to try. Only when the trunk already holds Bolna's maximum of 8 does a removal
  go first, to make room.
- Carrier IPs likewise: added before the old ones go, so the carrier is never refused.
- A number whose ``destination_key`` changed is removed and added again (Bolna has no
  update for it, and refuses an ``e164`` twice); a changed agent is one assign call.

A field Bolna did not return cannot be compared. It is sent once, on the first look at a
generation (a create, or the user's change), and never by a drift check, which would
send it every interval (Bolna's pages do not say which fields a trunk answer carries).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..bolna.trunk_wire import GatewayRecord, IpAclRecord, NumberRecord, TrunkRecord
from ..model.carrier_spec import network_of
from .carrier_desired import SETTINGS, DesiredCarrierTrunk, DesiredGateway, DesiredNumber

MAX_GATEWAYS = 8
"""Bolna's documented limit of gateways per trunk."""
ASSUMED_PORT = 5060
"""A gateway answer without a port is read as 5060 (Bolna's guide implies it)."""
ASSUMED_PRIORITY = 1
"""A gateway answer without a priority is read as 1 (assumption; not documented)."""


@dataclass(frozen=True)
class AddGateway:
    gateway: DesiredGateway


@dataclass(frozen=True)
class RemoveGateway:
    id: str
    label: str


@dataclass(frozen=True)
class AddCarrierIp:
    cidr: str


@dataclass(frozen=True)
class RemoveCarrierIp:
    id: str
    cidr: str


@dataclass(frozen=True)
class AddNumber:
    number: DesiredNumber


@dataclass(frozen=True)
class RemoveNumber:
    id: str
    e164: str


@dataclass(frozen=True)
class AssignAgent:
    id: str
    e164: str
    agent_id: str | None


Step = (AddGateway | RemoveGateway | AddCarrierIp | RemoveCarrierIp | AddNumber
        | RemoveNumber | AssignAgent)


@dataclass
class CarrierPlan:
    """A partial PATCH, and the sub-resource calls in the order to make them."""

    base: TrunkRecord
    """The trunk as observed: the steps change its children from here."""
    patch: dict[str, Any] = field(default_factory=dict)
    send_password: bool = False
    steps: list[Step] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """True when Bolna already matches."""
        return not (self.patch or self.send_password or self.steps)

    @property
    def calls(self) -> int:
        """How many Bolna calls running this plan takes."""
        return (1 if self.patch or self.send_password else 0) + len(self.steps)

    def summary(self) -> str:
        """A sentence for Events: what changes (never values)."""
        parts = []
        if self.patch:
            parts.append("fields " + ", ".join(sorted(
                name for name in self.patch if name != "auth_password")))
        if self.send_password:
            parts.append("the credentials")
        for kind, what in ((AddGateway, "gateway(s) added"),
                           (RemoveGateway, "gateway(s) removed"),
                           (AddCarrierIp, "carrier IP(s) added"),
                           (RemoveCarrierIp, "carrier IP(s) removed"),
                           (AddNumber, "number(s) added"), (RemoveNumber, "number(s) removed"),
                           (AssignAgent, "number agent(s) set")):
            count = sum(1 for step in self.steps if isinstance(step, kind))
            if count:
                parts.append(f"{count} {what}")
        return "; ".join(parts) or "nothing"


def observed_value(trunk: TrunkRecord, name: str) -> Any:
    """A setting as Bolna returned it, in the desired form (codecs as ``"PCMA,PCMU"``)."""
    if name == "codecs":
        codecs = trunk.codec_list()
        return None if codecs is None else ",".join(codecs)
    return getattr(trunk, name)


def _said(trunk: TrunkRecord, name: str) -> bool:
    """Whether Bolna's answer carried the field at all (``null`` included)."""
    return name in trunk.model_fields_set


def differing_settings(desired: DesiredCarrierTrunk, trunk: TrunkRecord, *,
                       unsaid_differ: bool) -> list[str]:
    """Managed settings whose value differs from Bolna's; a field Bolna did not return
    differs only with ``unsaid_differ`` (the first look at a generation)."""
    found = []
    for name in SETTINGS:
        wanted = desired.settings[name]
        if wanted is None:
            continue
        if not _said(trunk, name):
            if unsaid_differ:
                found.append(name)
            continue
        if observed_value(trunk, name) != wanted:
            found.append(name)
    return found


def plan_carrier_trunk(desired: DesiredCarrierTrunk, observed: TrunkRecord, *,
                       password_changed: bool = False, skip: Iterable[str] = (),
                       first_look: bool = True) -> CarrierPlan:
    """Compare settings field by field and children as sets (see the module docstring).
    Fields in ``skip`` (Bolna did not take them for this generation) are not sent again."""
    plan = CarrierPlan(base=observed)
    skipped = set(skip)
    for name in differing_settings(desired, observed, unsaid_differ=first_look):
        if name not in skipped:
            plan.patch[name] = desired.settings[name]
    username = desired.settings["auth_username"]
    if username is not None and ("auth_username" in plan.patch or password_changed):
        # Bolna takes the username and the password together, or neither.
        plan.patch["auth_username"] = username
        plan.send_password = True
    if observed.gateways is not None:
        plan.steps += gateway_steps(desired.gateways, observed.gateways)
    if observed.ip_acls is not None:
        plan.steps += carrier_ip_steps(desired.networks, observed.ip_acls)
    numbers = observed.live_numbers()
    if numbers is not None:
        plan.steps += number_steps(desired.numbers, numbers)
    return plan


def gateway_key(gateway: GatewayRecord) -> tuple[str, int, int]:
    """An observed gateway's identity, as ``DesiredGateway.key``."""
    return ((gateway.host or "").lower(),
            gateway.port if gateway.port is not None else ASSUMED_PORT,
            gateway.priority if gateway.priority is not None else ASSUMED_PRIORITY)


def gateway_steps(desired: Iterable[DesiredGateway], observed: list[GatewayRecord]
                  ) -> list[Step]:
    """Adds before removes, except to make room under Bolna's 8-gateway limit."""
    unmatched = list(observed)
    adds: list[DesiredGateway] = []
    for wanted in desired:
        match = next((g for g in unmatched if gateway_key(g) == wanted.key), None)
        if match is None:
            adds.append(wanted)
        else:
            unmatched.remove(match)
    removes = [RemoveGateway(str(g.id), f"{g.host}:{g.port}") for g in unmatched]
    steps: list[Step] = []
    held = len(observed)
    for wanted in adds:
        if held >= MAX_GATEWAYS and removes:
            steps.append(removes.pop(0))
            held -= 1
        steps.append(AddGateway(wanted))
        held += 1
    return steps + list(removes)


def _network(cidr: str | None) -> str:
    try:
        return network_of(cidr or "")
    except ValueError:
        return cidr or ""  # Bolna holds something we cannot read: it differs


def carrier_ip_steps(desired: Iterable[str], observed: list[IpAclRecord]) -> list[Step]:
    """Adds before removes, so the carrier is never refused in between."""
    held = {_network(acl.cidr): acl for acl in observed}
    wanted = list(dict.fromkeys(desired))
    steps: list[Step] = [AddCarrierIp(network) for network in wanted if network not in held]
    steps += [RemoveCarrierIp(str(acl.id), acl.cidr or "") for network, acl in held.items()
              if network not in wanted]
    return steps


def number_steps(desired: dict[str, DesiredNumber], observed: list[NumberRecord]
                 ) -> list[Step]:
    """Replacements (remove, then add), new numbers, agents, then removals."""
    held = {n.e164: n for n in observed if n.e164}
    steps: list[Step] = []
    assigns: list[Step] = []
    for e164, wanted in desired.items():
        have = held.get(e164)
        if have is None:
            steps.append(AddNumber(wanted))
        elif have.destination_key is not None and have.destination_key != wanted.destination_key:
            steps += [RemoveNumber(str(have.id), e164), AddNumber(wanted)]
        elif have.agent_id != wanted.agent_id:
            assigns.append(AssignAgent(str(have.id), e164, wanted.agent_id))
    removals: list[Step] = [RemoveNumber(str(n.id), e164) for e164, n in held.items()
                            if e164 not in desired]
    return steps + assigns + removals


def not_applied(plan: CarrierPlan, desired: DesiredCarrierTrunk, answer: TrunkRecord,
                skip: Iterable[str]) -> list[str]:
    """Settings Bolna's answer shows unchanged after the PATCH, or still unlike spec.
    A field the answer leaves out is unknown, not refused."""
    refused = {name for name, wanted in plan.patch.items()
               if _said(answer, name) and observed_value(answer, name) != wanted}
    refused |= {name for name in differing_settings(desired, answer, unsaid_differ=False)
                if name in set(skip) | set(plan.patch)}
    return sorted(refused)
