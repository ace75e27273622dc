"""The two kinds the operator serves, as the core addresses them.

``SipTrunk`` mirrors Bolna's legacy ``/sip-trunks`` API, ``CarrierTrunk`` its newer
``/trunk`` API. Everything that differs in how the core *addresses* an object (its
kind for Events, its plural for API paths, the tag that keeps two objects of the same
name apart on the SIP edge) is here, so no other module spells a kind's names.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import names


@dataclass(frozen=True)
class Kind:
    """One served kind's names."""

    kind: str
    plural: str
    edge_tag: str
    """Prefix of the trunk's tag in Kamailio's files ("" for SipTrunk, whose tags
    predate the second kind): a SipTrunk and a CarrierTrunk may share a name, and a
    migration often makes exactly that pair."""

    @property
    def api_version(self) -> str:
        """``sip.bolna.ai/v1alpha1``: both kinds share the group and version."""
        return names.API_VERSION

    def ref(self, name: str) -> str:
        """How an object is named among objects of both kinds in one namespace (in the
        operator's indexes): a SipTrunk by its name, as before there were two kinds."""
        return name if self is SIP_TRUNK else f"{self.kind}/{name}"

    def key(self, namespace: str, name: str) -> str:
        """The object's tag on the SIP edge and in logs: ``[tag:]namespace/name``."""
        return f"{self.edge_tag}{namespace}/{name}"


SIP_TRUNK = Kind(names.KIND, names.PLURAL, "")
CARRIER_TRUNK = Kind(names.CARRIER_KIND, names.CARRIER_PLURAL, "ctrunk:")
KINDS = {kind.kind: kind for kind in (SIP_TRUNK, CARRIER_TRUNK)}


def kind_named(kind: str | None) -> Kind:
    """The served kind of that name; a body without one is a SipTrunk (older tests and
    callers build bodies without ``kind``)."""
    return KINDS.get(kind or names.KIND, SIP_TRUNK)
