"""The SipTrunk API (sip.bolna.ai/v1alpha1): models, rules, CRD rendering, validation."""

from .names import API_VERSION, GROUP, KIND, PLURAL, VERSION
from .spec import Gateway, IpIdentifier, PhoneNumber, SecretKeyRef, SipTrunkSpec
from .status import Condition, SipTrunkStatus

__all__ = [
    "API_VERSION",
    "GROUP",
    "KIND",
    "PLURAL",
    "VERSION",
    "Condition",
    "Gateway",
    "IpIdentifier",
    "PhoneNumber",
    "SecretKeyRef",
    "SipTrunkSpec",
    "SipTrunkStatus",
]
