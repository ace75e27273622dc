"""The API's names (SipTrunk and CarrierTrunk), in one place for the CRDs, the operator
and the tests."""

GROUP = "sip.bolna.ai"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "SipTrunk"
PLURAL = "siptrunks"
SINGULAR = "siptrunk"
SHORT_NAMES = ("sipt",)
CATEGORIES = ("bolna", "telephony")
CRD_NAME = f"{PLURAL}.{GROUP}"

CARRIER_KIND = "CarrierTrunk"
"""Bolna's newer ``/trunk`` API. Not ``Trunk`` (a substring of SipTrunk) and not a second
``SipTrunk``: Bolna calls its new product "SIP trunks", so that name would read as the
new one. The new API is organised around the carrier (preset, carrier IPs, carrier
credentials): one object is one carrier's trunk into Bolna's SIP edge."""
CARRIER_PLURAL = "carriertrunks"
CARRIER_SINGULAR = "carriertrunk"
CARRIER_SHORT_NAMES = ("ctrunk",)
CARRIER_CRD_NAME = f"{CARRIER_PLURAL}.{GROUP}"

TRUNK_ID_ANNOTATION = f"{GROUP}/trunk-id"
"""Adopt this existing Bolna trunk instead of creating one (the import path)."""
PASSWORD_MATCHES_ANNOTATION = f"{GROUP}/password-matches-bolna"
"""``"true"`` on an adopted userpass trunk: the password Secret holds the password Bolna
has already, so the first sync records the Secret's version instead of sending it (Bolna
never returns a password to compare). Later changes to the Secret are sent as usual."""

SECRET_LABEL = f"{GROUP}/referenced"
"""On Secrets a SipTrunk references: the operator watches only Secrets with this label,
so it neither holds nor lists the cluster's other Secrets."""
SECRET_FINALIZER = f"{GROUP}/in-use"
"""On API token Secrets while a SipTrunk uses them: deleting the trunk in Bolna needs the
token, so the Secret stays until the trunks that use it are gone."""
