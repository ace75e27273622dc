"""Bolna's published OpenAPI for the ``/sip-trunks`` API: the contract the emulator keeps.

:data:`OPENAPI_YAML` is the text of ``bolna-sip-trunks-openapi.yml`` (the project's
reference copy of the ``/sip-trunks`` part of the public Bolna OpenAPI document,
bolna-ai/skills ``references/openapi.yml`` at commit 28b24aa, with the
``media_encryption`` enum quoted so a YAML 1.1 loader keeps ``"no"`` a string), byte for
byte; its SHA-256 is :data:`OPENAPI_SHA256`. It lives in a Python module rather than a
data file so it ships in the wheel with the emulator and needs no package data.

The emulator checks request bodies against its request schemas (``validation.py``);
the test suite runs schemathesis against the emulator with it, and checks the bodies the
operator sends against it. Do not edit the text: replace it whole with a newer copy of
Bolna's document, update the digest, and run ``tests/emulator``.
"""

from __future__ import annotations

import copy
import functools
import hashlib
from typing import Any

import yaml

__all__ = ["OPENAPI_SHA256", "OPENAPI_YAML", "document", "schema"]

OPENAPI_SHA256 = "9667d1bc34fab5cc0a1e4d8f471398f454a72c448f15a3518ac7f675b58dd182"

