"""A trunk of either kind as the SIP edge sees it: an ``EdgeSpec``.

The edge renders, reloads and probes gateways the same way for both kinds; only how a
spec names its gateways, transport and carrier addresses differs, and that is all this
module knows. Only specs the operator's own validation accepts get here: a trunk the
Bolna half refuses (an older CRD let it through) is not written into Kamailio either.
"""

from __future__ import annotations

from ..kamailio.render import EdgeGateway, EdgeSource, EdgeSpec
from ..model.carrier_spec import CarrierTrunkSpec
from ..model.kinds import CARRIER_TRUNK
from ..model.spec import SipTrunkSpec
from ..reconcile.objects import TrunkObject
from ..reconcile.validation import validated_carrier_spec, validated_spec

_SIP_TRANSPORT = {"transport-udp": "udp", "transport-tcp": "tcp", "transport-tls": "tls"}


def siptrunk_edge(spec: SipTrunkSpec) -> EdgeSpec:
    """A SipTrunk: probed unless ``qualifyFrequency`` is 0; carrier addresses only for
    ip-based trunks (a userpass carrier is known by its credentials, not its address)."""
    return EdgeSpec(
        gateways=tuple(EdgeGateway(g.gatewayAddress, g.effective_port(spec.transport),
                                   g.priority, f"spec.gateways[{i}].gatewayAddress",
                                   g.drained)
                       for i, g in enumerate(spec.gateways)),
        transport=_SIP_TRANSPORT[spec.transport],
        active=spec.active,
        probing=spec.qualifyFrequency > 0,
        sources=tuple(EdgeSource(i.ipAddress, f"spec.ipIdentifiers[{n}].ipAddress")
                      for n, i in enumerate(spec.ipIdentifiers or ()))
        if spec.authType == "ip-based" else ())


def carrier_edge(spec: CarrierTrunkSpec) -> EdgeSpec:
    """A CarrierTrunk: always probed (the status shows OPTIONS health beside Bolna's call
    health); its carrier IPs are the sources; without a transport in spec, Bolna's own
    is not known here, so the edge speaks UDP, SIP's default. ``channels`` limits the
    calls through each edge replica at once, as Bolna limits the trunk's."""
    return EdgeSpec(
        gateways=tuple(EdgeGateway(g.host, g.effective_port(), g.priority,
                                   f"spec.gateways[{i}].host", g.drained)
                       for i, g in enumerate(spec.gateways)),
        transport=spec.transport or "udp",
        active=spec.isActive,
        probing=True,
        sources=tuple(EdgeSource(a.cidr, f"spec.ipAcls[{i}].cidr")
                      for i, a in enumerate(spec.ipAcls)),
        max_calls=spec.channels)


def edge_spec(obj: TrunkObject) -> EdgeSpec:
    """The object's ``EdgeSpec``; ``Stalled`` when the operator's validation refuses it."""
    if obj.kind is CARRIER_TRUNK:
        return carrier_edge(validated_carrier_spec(obj))
    return siptrunk_edge(validated_spec(obj))
