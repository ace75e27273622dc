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
"""Put by earlier releases on the Secrets trunks referenced (they watched only those);
unused now, and taken off when the operator next holds or releases a token Secret."""
SECRET_FINALIZER = f"{GROUP}/in-use"
"""On API token Secrets while trunks use them, where the operator may patch Secrets:
deleting a trunk in Bolna needs the token, so the Secret stays while a deletion of its
trunks needs it (``reconcile.secrets``)."""