OPENAPI_YAML = """\
openapi: 3.1.0
info:
  title: 'Bolna API: SIP trunk (BYOT) subset'
  version: 1.0.0
  description: 'The /sip-trunks paths of the public Bolna OpenAPI document (bolna-ai/skills,
    references/openapi.yml, commit 28b24aa) and the schemas they reference, content
    unchanged. Read as YAML 1.2: in the source file the media_encryption enum is written
    [no, sdes] without quotes, which a YAML 1.1 loader (PyYAML''s default) turns into
    [false, ''sdes'']; here the strings are quoted.'
servers:
- url: https://api.bolna.ai
  description: Production server
security:
- bearerAuth: []
paths:
  /sip-trunks/trunks:
    post:
      description: Create a new SIP trunk and register it with Bolna's media layer
      requestBody:
        description: SIP trunk configuration
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/SIPTrunkCreateRequest'
            examples:
              userpass-example:
                summary: Username/Password authentication
                value:
                  name: Zadarma Production
                  provider: zadarma
                  description: Main trunk for outbound sales
                  auth_type: userpass
                  auth_username: <your-sip-username>
                  auth_password: <your-sip-password>
                  gateways:
                  - gateway_address: sip.zadarma.com
                    port: 5060
                    priority: 1
                  allow: ulaw,alaw
                  disallow: all
                  inbound_enabled: true
                  outbound_leading_plus_enabled: true
              ip-based-example:
                summary: IP-Based authentication
                value:
                  name: Plivo Elastic Trunk
                  provider: plivo
                  auth_type: ip-based
                  gateways:
                  - gateway_address: 21467306465797919.zt.plivo.com
                    port: 5060
                    priority: 1
                  ip_identifiers:
                  - ip_address: 15.207.90.192/31
                  - ip_address: 204.89.151.128/27
                  inbound_enabled: true
        required: true
      responses:
        '201':
          description: SIP trunk created successfully
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/SIPTrunkResponse'
        '400':
          description: validation error
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Error'
    get:
      description: List all SIP trunks for your account
      parameters:
      - in: query
        name: is_active
        required: false
        schema:
          type: boolean
        description: Filter by active status. Omit to return all trunks.
      responses:
        '200':
          description: List of SIP trunks
          content:
            application/json:
              schema:
                type: array
                items:
                  $ref: '#/components/schemas/SIPTrunkResponse'
        '400':
          description: unexpected error
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Error'
  /sip-trunks/trunks/{trunk_id}:
    get:
      description: Get a single SIP trunk with full details including gateways, IP
        identifiers, and phone numbers
      parameters:
      - in: path
        name: trunk_id
        required: true
        schema:
          type: string
        description: The unique trunk ID
      responses:
        '200':
          description: SIP trunk details
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/SIPTrunkResponse'
        '404':
          description: trunk not found
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Error'
    patch:
      description: Partially update an existing SIP trunk. Only included fields are
        changed. Gateways and ip_identifiers arrays are fully replaced when provided.
      parameters:
      - in: path
        name: trunk_id
        required: true
        schema:
          type: string
        description: The unique trunk ID
      requestBody:
        description: Fields to update
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/SIPTrunkUpdateRequest'
        required: true
      responses:
        '200':
          description: Updated SIP trunk
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/SIPTrunkResponse'
        '400':
          description: validation error
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Error'
    delete:
      description: Permanently delete a SIP trunk and all associated resources (gateways,
        IP identifiers, phone numbers)
      parameters:
      - in: path
        name: trunk_id
        required: true
        schema:
          type: string
        description: The unique trunk ID
      responses:
        '200':
          description: Trunk deleted
          content:
            application/json:
              example:
                message: Trunk deleted successfully. 3 phone number(s) removed.
        '404':
          description: trunk not found
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Error'
  /sip-trunks/trunks/{trunk_id}/numbers:
    post:
      description: Add a DID phone number to a SIP trunk
      parameters:
      - in: path
        name: trunk_id
        required: true
        schema:
          type: string
        description: The unique trunk ID
      requestBody:
        description: Phone number to add
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/SIPTrunkPhoneNumberRequest'
            examples:
              example-1:
                summary: Add a phone number
                value:
                  phone_number: '919876543210'
                  name: Mumbai Support Line
                  e164_check_enabled: false
        required: true
      responses:
        '201':
          description: Phone number added
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/SIPTrunkPhoneNumberResponse'
        '400':
          description: validation error
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Error'
    get:
      description: List all phone numbers associated with a SIP trunk
      parameters:
      - in: path
        name: trunk_id
        required: true
        schema:
          type: string
        description: The unique trunk ID
      responses:
        '200':
          description: List of phone numbers
          content:
            application/json:
              schema:
                type: array
                items:
                  $ref: '#/components/schemas/SIPTrunkPhoneNumberResponse'
        '404':
          description: trunk not found
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Error'
  /sip-trunks/trunks/{trunk_id}/numbers/{phone_number_id}:
    delete:
      description: Remove a phone number from a SIP trunk. If the number was mapped
        to an agent, the mapping is also removed.
      parameters:
      - in: path
        name: trunk_id
        required: true
        schema:
          type: string
        description: The unique trunk ID
      - in: path
        name: phone_number_id
        required: true
        schema:
          type: string
        description: The phone number ID to remove
      responses:
        '200':
          description: Phone number removed
          content:
            application/json:
              example:
                message: Phone number removed successfully
        '404':
          description: not found
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Error'
components:
  schemas:
    Error:
      required:
      - error
      - message
      type: object
      properties:
        error:
          type: integer
          format: int32
        message:
          type: string
    SIPTrunkCreateRequest:
      type: object
      required:
      - name
      - provider
      - auth_type
      - gateways
      properties:
        name:
          type: string
          description: Human-readable label. Must be unique per account.
          example: Zadarma Production
        provider:
          type: string
          description: SIP provider name (e.g. twilio, plivo, zadarma, telnyx, vonage,
            custom)
          example: zadarma
        description:
          type: string
          description: Optional description for internal reference
        auth_type:
          type: string
          enum:
          - userpass
          - ip-based
          description: Authentication method
          example: userpass
        auth_username:
          type: string
          description: SIP username. Required when auth_type is userpass.
        auth_password:
          type: string
          description: SIP password. Required when auth_type is userpass.
        gateways:
          type: array
          items:
            $ref: '#/components/schemas/SIPTrunkGateway'
          description: At least one gateway is required
        ip_identifiers:
          type: array
          items:
            $ref: '#/components/schemas/SIPTrunkIPIdentifier'
          description: Required when auth_type is ip-based
        allow:
          type: string
          default: ulaw,alaw
          description: Comma-separated codecs to allow
        disallow:
          type: string
          default: all
          description: Comma-separated codecs to disallow
        transport:
          type: string
          enum:
          - transport-udp
          - transport-tcp
          - transport-tls
          default: transport-udp
          description: SIP transport protocol.
        direct_media:
          type: boolean
          default: false
          description: RTP directly between caller and callee. Keep false.
        rtp_symmetric:
          type: boolean
          default: true
          description: Symmetric RTP. Required for NAT.
        force_rport:
          type: boolean
          default: true
          description: Force responses to source port. Required for NAT.
        media_encryption:
          type: string
          enum:
          - 'no'
          - sdes
          default: 'no'
          description: RTP encryption. Use "sdes" for SRTP. Requires transport=transport-tls.
        media_encryption_optimistic:
          type: boolean
          default: false
          description: When media_encryption=sdes, fall back to clear RTP if the carrier
            does not offer crypto in its SDP.
        qualify_frequency:
          type: integer
          default: 60
          description: SIP OPTIONS ping interval in seconds. 0 to disable.
        inbound_enabled:
          type: boolean
          default: false
          description: Set true to receive inbound calls on this trunk
        outbound_leading_plus_enabled:
          type: boolean
          default: true
          description: Prepend + to outbound dialed numbers
        phone_numbers:
          type: array
          items:
            $ref: '#/components/schemas/SIPTrunkPhoneNumberRequest'
          description: Optional phone numbers to add at creation time
    SIPTrunkGateway:
      type: object
      required:
      - gateway_address
      properties:
        gateway_address:
          type: string
          description: Hostname or IP of the SIP gateway
          example: sip.zadarma.com
        port:
          type: integer
          default: 5060
          description: SIP port
          example: 5060
        priority:
          type: integer
          default: 1
          description: Gateway priority (lower = higher priority)
          example: 1
    SIPTrunkIPIdentifier:
      type: object
      required:
      - ip_address
      properties:
        ip_address:
          type: string
          description: IP address or CIDR range for IP-based authentication
          example: 15.207.90.192/31
    SIPTrunkPhoneNumberRequest:
      type: object
      required:
      - phone_number
      properties:
        phone_number:
          type: string
          description: The DID phone number to register
          example: '919876543210'
        name:
          type: string
          description: Optional human-readable label for the number
          example: Mumbai Support Line
        e164_check_enabled:
          type: boolean
          default: false
          description: Whether to enforce E.164 format validation
    SIPTrunkPhoneNumberResponse:
      type: object
      description: Phone number (DID) registered on a SIP trunk.
      properties:
        id:
          type: string
          description: Unique phone number identifier.
        phone_number:
          type: string
          description: The DID phone number stored on the trunk.
        name:
          type: string
          description: Optional label for the phone number.
        byot_trunk_id:
          type: string
          description: The SIP trunk ID that this phone number belongs to.
        telephony_provider:
          type: string
          description: Provider type for BYOT numbers.
          example: sip-trunk
        deleted:
          type: boolean
          description: Whether the phone number is deleted.
        created_at:
          type: string
          format: date-time
          description: ISO timestamp when the phone number was created.
        updated_at:
          type: string
          format: date-time
          description: ISO timestamp when the phone number was last updated.
    SIPTrunkResponse:
      type: object
      description: SIP trunk object returned by the API.
      properties:
        id:
          type: string
          description: Unique SIP trunk identifier.
        name:
          type: string
          description: Human-readable trunk name.
        provider:
          type: string
          description: SIP provider name (e.g., twilio, plivo, zadarma, telnyx, vonage,
            custom).
        description:
          type: string
          description: Optional trunk description for internal reference.
        auth_type:
          type: string
          enum:
          - userpass
          - ip-based
          description: Authentication method used for this trunk.
        auth_username:
          type: string
          description: SIP username (present only for userpass trunks).
        gateways:
          type: array
          description: Ordered list of SIP gateways used for registration and call
            routing.
          items:
            $ref: '#/components/schemas/SIPTrunkGateway'
        ip_identifiers:
          type: array
          description: IP ranges associated with this trunk (used only for ip-based
            authentication).
          items:
            $ref: '#/components/schemas/SIPTrunkIPIdentifier'
        phone_numbers:
          type: array
          description: Phone numbers (DIDs) registered on this trunk.
          items:
            $ref: '#/components/schemas/SIPTrunkPhoneNumberResponse'
        allow:
          type: string
          description: Comma-separated codecs to allow.
        disallow:
          type: string
          description: Comma-separated codecs to disallow.
        transport:
          type: string
          enum:
          - transport-udp
          - transport-tcp
          - transport-tls
          description: SIP transport used by the trunk.
        direct_media:
          type: boolean
          description: Whether RTP is routed directly between endpoints (typically
            false).
        rtp_symmetric:
          type: boolean
          description: Enables symmetric RTP to handle NAT.
        force_rport:
          type: boolean
          description: Forces responses to the source port to handle NAT.
        media_encryption:
          type: string
          enum:
          - 'no'
          - sdes
          description: RTP encryption mode. "no" for plain RTP, "sdes" for SRTP via
            SDES (TLS trunks only).
        media_encryption_optimistic:
          type: boolean
          description: When media_encryption=sdes, whether to fall back to clear RTP
            if the carrier does not offer crypto.
        qualify_frequency:
          type: integer
          description: SIP OPTIONS ping interval in seconds.
        inbound_enabled:
          type: boolean
          description: Whether inbound calling is enabled.
        outbound_leading_plus_enabled:
          type: boolean
          description: Whether to prepend a leading + to outbound dialed numbers.
        is_active:
          type: boolean
          description: Whether the trunk is active.
        created_at:
          type: string
          format: date-time
          description: ISO timestamp when the trunk was created.
        updated_at:
          type: string
          format: date-time
          description: ISO timestamp when the trunk was last updated.
    SIPTrunkUpdateRequest:
      type: object
      description: Fields to update on an existing SIP trunk. Only provided fields
        are changed.
      properties:
        name:
          type: string
          description: Updated human-readable trunk name.
        description:
          type: string
          description: Updated trunk description for internal reference.
        auth_username:
          type: string
          description: Updated SIP username (used only when the trunk uses userpass
            authentication).
        auth_password:
          type: string
          description: Updated SIP password (used only when the trunk uses userpass
            authentication).
        gateways:
          type: array
          description: Replaces existing gateways when provided.
          items:
            $ref: '#/components/schemas/SIPTrunkGateway'
        ip_identifiers:
          type: array
          description: Replaces existing IP identifiers when provided.
          items:
            $ref: '#/components/schemas/SIPTrunkIPIdentifier'
        allow:
          type: string
          description: Comma-separated codecs to allow (e.g., "ulaw,alaw").
        disallow:
          type: string
          description: Comma-separated codecs to disallow (typically "all").
        inbound_enabled:
          type: boolean
          description: Enable or disable inbound calling on this trunk.
        outbound_leading_plus_enabled:
          type: boolean
          description: Whether to prepend a leading + to outbound dialed numbers.
        is_active:
          type: boolean
          description: Activate or deactivate the trunk. When false, calls will not
            be placed.
        qualify_frequency:
          type: integer
          description: SIP OPTIONS ping interval in seconds. Use 0 to disable.
        transport:
          type: string
          enum:
          - transport-udp
          - transport-tcp
          - transport-tls
          description: SIP transport protocol.
        media_encryption:
          type: string
          enum:
          - 'no'
          - sdes
          description: RTP encryption. "sdes" requires transport=transport-tls.
        media_encryption_optimistic:
          type: boolean
          description: When media_encryption=sdes, fall back to clear RTP if the carrier
            does not offer crypto in its SDP.
  securitySchemes:
    bearerAuth:
      type: http
      scheme: bearer
"""


@functools.cache
def _parsed() -> dict[str, Any]:
    if hashlib.sha256(OPENAPI_YAML.encode()).hexdigest() != OPENAPI_SHA256:
        raise RuntimeError("the embedded OpenAPI text does not match its digest")
    parsed = yaml.safe_load(OPENAPI_YAML)
    if not isinstance(parsed, dict):
        raise RuntimeError("the embedded OpenAPI text is not a YAML mapping")
    return parsed


def document() -> dict[str, Any]:
    """The OpenAPI document as a fresh dict (callers may change their copy)."""
    return copy.deepcopy(_parsed())


def schema(name: str) -> dict[str, Any]:
    """One schema of ``components.schemas`` (a fresh copy), e.g. ``SIPTrunkCreateRequest``.

    Raises:
        KeyError: no schema of that name.
    """
    return copy.deepcopy(_parsed()["components"]["schemas"][name])
