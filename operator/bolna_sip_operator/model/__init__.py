"""The sip.bolna.ai/v1alpha1 API (SipTrunk and CarrierTrunk): models, rules, CRD
rendering, validation."""

from .carrier_spec import (
    CarrierGateway,
    CarrierIpAcl,
    CarrierNumber,
    CarrierTrunkSpec,
    carrier_spec_violations,
)
from .carrier_status import CarrierTrunkStatus
from .names import API_VERSION, CARRIER_KIND, CARRIER_PLURAL, GROUP, KIND, PLURAL, VERSION
from .spec import Gateway, IpIdentifier, PhoneNumber, SecretKeyRef, SipTrunkSpec
from .status import Condition, SipTrunkStatus

__all__ = [
    "API_VERSION",
    "CARRIER_KIND",
    "CARRIER_PLURAL",
    "GROUP",
    "KIND",
    "PLURAL",
    "VERSION",
    "CarrierGateway",
    "CarrierIpAcl",
    "CarrierNumber",
    "CarrierTrunkSpec",
    "CarrierTrunkStatus",
    "Condition",
    "Gateway",
    "IpIdentifier",
    "PhoneNumber",
    "SecretKeyRef",
    "SipTrunkSpec",
    "SipTrunkStatus",
    "carrier_spec_violations",
]
